#!/usr/bin/env python3
"""Checks deploy/ without a cluster or a registry (issue 22): the Kubernetes Job manifest has what
the instances rely on (an Indexed Job of N pods at once, never restarted, non-root, each pod one
`salvo blast|ping --json` with its label from the completion index and one shared --start-at), the
Dockerfile builds from Debian 12 and runs as a non-root user, and the Ansible playbook runs one
instance per host at one start time and merges what comes back.

Exit 0 when all hold, 1 with one line per failure, 77 (ctest's skip) when PyYAML is missing.
Usage: check_deploy.py SOURCE_DIR
"""
import pathlib
import re
import shlex
import sys

try:
    import yaml
except ImportError:
    print("skipped: no PyYAML (Debian package python3-yaml)")
    sys.exit(77)

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
    return condition


def check_job(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if not check(len(docs) == 1, f"{path}: one document, found {len(docs)}"):
        return
    job = docs[0]
    check(job.get("apiVersion") == "batch/v1" and job.get("kind") == "Job", f"{path}: a batch/v1 Job")
    spec = job.get("spec", {})
    check(spec.get("completionMode") == "Indexed", f"{path}: spec.completionMode is Indexed")
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    check(isinstance(completions, int) and completions >= 2, f"{path}: spec.completions is a number of pods, 2 or more")
    check(completions == parallelism, f"{path}: spec.parallelism ({parallelism}) == completions ({completions}): all at once")
    check(spec.get("backoffLimit") == 0, f"{path}: spec.backoffLimit is 0 (a failed instance is not rerun at another time)")
    pod = spec.get("template", {}).get("spec", {})
    check(pod.get("restartPolicy") == "Never", f"{path}: the pod's restartPolicy is Never")
    security = pod.get("securityContext", {})
    check(security.get("runAsNonRoot") is True, f"{path}: the pod's securityContext.runAsNonRoot is true")
    check(isinstance(security.get("runAsUser"), int) and security["runAsUser"] != 0, f"{path}: runAsUser is a non-zero uid")
    containers = pod.get("containers", [])
    if not check(len(containers) == 1, f"{path}: one container"):
        return
    c = containers[0]
    argv = list(c.get("command", [])) + list(c.get("args", []))
    check(argv[:1] == ["/usr/local/bin/salvo"], f"{path}: the container runs /usr/local/bin/salvo (the image's)")
    check(len(argv) > 1 and argv[1] in ("blast", "ping"), f"{path}: the container runs salvo blast or ping")
    check("--json" in argv, f"{path}: the container reports with --json (to stdout)")
    env = {e.get("name"): e for e in c.get("env", [])}
    index = env.get("JOB_COMPLETION_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", "")
    check(index == "metadata.annotations['batch.kubernetes.io/job-completion-index']",
          f"{path}: JOB_COMPLETION_INDEX comes from the completion index annotation")
    label = argv[argv.index("--label") + 1] if "--label" in argv else None
    check(label is None or "$(JOB_COMPLETION_INDEX)" in label,
          f"{path}: --label is made of $(JOB_COMPLETION_INDEX), or left to salvo's default (the same variable)")
    start = argv[argv.index("--start-at") + 1] if "--start-at" in argv else ""
    check(start.startswith("$(") and start[2:-1] in env, f"{path}: --start-at is one value for all pods, from the env")
    check("--to" in argv, f"{path}: the container has a --to target")
    check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
          f"{path}: the container cannot escalate privileges")


def check_dockerfile(path):
    lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.strip().startswith("#")]
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    check(froms and all(re.match(r"FROM\s+debian:12(\s|$)", f) for f in froms), f"{path}: every stage is FROM debian:12")
    check(any("cmake --build" in l for l in lines), f"{path}: builds salvo from source with CMake")
    last_stage = lines[max(i for i, l in enumerate(lines) if l.upper().startswith("FROM ")):]
    users = [l.split(None, 1)[1] for l in last_stage if l.upper().startswith("USER ")]
    check(users and users[-1].split(":")[0] not in ("0", "root"), f"{path}: the final stage runs as a non-root USER")
    check(users and users[-1].split(":")[0].isdigit(), f"{path}: USER is numeric (runAsNonRoot can verify it)")
    check(any(l.startswith("ENTRYPOINT") and "salvo" in l for l in last_stage), f"{path}: the entry point is salvo")


def check_playbook(path):
    plays = yaml.safe_load(path.read_text())
    if not check(isinstance(plays, list) and len(plays) == 1, f"{path}: one play"):
        return
    tasks = plays[0].get("tasks", [])
    start = [t for t in tasks if "salvo_start_at" in str(t.get("ansible.builtin.set_fact", ""))]
    check(start and start[0].get("run_once") and start[0].get("delegate_to") == "localhost",
          f"{path}: the start time is set once, on the controller")
    runs = [t for t in tasks if "ansible.builtin.shell" in t]
    check(len(runs) == 1 and "--start-at {{ salvo_start_at }}" in runs[0]["ansible.builtin.shell"]
          and "--json" in runs[0]["ansible.builtin.shell"], f"{path}: every host runs salvo with the shared --start-at and --json")
    merge = [t for t in tasks if "'merge'" in str(t.get("ansible.builtin.command", ""))]
    check(merge and merge[0].get("run_once") and merge[0].get("delegate_to") == "localhost",
          f"{path}: the reports are merged once, on the controller")


def main():
    root = pathlib.Path(sys.argv[1])
    check_job(root / "deploy/kubernetes/salvo-blast-job.yaml")
    check_dockerfile(root / "deploy/Dockerfile")
    check_playbook(root / "deploy/ansible/salvo-load.yml")
    for f in failures:
        print(f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
