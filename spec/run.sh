#!/bin/sh
# Run the busted suite and end with one line: "busted: N passed, N failed"
# (errors count as failed). Usage: spec/run.sh LUA BUSTED [busted args...]
# BUSTED is busted's script (run with LUA, the Lua the build is for), found
# on PATH if it is a bare name; a shell wrapper (as luarocks installs) is
# run as it is, with --lua=LUA.
lua=${1:-lua5.4}; busted=${2:-busted}
shift 2 2>/dev/null
[ -f "$busted" ] || busted=$(command -v "$busted") || {
  echo "busted: not found (make deps, or BUSTED=/path/to/busted)"; exit 1; }
out=$(mktemp)
if head -n 1 "$busted" | grep -q lua; then
  "$lua" "$busted" -o plainTerminal "$@"
else
  "$busted" --lua="$lua" -o plainTerminal "$@"
fi 2>&1 | tee "$out"
status=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '/success.*failure.*error/ {
  for (i = 2; i <= NF; i++) {
    if ($i ~ /^success/) s = $(i-1); if ($i ~ /^failure/) f = $(i-1); if ($i ~ /^error/) e = $(i-1)
  }
  line = s " " f " " e } END { print line }')
rm -f "$out"
if [ -z "$status" ]; then
  echo "busted: 0 passed, 1 failed"
  exit 1
fi
set -- $status
failed=$(($2 + $3))
echo "busted: $1 passed, $failed failed"
[ "$failed" -eq 0 ]
