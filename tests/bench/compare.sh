#!/usr/bin/env bash
# Atoll against Corosync 3 on the same Linux network namespaces, in one run.
# See docs/BENCHMARKS.md for what it measures and how to read the tables.
#
#   sudo bash tests/bench/compare.sh                 # 3 and 5 nodes, every row, ~45 minutes
#   sudo bash tests/bench/compare.sh -nodes 3 -sizes 1024 -senders all -duration 5s -repeat 1
#   sudo bash tests/bench/compare.sh -nodes 3,5,9    # the whole matrix
#
# Flags after the script's name go to tests/bench/cmd/compare (-h lists them).
# It installs corosync, libcpg-dev and gcc with apt-get when missing, builds
# atoll, the client-API load client and the libcpg load client, and removes
# its namespaces, processes and files on exit, also when interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
	echo "compare.sh: creating network namespaces needs root: sudo bash $0 $*" >&2
	exit 1
fi
if ! command -v go >/dev/null; then
	echo "compare.sh: go is not in root's PATH; run: sudo env PATH=\"\$PATH\" bash $0 $*" >&2
	exit 1
fi

need=()
command -v corosync >/dev/null || need+=(corosync)
[ -e /usr/include/corosync/cpg.h ] || need+=(libcpg-dev)
command -v gcc >/dev/null || need+=(gcc)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
	echo "compare.sh: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/atoll-compare.XXXXXX)
prefix=atb$(printf %04x $(($$ & 0xffff)))

cleanup() {
	# The Go program removes what it made; this catches what is left when
	# it was killed: the processes in our namespaces, then the namespaces.
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
		ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/compare" ./tests/bench/cmd/compare
go build -o "$work/atoll" ./cmd/atoll
go build -o "$work/clientload" ./tests/bench/clientload
"$work/compare" -prefix "$prefix" -work "$work" -atoll "$work/atoll" -clientload "$work/clientload" "$@"
