#!/usr/bin/env bash
# make docker-test: the manual's Docker trio run for real. Builds the image
# (make docker-image), brings scripts/docker/compose/trio.yaml up under a
# fresh project name, runs a producer and a consumer in containers on the
# trio's internal network, kills the leader's container mid-stream, checks
# that every acknowledged record arrived once and in order, and tears
# everything down (containers, network, volumes) however it ends.
#
# Skips, with one line saying why and exit status 0, where Docker cannot run:
# not root, no docker command, no engine answering, no compose. It never
# starts or configures a Docker engine; one that runs must keep off the host
# network (daemon.json: {"iptables": false, "ip-masq": false,
# "ip-forward": false}); the trio's network is internal: true either way.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRIPT_NAME=docker-test
. scripts/lib.sh

skip() {
	echo "docker-test: skipped: $*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root"
command -v docker >/dev/null 2>&1 || skip "no docker command (Debian: apt-get install docker.io docker-compose)"
if ! err="$(timeout 10 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)"; then
	skip "no Docker engine answers: $(printf '%s' "$err" | grep -v '^$' | head -n 1)"
fi
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose) # v2 plugin
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose) # v1, as Debian packages it
else
	skip "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed"
fi

n=2000
project="lsdt$$"
file=scripts/docker/compose/trio.yaml
dc() { "${compose[@]}" -p "$project" -f "$file" "$@"; }
cleanup() {
	docker rm -f "$project-prod" "$project-cons" >/dev/null 2>&1 || true
	dc down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for (scripts/lib.sh) polls every 0.2 s: each poll reads compose logs.
WAIT_STEP=0.2
on_wait_timeout() { dc logs --no-color --tail 20 || true; }
view_size() { dc logs --no-color "$1" 2>/dev/null | grep -o 'members=\[[^]]*\]' | tail -n 1 | tr ',' '\n' | grep -c '#' || true; }
all_see3() { for s in node1 node2 node3; do [ "$(view_size "$s")" = 3 ] || return 1; done; }
records() { docker logs "$project-cons" 2>/dev/null | grep -c '"type":"record"' || true; }
at_least() { [ "$(records)" -ge "$1" ]; }

${MAKE:-make} --no-print-directory docker-image
dc up -d
net="$(docker network ls --format '{{.Name}}' | grep -E "^${project}_lan\$")"
wait_for 60 "cluster of three" all_see3

flags=(-topic docker-test -reconnect-delay 1 -reconnect-attempts 60)
docker run -d --name "$project-cons" --network "$net" logstream:local \
	consumer "${flags[@]}" -analytics=false -format json -count "$n" >/dev/null
docker run -d --name "$project-prod" --network "$net" logstream:local \
	producer "${flags[@]}" -rate 200 -count "$n" >/dev/null
wait_for 60 "records at the consumer" at_least 300

leader=""
for s in node1 node2 node3; do
	if dc logs --no-color "$s" | grep 'ClusterState' | tail -n 1 | grep -q 'role=leader'; then leader="$s"; fi
done
[ -n "$leader" ] || { echo "docker-test: no broker says it leads" >&2; exit 1; }
echo "docker-test: killing the leader's container ($leader) with $(records) records received"
docker kill "$(dc ps -q "$leader")" >/dev/null

prod_status="$(timeout 120 docker wait "$project-prod")" || { echo "docker-test: producer did not finish" >&2; exit 1; }
cons_status="$(timeout 120 docker wait "$project-cons")" || { echo "docker-test: consumer did not finish" >&2; exit 1; }
[ "$prod_status" = 0 ] || { echo "docker-test: producer exited $prod_status" >&2; docker logs "$project-prod" | tail -n 5 >&2; exit 1; }
[ "$cons_status" = 0 ] || { echo "docker-test: consumer exited $cons_status" >&2; docker logs "$project-cons" | tail -n 5 >&2; exit 1; }
# Every acknowledged record (the producer exits 0 only when all n are)
# arrives once and in order: payloads "log message #1" .. "#n".
got="$(docker logs "$project-cons" 2>/dev/null | grep -o '"payload":"log message #[0-9]*"' | grep -o '[0-9]*"$' | tr -d '"')"
if [ "$got" != "$(seq 1 "$n")" ]; then
	echo "docker-test: FAIL: the consumer's records are not 1..$n once and in order ($(printf '%s\n' "$got" | wc -l) lines)" >&2
	exit 1
fi
echo "docker-test: ok: $n records acknowledged and received once, in order, across the loss of the leader ($leader)"
