#!/bin/bash
# Programming time and memory: for N Services x M endpoints, the time from
# daemon start to the first committed sync (list + build + one netlink
# transaction), the daemon's RSS after it and its peak, the time of an
# incremental sync after one endpoint change, and, side by side in the same
# run, `nft -f` of kube-proxy's nftables layout for the same objects.
#   bash bench/sync-bench.sh [N ...]      (default: 100 1000; M=10)
# Run as root. Builds a plain optimised binary first (the test build has
# sanitizers, which would distort both time and memory).
set -u
cd "$(dirname "$0")/.."
scripts/bootstrap.sh CFLAGS=-O2 || exit 1
if nm kube-nftproxy 2>/dev/null | grep -q __asan; then
	echo "sync-bench: kube-nftproxy is a sanitizer build; refusing to measure it" >&2
	exit 1
fi
export KNP_BIN=${KNP_BIN:-$PWD/kube-nftproxy} KNP_SRCDIR=$PWD
. tests/lib.sh
knp_need_root
knp_trap_cleanup
knp_tmp
M=${M:-10}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)

ms_of() { # HH:MM:SS.mmm -> ms
	awk -F'[:.]' '{print (($1 * 60 + $2) * 60 + $3) * 1000 + $4}' <<<"$1"
}

printf '%-10s %10s %10s %10s %10s %12s %14s %8s\n' services first-sync-ms kernel-ms rss-kB peak-kB delta-ms kube-proxy-ms ratio
for n in "${sizes[@]}"; do
	NS_NODE=knp-bench$$-$n
	knp_netns_add "$NS_NODE" >/dev/null || exit 1
	"$KNP_PYTHON" tests/gen-services.py "$n" "$M" >"$KNP_TMP/svc.json"
	knp_start_apiserver --load "$KNP_TMP/svc.json" >/dev/null || exit 1
	: >"$KNP_TMP/daemon.log"
	knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 0 -v 4
	pid=$KNP_LAST_PID
	KNP_WAIT=600 knp_wait_for grep -q 'sync ip6: full' "$KNP_TMP/daemon.log"
	t0=$(ms_of "$(head -1 "$KNP_TMP/daemon.log" | cut -d' ' -f1)")
	line=$(grep -m1 'sync ip: full' "$KNP_TMP/daemon.log")
	t1=$(ms_of "$(grep -m1 'sync ip6: full' "$KNP_TMP/daemon.log" | cut -d' ' -f1)")
	kernel=$(grep -o '[0-9]* ms$' <<<"$line" | grep -o '[0-9]*')
	dpid=$(pgrep -P "$pid" -f kube-nftproxy || echo "$pid")
	[ -r "/proc/$dpid/status" ] || dpid=$pid
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$dpid/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$dpid/status")
	# one endpoint moves
	knp_apply_json "$(knp_slice scale svc-7-1 svc-7 8080 198.18.100.1 --port-name http)"
	KNP_WAIT=60 knp_wait_for grep -q 'sync ip: partial' "$KNP_TMP/daemon.log"
	delta=$(grep -m1 'sync ip: partial' "$KNP_TMP/daemon.log" | grep -o '[0-9]* ms$' | grep -o '[0-9]*')
	knp_kill "$pid" "$APISERVER_PID"
	# kube-proxy's layout, same objects, nft -f
	"$KNP_PYTHON" bench/kube-proxy-layout.py "$n" "$M" >"$KNP_TMP/kp.nft"
	s=$(date +%s%N)
	ip netns exec "$NS_NODE" nft -f "$KNP_TMP/kp.nft"
	kp=$((($(date +%s%N) - s) / 1000000))
	ratio=$(awk -v a="$kp" -v b="$((t1 - t0))" 'BEGIN { printf "%.1fx", (b > 0) ? a / b : 0 }')
	printf '%-10s %10s %10s %10s %10s %12s %14s %8s\n' "$n" "$((t1 - t0))" "$kernel" "$rss" "$hwm" "$delta" "$kp" "$ratio"
	ip netns del "$NS_NODE"
	KNP_NETNS=()
done
echo "# ratio = kube-proxy layout via nft -f / kube-nftproxy first sync (higher is better for us)"
