#!/bin/bash
# The embedded demo cluster: a fake apiserver, kube-nftproxy in a "node"
# network namespace, three backend pods in a "pods" namespace and an
# external client namespace (all addresses in 198.18.0.0/15). Shows which
# pod answers 9 connections to a ClusterIP and 9 to a NodePort (strict
# round-robin), prints the ruleset with `kube-nftproxy dump`, and removes
# everything it created. Run as root: bash examples/demo.sh
set -u
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
export KNP_BIN=$PWD/kube-nftproxy KNP_SRCDIR=$PWD
. tests/lib.sh
knp_setup_topology "demo$$" || exit 1
echo "== network: client $KNP_CLIENT_IP -> node $KNP_NODE_CLIENT_IP | node $KNP_NODE_PODS_IP -> pods $KNP_POD_A $KNP_POD_B $KNP_POD_C"
knp_start_pods || exit 1
knp_start_apiserver || exit 1
echo "== fake apiserver at $APISERVER_URL (inside the node namespace)"
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" \
	--hostname-override demo-node --min-sync-period 100ms -v 2
echo "== kube-nftproxy running in the node namespace (pid $KNP_LAST_PID)"

CIP=198.19.0.10
NODEPORT=30080
knp_apply_json "$(knp_service demo web $CIP 80 --port-name http --target-port 8080 --nodeport $NODEPORT)"
knp_apply_json "$(knp_slice demo web-abc12 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http --node demo-node)"
echo "== Service demo/web: ClusterIP $CIP:80, NodePort $NODEPORT, endpoints $KNP_POD_A $KNP_POD_B $KNP_POD_C :8080"

ready() { [[ "$(knp_probe tcp $CIP 80 --timeout 0.5)" == pod-* ]]; }
KNP_WAIT=10 knp_wait_for ready || { echo "the Service did not come up"; sed 's/^/  /' "$KNP_TMP/daemon.log"; exit 1; }
# the readiness probe used one connection: realign so the table starts at pod-a
for _ in 1 2 3; do [ "$(knp_probe tcp $CIP 80 --timeout 1)" = pod-c ] && break; done

show() {
	local title=$1 host=$2 port=$3 i=0 line
	echo
	echo "== 9 connections from the client to $title ($host:$port)"
	while read -r line; do
		i=$((i + 1))
		printf '  connection %d -> %s\n' "$i" "$line"
	done < <(knp_probe tcp "$host" "$port" --count 9 --timeout 1)
}
counts() {
	knp_probe tcp "$1" "$2" --count 9 --timeout 1 | sort | uniq -c | awk '{printf "  %s answered %d times\n", $2, $1}'
}
show ClusterIP $CIP 80
echo "  per pod over 9 more connections:"
counts $CIP 80
show NodePort $KNP_NODE_CLIENT_IP $NODEPORT
echo "  per pod over 9 more connections:"
counts $KNP_NODE_CLIENT_IP $NODEPORT

echo
echo "== kube-nftproxy dump --master $APISERVER_URL"
knp_node "$KNP_BIN" dump --master "$APISERVER_URL"
echo
echo "== cleaning up (processes, namespaces, tables)"
