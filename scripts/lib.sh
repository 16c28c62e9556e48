# Sourced by the scripts in scripts/ (bash): the helpers each of them needs,
# written once. Set SCRIPT_NAME before sourcing to prefix messages (default:
# the script's file name).
# shellcheck shell=bash

SCRIPT_NAME=${SCRIPT_NAME:-${0##*/}}

# die MESSAGE: print "SCRIPT_NAME: MESSAGE" on standard error and exit 1.
die() {
	echo "${SCRIPT_NAME}: $*" >&2
	exit 1
}

# wait_for SECONDS WHAT CMD...: run CMD every WAIT_STEP seconds (default
# 0.1) until it succeeds, at most SECONDS/WAIT_STEP times. If it never does,
# say which WHAT never came, call the function on_wait_timeout if the script
# defines one (to show its logs) and exit 1.
wait_for() {
	local secs=$1 what=$2 step=${WAIT_STEP:-0.1} tries
	shift 2
	tries=$(awk -v s="$secs" -v t="$step" 'BEGIN { printf "%d", s / t }')
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep "$step"
	done
	echo "${SCRIPT_NAME}: no $what within ${secs}s" >&2
	if declare -F on_wait_timeout >/dev/null; then on_wait_timeout >&2 || true; fi
	exit 1
}

# log MESSAGE: print "SCRIPT_NAME: MESSAGE" on standard output.
log() { echo "${SCRIPT_NAME}: $*"; }

# AWK_MEDIAN is an awk function, median(s), of the numbers in the
# space-separated string s; prepend it to an awk program that needs it:
#   awk "$AWK_MEDIAN"'{ ... median(v) ... }'
# shellcheck disable=SC2034 # used by the scripts that source this file
AWK_MEDIAN='
function median(s,   n, v, i, j, t) {
	n = split(s, v, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
'
