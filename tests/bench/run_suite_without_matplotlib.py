#!/usr/bin/env python3
"""bench/run_suite.py on a machine without matplotlib: a warning, the tables, exit 0.

matplotlib is made unimportable with a stub package first on PYTHONPATH whose import raises
ImportError, as on a machine where python3-matplotlib is not installed. The suite runs its
cheapest part (micro, --smoke: a second or two).

Usage: run_suite_without_matplotlib.py BUILD_DIR WORK_DIR
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = os.path.join(HERE, "..", "..", "bench", "run_suite.py")


def fail(message, res=None):
    if res is not None:
        message += f"\n--- exit {res.returncode}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"
    sys.exit("run_suite_without_matplotlib: " + message)


def main():
    build, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    stub = os.path.join(work, "no-matplotlib", "matplotlib")
    os.makedirs(stub)
    with open(os.path.join(stub, "__init__.py"), "w") as f:
        f.write('raise ImportError("No module named \'matplotlib\' (a test stub)")\n')
    out = os.path.join(work, "out")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(stub))
    check = subprocess.run([sys.executable, "-c", "import matplotlib"], env=env, capture_output=True, text=True)
    if check.returncode == 0:
        fail("the stub did not make matplotlib unimportable", check)

    res = subprocess.run([sys.executable, SUITE, "--smoke", "--only", "micro", "--build", build, "--out", out],
                         env=env, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        fail("expected exit 0", res)
    if "warning: no chart, matplotlib cannot be imported" not in res.stderr or "install-deps.sh" not in res.stderr:
        fail("expected a warning naming matplotlib and how to install it", res)
    for name in ("suite.md", "suite.json"):
        if not os.path.getsize(os.path.join(out, name)):
            fail(f"{name} is empty", res)
    with open(os.path.join(out, "suite.md")) as f:
        md = f.read()
    if "**Micro-benchmarks**" not in md or "| benchmark |" not in md:
        fail("suite.md has no micro-benchmark table:\n" + md, res)
    if "| benchmark |" not in res.stdout:
        fail("the tables were not printed", res)
    if os.path.exists(os.path.join(out, "suite.png")):
        fail("a chart was drawn without matplotlib", res)
    print("run_suite.py without matplotlib: warning, tables, exit 0")


if __name__ == "__main__":
    main()
