# shellcheck shell=bash
# tests/lib.sh - helpers for kube-nftproxy integration tests and the demo.
#
# Source it from bash:   . "${KNP_SRCDIR:-.}/tests/lib.sh"
#
# Exit codes follow automake's test driver: 0 pass, 1 fail, 77 skip.
# Every wait is bounded; every process started through this library is
# tracked by PID and killed by knp_cleanup, which also deletes the network
# namespaces (and thereby their nftables tables). knp_cleanup is idempotent.
#
# Functions (see each one for details):
#   knp_need_root                       skip (77) unless uid 0
#   knp_need_cmd CMD...                 skip (77) unless every CMD exists
#   knp_trap_cleanup                    install the EXIT/INT/TERM cleanup traps
#   knp_setup_topology TAG              namespaces + veths (sets NS_NODE ...)
#   knp_in NS CMD...                    run CMD in netns NS ("" = current ns)
#   knp_node|knp_client|knp_pods CMD... run CMD in that namespace
#   knp_bg NS LOGNAME CMD...            start CMD in background, tracked;
#                                        sets KNP_LAST_PID, log in $KNP_TMP
#   knp_kill PID...                     TERM (then KILL) tracked PIDs
#   knp_start_apiserver [ARGS...]       fake apiserver; sets APISERVER_URL,
#                                        APISERVER_PORT, APISERVER_PID
#   knp_api PATH [FILE|-]               POST to the fake apiserver (prints reply)
#   knp_api_get PATH                    GET from the fake apiserver
#   knp_apply_json JSON                 POST /control/apply (quiet)
#   knp_delete KIND NS NAME             POST /control/delete (quiet)
#   knp_start_pods [--port P] [NAME=IP...]  pod-server in NS_PODS (default
#                                        pod-a/b/c on 198.18.2.11-13:8080)
#   knp_probe tcp|udp HOST PORT [ARGS]  probe.py from NS_CLIENT
#   knp_answers PROTO HOST PORT N [NS]  N probes tallied: "pod-a=3 pod-b=3 "
#   knp_service NS NAME CLUSTERIP PORT [options]   print Service JSON
#   knp_slice NS NAME SERVICE PORT IP... [options] print EndpointSlice JSON
#   knp_wait_for CMD...                 retry every 0.1 s for $KNP_WAIT s (5)
#   knp_check DESC CMD...               "ok - DESC" / "not ok - DESC"
#   knp_done                            summary; exit 0 if all ok else 1
#
# knp_check returns the check's status; under `set -e` a failed check ends
# the script (with status 1, cleanup still runs) - append `|| true` to keep
# going. Everything else in this file is safe under `set -euo pipefail`.

KNP_TESTDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KNP_SRCDIR=${KNP_SRCDIR:-$(dirname "$KNP_TESTDIR")}
KNP_BIN=${KNP_BIN:-./kube-nftproxy}
KNP_WAIT=${KNP_WAIT:-5}
KNP_PYTHON=${KNP_PYTHON:-python3}
KNP_FAKE_APISERVER="$KNP_TESTDIR/fake-apiserver.py"
KNP_POD_SERVER="$KNP_TESTDIR/pod-server.py"
KNP_PROBE="$KNP_TESTDIR/probe.py"

KNP_PIDS=()
KNP_NETNS=()
KNP_TMP=${KNP_TMP:-}
KNP_PASS=0
KNP_FAIL=0
KNP_CLEANED=0
NS_NODE=${NS_NODE:-}
NS_PODS=${NS_PODS:-}
NS_CLIENT=${NS_CLIENT:-}

# Fixed addressing (all in 198.18.0.0/15, service ClusterIPs in 198.19/16)
KNP_CLIENT_IP=198.18.1.2
KNP_NODE_CLIENT_IP=198.18.1.1
KNP_NODE_PODS_IP=198.18.2.1
KNP_POD_A=198.18.2.11
KNP_POD_B=198.18.2.12
KNP_POD_C=198.18.2.13
KNP_SERVICE_CIDR=198.19.0.0/16
# interface names (created inside the namespaces, never in the root ns)
KNP_IF_CLIENT=eth0      # in NS_CLIENT
KNP_IF_NODE_CLIENT=vclient  # in NS_NODE, peer of client eth0
KNP_IF_PODS=eth0        # in NS_PODS
KNP_IF_NODE_PODS=vpods  # in NS_NODE, peer of pods eth0

