#!/bin/sh
# The Debian packages that some specs and targets use when present: tmux
# (the real-terminal test of futures.progress) and gnuplot-nox (make
# trace-demo's timeline, make bench's charts). As root, installed when
# missing; otherwise deps.sh prints the command to run and we go on
# without them: those specs are pending, the pictures skipped.
sh "$(dirname "$0")/deps.sh" tmux gnuplot-nox ||
  echo "(optional: without them the tmux spec is pending and no chart is drawn)" >&2
exit 0
