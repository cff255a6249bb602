#!/bin/bash
# A Service with many endpoints balances through one numgen verdict map
# (RR_VMAP_MIN and up) instead of a rule per endpoint: still strict
# round-robin, with real TCP to 40 pod addresses; and a change of size
# across the threshold, both ways, in incremental syncs.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "lg$$"
pods=()
ips=()
for i in $(seq 1 40); do
	ip=198.18.2.$((100 + i))
	ip -n "$NS_PODS" addr add "$ip/24" dev "$KNP_IF_PODS"
	pods+=("p$i=$ip")
	ips+=("$ip")
done
knp_start_pods "${pods[@]}"
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms -v 2
CIP=198.19.0.77
knp_apply_json "$(knp_service default big $CIP 80 --port-name http --nodeport 30077 --target-port 8080)"
knp_apply_json "$(knp_slice default big-1 big 8080 "${ips[@]}" --port-name http)"
up() { [[ "$(knp_probe tcp $CIP 80 --timeout 0.5)" == p* ]]; }
knp_check "the 40-endpoint Service answers" knp_wait_for up
chain() { knp_node nft list chain ip kube-nftproxy svc-default/big/tcp/http; }
knp_check "it balances through one verdict map rule" \
	bash -c "[ \$(ip netns exec $NS_NODE nft list chain ip kube-nftproxy svc-default/big/tcp/http | grep -c 'numgen inc mod 40 vmap') = 1 ]"
tally() { knp_probe tcp "$1" "$2" --count "$3" --timeout 1 | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' '; }
got=$(tally $CIP 80 80)
knp_check "80 connections reach each of the 40 pods exactly twice (counts seen: $got)" test "$got" = "2 "
got=$(knp_probe tcp $CIP 80 --count 80 --timeout 1 | sort -u | wc -l)
knp_check "... all 40 of them ($got)" test "$got" = 40
got=$(tally $KNP_NODE_CLIENT_IP 30077 40)
knp_check "the NodePort does the same (counts seen: $got)" test "$got" = "1 "

# shrink below the threshold, then grow again: incremental syncs
knp_apply_json "$(knp_slice default big-1 big 8080 "${ips[@]:0:3}" --port-name http)"
sleep 1
got=$(knp_probe tcp $CIP 80 --count 9 --timeout 1 | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' ')
knp_check "shrunk to 3 endpoints: rule-per-endpoint round-robin (got $got)" test "$got" = "p1=3 p2=3 p3=3 "
knp_apply_json "$(knp_slice default big-1 big 8080 "${ips[@]}" --port-name http)"
sleep 1
got=$(tally $CIP 80 40)
knp_check "grown back to 40: each pod once in 40 connections (counts seen: $got)" test "$got" = "1 "
knp_check "the daemon logged no error" bash -c "! grep -q ' E ' '$KNP_TMP/daemon.log'"
knp_done