knp_log() { echo "# $*" >&2; }

knp_need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: this test needs root (network namespaces, nftables); run it as root" >&2
		exit 77
	fi
}

knp_need_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: required command '$c' not found" >&2
			exit 77
		fi
	done
}

knp_tmp() {
	if [ -z "$KNP_TMP" ] || [ ! -d "$KNP_TMP" ]; then
		KNP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/knp-test.XXXXXX")
		KNP_TMP_OWNED=1
	fi
}

# Install traps: INT/TERM exit (with 130/143), EXIT runs knp_cleanup and
# keeps the script's exit status.
knp_trap_cleanup() {
	trap 'knp_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

knp_kill() {
	local pid i
	for pid in "$@"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || continue
	done
	for pid in "$@"; do
		[ -n "$pid" ] || continue
		for ((i = 0; i < 30; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null || true
	done
	return 0
}

knp_cleanup() {
	local rc=$? pid ns pids
	if [ "$KNP_CLEANED" = 1 ] && [ ${#KNP_PIDS[@]} -eq 0 ] && [ ${#KNP_NETNS[@]} -eq 0 ]; then
		return $rc
	fi
	KNP_CLEANED=1
	if [ ${#KNP_PIDS[@]} -gt 0 ]; then
		knp_kill "${KNP_PIDS[@]}"
	fi
	KNP_PIDS=()
	for ns in ${KNP_NETNS[@]+"${KNP_NETNS[@]}"}; do
		# anything still running inside a namespace we created
		pids=$(ip netns pids "$ns" 2>/dev/null) || pids=
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			knp_kill $pids
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
	KNP_NETNS=()
	if [ "${KNP_TMP_OWNED:-}" = 1 ] && [ -d "$KNP_TMP" ]; then
		if [ -n "${KNP_KEEP_TMP:-}" ]; then
			knp_log "keeping $KNP_TMP"
		else
			rm -rf "$KNP_TMP" || true
		fi
		KNP_TMP=
		KNP_TMP_OWNED=
	fi
	return $rc
}

knp_in() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}
knp_node() { knp_in "$NS_NODE" "$@"; }
knp_client() { knp_in "$NS_CLIENT" "$@"; }
knp_pods() { knp_in "$NS_PODS" "$@"; }

# knp_bg NS LOGNAME CMD... : background CMD in netns NS ("" = current),
# stdout+stderr to $KNP_TMP/LOGNAME.log; tracked; sets KNP_LAST_PID.
knp_bg() {
	local ns=$1 name=$2
	shift 2
	knp_tmp
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >>"$KNP_TMP/$name.log" 2>&1 </dev/null &
	else
		"$@" >>"$KNP_TMP/$name.log" 2>&1 </dev/null &
	fi
	KNP_LAST_PID=$!
	KNP_PIDS+=("$KNP_LAST_PID")
}

knp_netns_add() {
	local ns=$1
	if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
		knp_log "removing stale namespace $ns"
		local pids
		pids=$(ip netns pids "$ns" 2>/dev/null) || pids=
		# shellcheck disable=SC2086
		[ -z "$pids" ] || knp_kill $pids
		ip netns del "$ns" || return 1
	fi
	ip netns add "$ns" || return 1
	KNP_NETNS+=("$ns")
	ip -n "$ns" link set lo up
}

# knp_setup_topology TAG
#   client ns  eth0 198.18.1.2/24  <-> node ns vclient 198.18.1.1/24
#   pods ns    eth0 198.18.2.11,.12,.13/24 <-> node ns vpods 198.18.2.1/24
#   node: ip_forward=1, route 198.19.0.0/16 dev vpods
knp_setup_topology() {
	local tag=${1:?usage: knp_setup_topology TAG}
	knp_need_root
	knp_need_cmd ip "$KNP_PYTHON"
	knp_trap_cleanup
	knp_tmp
	NS_NODE=knp-$tag-node
	NS_PODS=knp-$tag-pods
	NS_CLIENT=knp-$tag-client
	if ! { knp_netns_add "$NS_NODE" && knp_netns_add "$NS_PODS" &&
		knp_netns_add "$NS_CLIENT"; }; then
		echo "knp_setup_topology: cannot create namespaces" >&2
		return 1
	fi
	(
		set -e
		ip -n "$NS_CLIENT" link add "$KNP_IF_CLIENT" type veth peer name "$KNP_IF_NODE_CLIENT" netns "$NS_NODE"
		ip -n "$NS_PODS" link add "$KNP_IF_PODS" type veth peer name "$KNP_IF_NODE_PODS" netns "$NS_NODE"

		ip -n "$NS_CLIENT" addr add "$KNP_CLIENT_IP/24" dev "$KNP_IF_CLIENT"
		ip -n "$NS_CLIENT" link set "$KNP_IF_CLIENT" up
		ip -n "$NS_CLIENT" route add default via "$KNP_NODE_CLIENT_IP"

		ip -n "$NS_PODS" addr add "$KNP_POD_A/24" dev "$KNP_IF_PODS"
		ip -n "$NS_PODS" addr add "$KNP_POD_B/24" dev "$KNP_IF_PODS"
		ip -n "$NS_PODS" addr add "$KNP_POD_C/24" dev "$KNP_IF_PODS"
		ip -n "$NS_PODS" link set "$KNP_IF_PODS" up
		ip -n "$NS_PODS" route add default via "$KNP_NODE_PODS_IP"

		ip -n "$NS_NODE" addr add "$KNP_NODE_CLIENT_IP/24" dev "$KNP_IF_NODE_CLIENT"
		ip -n "$NS_NODE" addr add "$KNP_NODE_PODS_IP/24" dev "$KNP_IF_NODE_PODS"
		ip -n "$NS_NODE" link set "$KNP_IF_NODE_CLIENT" up
		ip -n "$NS_NODE" link set "$KNP_IF_NODE_PODS" up
		ip -n "$NS_NODE" route add "$KNP_SERVICE_CIDR" dev "$KNP_IF_NODE_PODS"
		ip netns exec "$NS_NODE" sysctl -qw net.ipv4.ip_forward=1
	) || {
		echo "knp_setup_topology: cannot configure links" >&2
		return 1
	}
}

# knp_wait_for CMD... : retry CMD every 0.1 s for up to $KNP_WAIT seconds;
# returns CMD's last status.
knp_wait_for() {
	local rc deadline now
	deadline=$(($(date +%s%N) / 1000000 + ${KNP_WAIT%.*} * 1000))
	while :; do
		"$@" && return 0
		rc=$?
		now=$(($(date +%s%N) / 1000000))
		[ "$now" -ge "$deadline" ] && return $rc
		sleep 0.1
	done
}

# knp_start_apiserver [ARGS...]: fake-apiserver.py on 127.0.0.1 inside NS_NODE
# (or the current namespace when NS_NODE is empty); waits up to 10 s.
knp_start_apiserver() {
	knp_tmp
	local pf="$KNP_TMP/apiserver.port.$$.$RANDOM" i
	rm -f "$pf"
	knp_bg "$NS_NODE" apiserver "$KNP_PYTHON" "$KNP_FAKE_APISERVER" \
		--address 127.0.0.1 --port 0 --port-file "$pf" "$@"
	APISERVER_PID=$KNP_LAST_PID
	APISERVER_PORT=
	for ((i = 0; i < 100; i++)); do
		if [ -s "$pf" ]; then
			APISERVER_PORT=$(cat "$pf")
			APISERVER_URL=http://127.0.0.1:$APISERVER_PORT
			if knp_in "$NS_NODE" curl -sf -m 1 -o /dev/null "$APISERVER_URL/version"; then
				return 0
			fi
		fi
		if ! kill -0 "$APISERVER_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "knp_start_apiserver: fake apiserver did not come up; log:" >&2
	sed 's/^/#   /' "$KNP_TMP/apiserver.log" >&2
	return 1
}

# knp_api PATH [FILE|-] : POST (body from FILE or stdin; none if omitted)
knp_api() {
	local path=${1:?usage: knp_api PATH [FILE|-]} body=${2:-}
	if [ -n "$body" ]; then
		knp_in "$NS_NODE" curl -sS -m 10 --fail-with-body -X POST \
			-H 'Content-Type: application/json' \
			--data-binary "@$body" "$APISERVER_URL$path"
	else
		knp_in "$NS_NODE" curl -sS -m 10 --fail-with-body -X POST \
			"$APISERVER_URL$path"
	fi
}

knp_api_get() {
	knp_in "$NS_NODE" curl -sS -m 10 --fail-with-body "$APISERVER_URL${1:?usage: knp_api_get PATH}"
}

knp_apply_json() {
	printf '%s' "${1:?usage: knp_apply_json JSON}" | knp_api /control/apply - >/dev/null
}

knp_delete() {
	printf '{"kind":"%s","namespace":"%s","name":"%s"}' "$1" "$2" "$3" |
		knp_api /control/delete - >/dev/null
}

# knp_start_pods [--port P] [NAME=IP ...]: default pod-a/b/c on .11/.12/.13,
# port 8080 TCP+UDP; waits (bounded) until every pod answers on TCP and UDP.
knp_start_pods() {
	local port=8080 pods=() p ip name i ok
	while [ $# -gt 0 ]; do
		case $1 in
		--port) port=$2; shift 2 ;;
		*) pods+=("$1"); shift ;;
		esac
	done
	if [ ${#pods[@]} -eq 0 ]; then
		pods=("pod-a=$KNP_POD_A" "pod-b=$KNP_POD_B" "pod-c=$KNP_POD_C")
	fi
	knp_bg "$NS_PODS" pods "$KNP_PYTHON" "$KNP_POD_SERVER" --port "$port" "${pods[@]}"
	KNP_PODS_PID=$KNP_LAST_PID
	for p in "${pods[@]}"; do
		name=${p%%=*}
		ip=${p#*=}
		ok=
		for ((i = 0; i < 50; i++)); do
			if [ "$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" tcp "$ip" "$port" --timeout 0.5)" = "$name" ] &&
				[ "$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" udp "$ip" "$port" --timeout 0.5)" = "$name" ]; then
				ok=1
				break
			fi
			kill -0 "$KNP_PODS_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ -z "$ok" ]; then
			echo "knp_start_pods: $name ($ip:$port) does not answer; log:" >&2
			sed 's/^/#   /' "$KNP_TMP/pods.log" >&2
			return 1
		fi
	done
}

# knp_probe tcp|udp HOST PORT [--count N] [--timeout S] [--source IP]
# (from the client namespace)
knp_probe() {
	knp_client "$KNP_PYTHON" "$KNP_PROBE" "$@"
}

_knp_build_py='
import argparse, json, sys
kind = sys.argv[1]
ap = argparse.ArgumentParser(prog="knp_" + kind)
if kind == "service":
    ap.add_argument("namespace"); ap.add_argument("name")
    ap.add_argument("clusterip"); ap.add_argument("port", type=int)
    ap.add_argument("--nodeport", type=int)
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--target-port")
    ap.add_argument("--port-name", default="")
    ap.add_argument("--type")
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--external-traffic-policy")
    ap.add_argument("--internal-traffic-policy")
    ap.add_argument("--session-affinity", action="store_true")
    a = ap.parse_args(sys.argv[2:])
    p = {"protocol": "UDP" if a.udp else "TCP", "port": a.port}
    if a.port_name:
        p["name"] = a.port_name
    tp = a.target_port if a.target_port is not None else a.port
    p["targetPort"] = int(tp) if str(tp).isdigit() else tp
    typ = a.type or ("NodePort" if a.nodeport else "ClusterIP")
    if a.nodeport:
        p["nodePort"] = a.nodeport
    spec = {"ports": [p], "selector": {"app": a.name}, "type": typ,
            "sessionAffinity": "ClientIP" if a.session_affinity else "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": a.internal_traffic_policy or "Cluster"}
    if a.clusterip.lower() == "none":
        spec["clusterIP"] = "None"; spec["clusterIPs"] = ["None"]
    else:
        spec["clusterIP"] = a.clusterip; spec["clusterIPs"] = [a.clusterip]
    if typ in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = a.external_traffic_policy or "Cluster"
    if a.session_affinity:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    md = {"name": a.name, "namespace": a.namespace}
    if a.label:
        md["labels"] = dict(l.split("=", 1) if "=" in l else (l, "") for l in a.label)
    print(json.dumps({"kind": "Service", "apiVersion": "v1", "metadata": md, "spec": spec}))
else:
    ap.add_argument("namespace"); ap.add_argument("name")
    ap.add_argument("service"); ap.add_argument("port", type=int)
    ap.add_argument("ips", nargs="*", metavar="IP")
    ap.add_argument("--port-name", default="")
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--node", default="node-1")
    ap.add_argument("--label", action="append", default=[])
    a = ap.parse_args(sys.argv[2:])
    eps = []
    for ip in a.ips:
        if ip.startswith("!"):      # not ready
            c = {"ready": False, "serving": False, "terminating": False}; ip = ip[1:]
        elif ip.startswith("~"):    # terminating but serving
            c = {"ready": False, "serving": True, "terminating": True}; ip = ip[1:]
        else:
            c = {"ready": True, "serving": True, "terminating": False}
        eps.append({"addresses": [ip], "conditions": c, "nodeName": a.node})
    labels = {"kubernetes.io/service-name": a.service,
              "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    for l in a.label:
        k, _, v = l.partition("=")
        labels[k] = v
    print(json.dumps({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": a.name, "namespace": a.namespace, "labels": labels},
        "addressType": "IPv4", "endpoints": eps,
        "ports": [{"name": a.port_name, "protocol": "UDP" if a.udp else "TCP",
                   "port": a.port}]}))
'

# knp_service NS NAME CLUSTERIP PORT [--nodeport N] [--udp] [--target-port P]
#   [--port-name N] [--type T] [--label K=V]... [--external-traffic-policy P]
#   [--internal-traffic-policy P] [--session-affinity]   -> Service JSON
#   CLUSTERIP may be "None" (headless).
knp_service() {
	"$KNP_PYTHON" -c "$_knp_build_py" service "$@"
}

# knp_slice NS NAME SERVICE PORT IP... [--port-name N] [--udp] [--node N]
#   [--label K=V]...  -> EndpointSlice JSON (label kubernetes.io/service-name,
#   addressType IPv4, one port). IP = ready endpoint; !IP = not ready;
#   ~IP = terminating but serving.
knp_slice() {
	"$KNP_PYTHON" -c "$_knp_build_py" slice "$@"
}

# knp_answers PROTO HOST PORT COUNT [NS]: COUNT probes (from NS_CLIENT, or
# NS) tallied as "pod-a=3 pod-b=3 " (names sorted), for exact
# round-robin checks.
knp_answers() {
	knp_in "${5:-$NS_CLIENT}" "$KNP_PYTHON" "$KNP_PROBE" "$1" "$2" "$3" --count "$4" --timeout 1 |
		sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' '
}

# knp_check DESC CMD... : run CMD; print "ok - DESC" or "not ok - DESC"
knp_check() {
	local desc=$1
	shift
	if "$@"; then
		KNP_PASS=$((KNP_PASS + 1))
		echo "ok - $desc"
		return 0
	else
		KNP_FAIL=$((KNP_FAIL + 1))
		echo "not ok - $desc"
		return 1
	fi
}

# knp_done : summary; on failure shows the logs; exits 0 if all ok else 1.
knp_done() {
	local f
	# a sanitizer report in any log we kept (the daemon under ASan/UBSan)
	# is a failure even when every behaviour check passed
	if [ -n "$KNP_TMP" ] && [ -d "$KNP_TMP" ]; then
		for f in "$KNP_TMP"/*.log; do
			[ -f "$f" ] || continue
			if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
				KNP_FAIL=$((KNP_FAIL + 1))
				echo "not ok - sanitizer report in $(basename "$f")"
			fi
		done
	fi
	echo "# $KNP_PASS passed, $KNP_FAIL failed"
	if [ "$KNP_FAIL" -ne 0 ] || [ "$KNP_PASS" -eq 0 ]; then
		if [ -n "$KNP_TMP" ] && [ -d "$KNP_TMP" ]; then
			for f in "$KNP_TMP"/*.log; do
				[ -f "$f" ] || continue
				echo "# --- tail of $(basename "$f")"
				tail -n 40 "$f" | sed 's/^/#   /'
			done
		fi
		exit 1
	fi
	exit 0
}
