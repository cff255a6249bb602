#!/bin/bash
# UDP flows live in conntrack and keep their first NAT decision. A client
# that keeps one source port (a resolver) must not be blackholed when its
# endpoint goes away, and must reach a Service that gets its first endpoint
# after a flow to it already existed.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "ct$$"
knp_start_pods
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms -v 2

DNS=198.19.0.53
knp_apply_json "$(knp_service default dns $DNS 53 --port-name dns --udp)"
knp_apply_json "$(knp_slice default dns-1 dns 8080 $KNP_POD_A $KNP_POD_B --port-name dns --udp)"
flow() { knp_probe udp "$DNS" 53 --sport 40053 --timeout 1; }
up() { [[ "$(flow)" == pod-* ]]; }
knp_check "the UDP Service answers" knp_wait_for up
first=$(flow)
again=$(flow)
knp_check "one UDP flow sticks to one endpoint ($first, $again)" test "$first" = "$again"

# remove the endpoint this flow is NATed to
case $first in
pod-a) keep=$KNP_POD_B other=pod-b ;;
*) keep=$KNP_POD_A other=pod-a ;;
esac
knp_apply_json "$(knp_slice default dns-1 dns 8080 "$keep" --port-name dns --udp)"
sleep 1
got=$(flow)
knp_check "after its endpoint is removed, the same UDP flow reaches $other (got $got)" \
	test "$got" = "$other"

# a flow that existed while the Service had no endpoint
knp_apply_json "$(knp_service default late 198.19.0.54 53 --port-name dns --udp)"
sleep 0.5
late() { knp_probe udp 198.19.0.54 53 --sport 40054 --timeout 0.5; }
got=$(late)
knp_check "a UDP Service without endpoints is refused (got $got)" test "$got" = REFUSED
# a conntrack entry for this flow, as another path (or an earlier ruleset)
# would leave it: without NAT, to the ClusterIP
knp_node conntrack -I -p udp -s "$KNP_CLIENT_IP" -d 198.19.0.54 --sport 40054 --dport 53 \
	--timeout 120 -r 198.19.0.54 -q "$KNP_CLIENT_IP" --reply-port-src 53 --reply-port-dst 40054 \
	>/dev/null 2>&1
knp_check "an un-NATed UDP flow to the ClusterIP is in conntrack" \
	bash -c "ip netns exec $NS_NODE conntrack -L -p udp --orig-dst 198.19.0.54 2>/dev/null | grep -q 40054"
knp_apply_json "$(knp_slice default late-1 late 8080 $KNP_POD_C --port-name dns --udp)"
sleep 1
got=$(late)
knp_check "once the Service gets an endpoint, the same flow reaches it (got $got)" test "$got" = pod-c
knp_check "the daemon logged the cleanup" grep -q 'conntrack: .* flows deleted' "$KNP_TMP/daemon.log"
knp_done
