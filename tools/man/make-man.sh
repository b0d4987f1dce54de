#!/bin/sh
# Generates the man page salvo(1) from the command's own help, at build time (tools/CMakeLists.txt):
# help2man reads `salvo --help` for SYNOPSIS, DESCRIPTION and OPTIONS and the first line of
# `salvo --version` for the version; every subcommand in `salvo --help` gets its own part of the
# section SUBCOMMANDS, its whole `salvo SUB --help` (ending with an example) as it prints it.
# tools/man/salvo.h2m adds what --help does not say (exit status, environment, files).
# The test ManPage.* (tests/cli/version_test.cpp) checks the page against --help.
#
# Usage: make-man.sh SALVO OUTPUT STATIC_INCLUDE
set -eu
salvo=$1
out=$2
static=$3

subcommands=$("$salvo" --help | sed -n '/^Subcommands:/,$ s/^  \([a-z][-a-z0-9]*\) .*/\1/p')
if [ -z "$subcommands" ]; then
  echo "make-man.sh: no subcommands found in '$salvo --help'" >&2
  exit 1
fi

# roff: a backslash is \e, a minus sign \- (so that flags render, and search, as ASCII '-'), and a
# line must not start with a control character ('.' or ''').
roff_escape() {
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

include=$out.subcommands.h2m
{
  printf '%s\n' "[SUBCOMMANDS]" \
    "Each subcommand's own help, as \\fBsalvo \\fISUBCOMMAND\\fB \\-\\-help\\fR prints it."
  for s in $subcommands; do
    printf '.SS "salvo %s"\n.nf\n' "$s"
    "$salvo" "$s" --help | roff_escape
    printf '.fi\n'
  done
} >"$include"

version=$("$salvo" --version | sed -n 1p)
help2man --no-info --section 1 \
  --name "UDP at packet rates: servers, load generator, latency and impairment tools" \
  --version-string "$version" \
  --include "$include" --include "$static" \
  --output "$out.tmp" "$salvo"
mv "$out.tmp" "$out"
