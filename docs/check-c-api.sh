#!/bin/sh
# docs/check-c-api.sh -- docs/reference.md's C API section and the public
# headers (csrc/concurrent.h, csrc/concurrent_lua.h) name the same things:
# every function the headers declare is documented, and every cf_/CF_
# name the section mentions is declared. Run by `make test`.
set -eu
cd "$(dirname "$0")/.."
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The headers without their comments.
for h in csrc/concurrent.h csrc/concurrent_lua.h; do
  "$cc" -fpreprocessed -dD -E -P "$h" 2>/dev/null
done > "$tmp/headers"
grep -oE '\b(cf_[a-z0-9_]+|luaopen_concurrent_core)[[:space:]]*\(' "$tmp/headers" |
  sed 's/[[:space:]]*($//' | sort -u > "$tmp/functions"
grep -oE '\b(cf|CF)_[A-Za-z0-9_]+\b' "$tmp/headers" | sort -u > "$tmp/declared"
# The C API section: from its heading to the end of the file.
sed -n '/^## C API/,$p' docs/reference.md > "$tmp/section"
grep -oE '\b(cf|CF)_[A-Za-z0-9_]+\b|\bluaopen_concurrent_core\b' "$tmp/section" | sort -u > "$tmp/documented"
status=0
for f in $(comm -23 "$tmp/functions" "$tmp/documented"); do
  echo "docs/reference.md: the C API section does not document $f"; status=1
done
for n in $(comm -23 "$tmp/documented" "$tmp/declared" | grep -v '^luaopen_concurrent_core$'); do
  echo "docs/reference.md: the C API section names $n, which the headers do not declare"; status=1
done
[ $status -eq 0 ] && echo "docs: C API section matches the headers ($(wc -l < "$tmp/functions") functions)"
exit $status
