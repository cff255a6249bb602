#!/bin/bash
# Service policies with real traffic: sessionAffinity ClientIP (sticks, ends
# with its endpoint, expires after timeoutSeconds), externalTrafficPolicy
# Local (local endpoints only, client address kept, drop without local
# endpoints), internalTrafficPolicy Local, and masquerading of eTP=Cluster
# NodePort traffic. The node is node-1; pod-b runs "on node-2".
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "po$$"
knp_start_pods
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms \
	--hostname-override node-1 -v 2
DAEMON_PID=$KNP_LAST_PID
C=$KNP_CLIENT_IP
N=$KNP_NODE_CLIENT_IP
A=$KNP_POD_A B=$KNP_POD_B P3=$KNP_POD_C
three_nodes() { # slice with pod-a, pod-c on node-1 and pod-b on node-2
	knp_slice default "$1-1" "$1" 8080 $A $P3 --port-name http --node node-1 |
		"$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["endpoints"].insert(1, {"addresses": [sys.argv[1]], "conditions": {"ready": True}, "nodeName": "node-2"})
print(json.dumps(s))' "$B"
}

# --- sessionAffinity ClientIP, timeoutSeconds 3
svc=$(knp_service default sticky 198.19.0.55 80 --port-name http --session-affinity |
	sed 's/"timeoutSeconds": 10800/"timeoutSeconds": 3/')
knp_apply_json "$svc"
knp_apply_json "$(knp_slice default sticky-1 sticky 8080 $A $B $P3 --port-name http)"
up() { [[ "$(knp_probe tcp 198.19.0.55 80 --timeout 0.5)" == pod-* ]]; }
knp_check "the affinity Service answers" knp_wait_for up
first=$(knp_probe tcp 198.19.0.55 80)
got=$(knp_answers tcp 198.19.0.55 80 9)
knp_check "9 connections of one client stick to $first (got $got)" test "$got" = "$first=9 "
# its endpoint goes away: the client moves, and sticks to the new one

case $first in pod-a) rest="$B $P3" ;; pod-b) rest="$A $P3" ;; pod-c) rest="$A $B" ;; esac
# shellcheck disable=SC2086
knp_apply_json "$(knp_slice default sticky-1 sticky 8080 $rest --port-name http)"
sleep 1
second=$(knp_probe tcp 198.19.0.55 80)
got=$(knp_answers tcp 198.19.0.55 80 6)
knp_check "after $first is removed the client sticks to another pod ($second: $got)" \
	bash -c "[ '$second' != '$first' ] && [ '$got' = '$second=6 ' ]"
# idle longer than timeoutSeconds: balanced afresh (the round-robin moves on)
sleep 4.5
third=$(knp_probe tcp 198.19.0.55 80)
got=$(knp_answers tcp 198.19.0.55 80 4)
knp_check "after timeoutSeconds idle the client is balanced afresh ($second -> $third) and sticks again ($got)" \
	bash -c "[ '$third' != '$second' ] && [ '$got' = '$third=4 ' ]"

