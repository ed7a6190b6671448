#!/bin/sh
# The programs that some specs and targets use when present: tmux (the
# real-terminal test of futures.progress) and gnuplot (make trace-demo's
# timeline, make bench's charts). Found on PATH, nothing to do; else, on
# Debian, deps.sh installs their packages as root or prints the command,
# and we go on without them: those specs are pending, the pictures skipped.
pkgs=""
command -v tmux >/dev/null 2>&1 || pkgs="$pkgs tmux"
command -v gnuplot >/dev/null 2>&1 || pkgs="$pkgs gnuplot-nox"
[ -z "$pkgs" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sh "$(dirname "$0")/deps.sh" $pkgs ||
    echo "(optional: without them the tmux spec is pending and no chart is drawn)" >&2
else
  echo "optional, not installed:$pkgs (the tmux spec is pending, no chart is drawn)" >&2
fi
exit 0
