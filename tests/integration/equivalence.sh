#!/bin/bash
# The two backends render one description: program a model with the
# nftables backend (libnftnl) in one namespace, load `dump`'s text with
# nft -f in another, and compare what `nft list ruleset` prints. The model
# is built from the real objects in the shared fixtures plus a few Services
# of our own (no traffic is sent: fixture addresses are real ones).
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_need_root
knp_need_cmd nft
knp_trap_cleanup
knp_tmp
NS_NODE=knp-eq$$-a
NS_B=knp-eq$$-b
knp_netns_add "$NS_NODE" && knp_netns_add "$NS_B" || exit 1

loads=()
for f in linkerd-servicelist-gke-2016.json linkerd-service-loadbalancer-gke-2016.json \
	kubectl-recorded-service-kubernetes-clientip-2017.json \
	website-endpointslice-terminating-gke.json \
	cilium/dualstack-nodeport-service.json cilium/dualstack-endpointslice-ipv4.json \
	cilium/dualstack-endpointslice-ipv6.json cilium/graceful-termination-service.json \
	cilium/graceful-termination-endpointslice-1-terminating.json \
	cilium/trafficpolicy-local-loadbalancer-service.json \
	cilium/trafficpolicy-endpointslice-two-nodes.json \
	cilium/topology-aware-service.json cilium/topology-aware-endpointslices.json \
	cilium/loadbalancer-class-service.json cilium/loadbalancer-endpointslice-no-conditions.json \
	synthetic/service-loadbalancer-local-full.json synthetic/service-clientip-named-targetport.json; do
	loads+=(--load "$KNP_FIXTURES/$f")
done
{
	knp_service default web 198.19.0.10 80 --port-name http --target-port 8080 --nodeport 30080
	knp_slice default web-1 web 8080 198.18.2.11 198.18.2.12 198.18.2.13 --port-name http
	knp_service default dns 198.19.0.53 53 --port-name dns --udp
	knp_service default sctp 198.19.0.54 9999 --port-name s
	knp_service default sticky 198.19.0.55 80 --port-name http --session-affinity --nodeport 30055
	knp_slice default sticky-1 sticky 8080 198.18.2.11 198.18.2.12 --port-name http
	knp_service default local 198.19.0.56 80 --port-name http --type LoadBalancer --nodeport 30056 --external-traffic-policy Local --internal-traffic-policy Local
	knp_slice default local-1 local 8080 198.18.2.11 198.18.2.12 --port-name http --node node-1
	knp_service default fw 198.19.0.59 80 --port-name http --type LoadBalancer --nodeport 30059 |
		"$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["spec"]["loadBalancerSourceRanges"] = ["198.18.1.0/24", " 198.18.5.5/32", "2001:db8::/32", "0.0.0.0/0"]
s["status"] = {"loadBalancer": {"ingress": [{"ip": "198.18.3.59"}]}}
print(json.dumps(s))'
	knp_slice default fw-1 fw 8080 198.18.2.13 --port-name http
	# a large Service: one verdict map instead of a rule per endpoint
	knp_service default big 198.19.0.90 80 --port-name http --nodeport 30090 --session-affinity
	knp_slice default big-1 big 8080 $(seq -f '198.18.4.%g' 1 40) --port-name http
} | "$KNP_PYTHON" -c 'import sys, json; print(json.dumps({"kind": "List", "items": [json.loads(l) for l in sys.stdin]}))' \
	>"$KNP_TMP/own.json"
# SCTP cannot be expressed by knp_service: patch the protocol in
sed -i 's/"protocol": "TCP", "port": 9999/"protocol": "SCTP", "port": 9999/' "$KNP_TMP/own.json"
knp_start_apiserver "${loads[@]}" --load "$KNP_TMP/own.json"

knp_node "$KNP_BIN" dump --master "$APISERVER_URL" --hostname-override node-1 \
	--cluster-cidr 198.18.0.0/16 --nodeport-addresses 198.18.1.0/24,2001:db8:1::/64 >"$KNP_TMP/dump.nft"
knp_check "dump succeeds" test -s "$KNP_TMP/dump.nft"
knp_check "the dump holds the fixtures' LoadBalancer ingress IPs" \
	grep -q '104.155.170.94 . tcp . ' "$KNP_TMP/dump.nft"
knp_check "the dump holds a LoadBalancer firewall" grep -q '198.18.3.59 . tcp . 80 : goto fw-default/fw/tcp/http' "$KNP_TMP/dump.nft"
knp_check "a 40-endpoint Service balances through one numgen verdict map" \
	grep -q 'numgen inc mod 40 vmap { 0 : goto ep-default/big/tcp/http/198.18.4.1/8080, 1 : goto' "$KNP_TMP/dump.nft"
knp_check "the dump holds affinity sets" grep -q 'set aff-default/sticky/tcp/http/198.18.2.11/8080' "$KNP_TMP/dump.nft"
knp_check "the dump holds an SCTP ServicePort" grep -q '198.19.0.54 . sctp . 9999' "$KNP_TMP/dump.nft"

knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 0 -v 4 \
	--hostname-override node-1 --cluster-cidr 198.18.0.0/16 --nodeport-addresses 198.18.1.0/24,2001:db8:1::/64
synced() { grep -q 'full sync: .* committed' "$KNP_TMP/daemon.log"; }
knp_check "the daemon programs the model" knp_wait_for synced
knp_in "$NS_B" nft -f "$KNP_TMP/dump.nft"
knp_check "nft -f loads the dump" test $? = 0
knp_node nft list ruleset >"$KNP_TMP/a.txt"
knp_in "$NS_B" nft list ruleset >"$KNP_TMP/b.txt"
knp_check "nftables backend and dump list identically ($(wc -l <"$KNP_TMP/a.txt") lines)" \
	diff -u "$KNP_TMP/a.txt" "$KNP_TMP/b.txt"
knp_check "the listing re-parses (nft -c -f)" nft -c -f "$KNP_TMP/a.txt"
knp_check "loading the dump again over itself works (atomic replace)" \
	knp_in "$NS_B" nft -f "$KNP_TMP/dump.nft"
knp_done