# --- affinity survives a full resync (SIGHUP) and a daemon restart
knp_apply_json "$(knp_service default sticky2 198.19.0.65 80 --port-name http --session-affinity)"
knp_apply_json "$(knp_slice default sticky2-1 sticky2 8080 $A $B $P3 --port-name http)"
# the first connection comes from another client (pod-a itself), so ours
# lands on the second endpoint: a reset round-robin would send it elsewhere
up2() { [[ "$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" tcp 198.19.0.65 80 --source $A --timeout 0.5)" == pod-* ]]; }
knp_wait_for up2
stuck=$(knp_probe tcp 198.19.0.65 80)
knp_check "our client landed on the second endpoint ($stuck)" test "$stuck" = pod-b
kill -HUP "$DAEMON_PID"
sleep 1
got=$(knp_answers tcp 198.19.0.65 80 3)
knp_check "a full resync (SIGHUP) keeps the client on $stuck (got $got)" test "$got" = "$stuck=3 "
knp_kill "$DAEMON_PID"
knp_bg "$NS_NODE" daemon2 "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms \
	--hostname-override node-1 -v 2
DAEMON_PID=$KNP_LAST_PID
synced2() { grep -q 'sync ip: full' "$KNP_TMP/daemon2.log"; }
knp_wait_for synced2
got=$(knp_answers tcp 198.19.0.65 80 3)
knp_check "a restarted daemon keeps the client on $stuck (got $got)" test "$got" = "$stuck=3 "

# --- externalTrafficPolicy Local on a NodePort and a LoadBalancer IP
knp_apply_json "$(knp_service default loc 198.19.0.56 80 --port-name http --type LoadBalancer \
	--nodeport 30056 --external-traffic-policy Local | "$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["status"] = {"loadBalancer": {"ingress": [{"ip": "198.18.3.100"}]}}
print(json.dumps(s))')"
knp_apply_json "$(three_nodes loc)"
nodeport_up() { [[ "$(knp_probe tcp $N 30056 --timeout 0.5)" == pod-* ]]; }
knp_check "the eTP=Local NodePort answers" knp_wait_for nodeport_up
got=$(knp_answers tcp $N 30056 8)
knp_check "eTP=Local: a NodePort reaches only the endpoints on this node (got $got)" \
	test "$got" = "pod-a=4 pod-c=4 "
got=$(knp_probe tcp $N 30056 --peer)
knp_check "eTP=Local: the pod sees the client's address (got $got)" \
	bash -c "[[ '$got' == *'from $C' ]]"
got=$(knp_answers tcp 198.18.3.100 80 4)
knp_check "eTP=Local: the LoadBalancer IP reaches only local endpoints (got $got)" \
	test "$got" = "pod-a=2 pod-c=2 "
got=$(knp_answers tcp 198.19.0.56 80 9)
knp_check "eTP=Local leaves the ClusterIP to every endpoint (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "
# no local endpoint: external traffic is dropped (not rejected)
knp_apply_json "$(knp_slice default loc-1 loc 8080 $B --port-name http --node node-2)"
sleep 1
got=$(knp_probe tcp $N 30056 --timeout 1)
knp_check "eTP=Local without a local endpoint drops NodePort traffic (got $got)" test "$got" = TIMEOUT
got=$(knp_probe tcp 198.19.0.56 80 --timeout 1)
knp_check "... while the ClusterIP still reaches the remote endpoint (got $got)" test "$got" = pod-b

# --- a rollout on this node: its pod is terminating but still serving
# (KEP-1669): external traffic drains to it rather than being dropped
knp_apply_json "$(knp_slice default loc-1 loc 8080 "~$A" --port-name http --node node-1 |
	"$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["endpoints"].append({"addresses": [sys.argv[1]], "conditions": {"ready": True}, "nodeName": "node-2"})
print(json.dumps(s))' "$B")"
sleep 1
got=$(knp_answers tcp $N 30056 4)
knp_check "eTP=Local: with only a terminating local pod, the NodePort drains to it (got $got)" \
	test "$got" = "pod-a=4 "
got=$(knp_answers tcp 198.19.0.56 80 4)
knp_check "... while the ClusterIP goes to the ready pod elsewhere (got $got)" test "$got" = "pod-b=4 "

# --- eTP=Cluster NodePort traffic is masqueraded (replies must come back)
knp_apply_json "$(knp_service default clu 198.19.0.57 80 --port-name http --nodeport 30057)"
knp_apply_json "$(knp_slice default clu-1 clu 8080 $A --port-name http)"
sleep 1
got=$(knp_probe tcp $N 30057 --peer)
knp_check "eTP=Cluster: a NodePort connection is masqueraded to the node (got $got)" \
	test "$got" = "pod-a from $KNP_NODE_PODS_IP"
got=$(knp_probe tcp 198.19.0.57 80 --peer)
knp_check "ClusterIP traffic from a client keeps its address without --cluster-cidr (got $got)" \
	test "$got" = "pod-a from $C"

# --- internalTrafficPolicy Local
knp_apply_json "$(knp_service default itp 198.19.0.58 80 --port-name http --internal-traffic-policy Local)"
knp_apply_json "$(three_nodes itp)"
sleep 1
got=$(knp_answers tcp 198.19.0.58 80 6)
knp_check "iTP=Local: the ClusterIP reaches only endpoints on this node (got $got)" \
	test "$got" = "pod-a=3 pod-c=3 "
knp_apply_json "$(knp_slice default itp-1 itp 8080 $B --port-name http --node node-2)"
sleep 1
got=$(knp_probe tcp 198.19.0.58 80 --timeout 1)
knp_check "iTP=Local without a local endpoint drops (got $got)" test "$got" = TIMEOUT
# --- eTP=Local and iTP=Local: the node itself reaching its NodePort is
# cluster traffic (kube-proxy's short-circuit): every endpoint, even remote
knp_apply_json "$(knp_service default both 198.19.0.66 80 --port-name http --nodeport 30066 \
	--external-traffic-policy Local --internal-traffic-policy Local)"
knp_apply_json "$(knp_slice default both-1 both 8080 $B $P3 --port-name http --node node-2)"
sleep 1
got=$(knp_answers tcp $N 30066 4 "$NS_NODE")
knp_check "eTP+iTP=Local: the node's own NodePort traffic reaches remote endpoints (got $got)" \
	test "$got" = "pod-b=2 pod-c=2 "
got=$(knp_probe tcp $N 30066 --timeout 1)
knp_check "... while an external client is dropped (no local endpoint) (got $got)" test "$got" = TIMEOUT

# --- loadBalancerSourceRanges: only listed sources reach the LB IP
fw_svc() { # RANGES (JSON list)
	knp_service default fw 198.19.0.59 80 --port-name http --type LoadBalancer --nodeport 30059 |
		"$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["spec"]["loadBalancerSourceRanges"] = json.loads(sys.argv[1])
s["status"] = {"loadBalancer": {"ingress": [{"ip": "198.18.3.59"}]}}
print(json.dumps(s))' "$1"
}
knp_apply_json "$(fw_svc '["198.18.9.0/24"]')"
knp_apply_json "$(knp_slice default fw-1 fw 8080 $A --port-name http)"
sleep 1
got=$(knp_probe tcp 198.18.3.59 80 --timeout 1)
knp_check "loadBalancerSourceRanges: a source outside the ranges is dropped at the LB IP (got $got)" \
	test "$got" = TIMEOUT
got=$(knp_probe tcp 198.19.0.59 80 --timeout 1)
knp_check "loadBalancerSourceRanges leave the ClusterIP alone (got $got)" test "$got" = pod-a
knp_apply_json "$(fw_svc '["198.18.9.0/24", "198.18.1.0/24"]')"
sleep 1
got=$(knp_probe tcp 198.18.3.59 80 --timeout 1)
knp_check "loadBalancerSourceRanges: a source inside the ranges reaches the LB IP (got $got)" \
	test "$got" = pod-a
knp_done
