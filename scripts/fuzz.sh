#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for the given time each.
# Usage: scripts/fuzz.sh 30s   (a duration per target, or a count of inputs such as 3000x)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-10s}"
status=0
while IFS=: read -r file _ line; do
	pkg="./$(dirname "$file")"
	name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")"
	echo "fuzz $pkg $name ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1; then
		cat /tmp/fuzz-$$.log
		status=1
	fi
done < <(git grep -n -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' 2>/dev/null || grep -rn -E '^func Fuzz[A-Za-z0-9_]*\(' --include='*_test.go' pkg)
rm -f /tmp/fuzz-$$.log
exit $status
