#!/bin/bash
# Dual-stack: IPv6 Services in table ip6 kube-nftproxy, with real traffic
# (2001:db8::/32 inside the test's namespaces): ClusterIP round-robin,
# NodePort, reject without endpoints, and an IPv4 Service beside it.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "v6$$"
C6=2001:db8:1::2 N6=2001:db8:1::1 P6=2001:db8:2::1
A6=2001:db8:2::11 B6=2001:db8:2::12 D6=2001:db8:2::13
ip -n "$NS_CLIENT" addr add $C6/64 dev "$KNP_IF_CLIENT" nodad
ip -n "$NS_CLIENT" -6 route add default via $N6
ip -n "$NS_NODE" addr add $N6/64 dev "$KNP_IF_NODE_CLIENT" nodad
ip -n "$NS_NODE" addr add $P6/64 dev "$KNP_IF_NODE_PODS" nodad
for a in $A6 $B6 $D6; do ip -n "$NS_PODS" addr add $a/64 dev "$KNP_IF_PODS" nodad; done
ip -n "$NS_PODS" -6 route add default via $P6
ip -n "$NS_NODE" -6 route add 2001:db8:ff::/112 dev "$KNP_IF_NODE_PODS"
ip netns exec "$NS_NODE" sysctl -qw net.ipv6.conf.all.forwarding=1
knp_start_pods pod-a=$KNP_POD_A pod-b=$KNP_POD_B pod-c=$KNP_POD_C pod-a6=$A6 pod-b6=$B6 pod-c6=$D6
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms -v 2

CIP6=2001:db8:ff::10
svc=$(knp_service default web6 198.19.0.60 80 --port-name http --target-port 8080 --nodeport 30060 |
	"$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["spec"]["clusterIPs"] = ["'$CIP6'", "198.19.0.60"]
s["spec"]["clusterIP"] = "'$CIP6'"
s["spec"]["ipFamilies"] = ["IPv6", "IPv4"]
s["spec"]["ipFamilyPolicy"] = "PreferDualStack"
print(json.dumps(s))')
knp_apply_json "$svc"
knp_apply_json "$(knp_slice default web6-v4 web6 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_apply_json "$(knp_slice default web6-v6 web6 8080 $A6 $B6 $D6 --port-name http |
	sed 's/"addressType": "IPv4"/"addressType": "IPv6"/')"
knp_apply_json "$(knp_service default none6 198.19.0.61 80 --port-name http |
	sed "s/\"198.19.0.61\"/\"2001:db8:ff::11\"/g")"

up() { [[ "$(knp_probe tcp $CIP6 80 --timeout 0.5)" == pod-*6 ]]; }
knp_check "the IPv6 ClusterIP answers" knp_wait_for up
got=$(knp_answers tcp $CIP6 80 9)
knp_check "9 connections to the IPv6 ClusterIP round-robin over the IPv6 pods (got $got)" \
	test "$got" = "pod-a6=3 pod-b6=3 pod-c6=3 "
got=$(knp_answers tcp 198.19.0.60 80 9)
knp_check "the same Service's IPv4 ClusterIP reaches the IPv4 pods (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "
got=$(knp_answers tcp $N6 30060 6)
knp_check "the NodePort answers on the node's IPv6 address (got $got)" \
	test "$got" = "pod-a6=2 pod-b6=2 pod-c6=2 "
got=$(knp_probe tcp $CIP6 80 --peer)
knp_check "IPv6 ClusterIP traffic from a client keeps its address (got $got)" \
	bash -c "[[ '$got' == *'from $C6' ]]"
got=$(knp_probe tcp 2001:db8:ff::11 80 --timeout 2)
knp_check "an IPv6 Service without endpoints is refused (got $got)" test "$got" = REFUSED
v6_chain() { knp_node nft list chain ip6 kube-nftproxy svc-default/web6/tcp/http >/dev/null; }
knp_check "IPv6 rules live in table ip6 kube-nftproxy" v6_chain
knp_done
