#!/bin/bash
# Real TCP/UDP through the rules kube-nftproxy programs: ClusterIP from a
# client namespace and from the node, NodePort from an external client,
# strict round-robin, endpoints added and removed while running, a Service
# without endpoints refused at once, a deleted Service's rules gone, and
# SIGTERM leaving the rules in place.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "tr$$"
knp_start_pods
knp_start_apiserver

knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" \
	--hostname-override node-1 --min-sync-period 50ms -v 2
DAEMON_PID=$KNP_LAST_PID

CIP=198.19.0.10
knp_apply_json "$(knp_service default web $CIP 80 --port-name http --target-port 8080 --nodeport 30080 |
	sed 's/"type": "NodePort"/"type": "NodePort", "externalIPs": ["198.18.3.80"]/')"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_apply_json "$(knp_service default dns 198.19.0.53 53 --port-name dns --udp)"
knp_apply_json "$(knp_slice default dns-1 dns 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name dns --udp)"
knp_apply_json "$(knp_service default empty 198.19.0.30 80 --port-name http)"
knp_apply_json "$(knp_service default hair 198.19.0.31 80 --port-name http)"
knp_apply_json "$(knp_slice default hair-1 hair 8080 $KNP_POD_A --port-name http)"

answered() { [[ "$(knp_probe tcp $CIP 80 --timeout 0.3)" == pod-* ]]; }

knp_check "the ClusterIP answers once the rules are programmed" knp_wait_for answered

got=$(knp_answers tcp $CIP 80 30)
knp_check "30 connections to the ClusterIP reach each of 3 pods 10 times (got $got)" \
	test "$got" = "pod-a=10 pod-b=10 pod-c=10 "

got=$(knp_answers tcp $CIP 80 9 "$NS_NODE")
knp_check "the ClusterIP works from the node itself, round-robin (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "

got=$(knp_answers tcp $KNP_NODE_CLIENT_IP 30080 9)
knp_check "the NodePort answers an external client, round-robin (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "

got=$(knp_answers tcp 198.18.3.80 80 6)
knp_check "an externalIP routed to the node reaches the pods (got $got)" \
	test "$got" = "pod-a=2 pod-b=2 pod-c=2 "

got=$(knp_answers udp 198.19.0.53 53 9)
knp_check "a UDP ClusterIP round-robins datagrams of new flows (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "

got=$(knp_answers tcp $KNP_NODE_CLIENT_IP 30080 3 "$NS_NODE")
knp_check "the NodePort answers the node itself on its own address (got $got)" \
	test "$got" = "pod-a=1 pod-b=1 pod-c=1 "
got=$(knp_node "$KNP_PYTHON" "$KNP_PROBE" tcp 127.0.0.1 30080 --timeout 1)
knp_check "the NodePort does not answer on 127.0.0.1 (got $got)" test "${got#pod-}" = "$got"

# hairpin: a pod reaching itself through its Service is masqueraded, so its
# reply goes back through the node instead of straight to itself
got=$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" tcp 198.19.0.31 80 --source $KNP_POD_A --peer --timeout 1)
knp_check "hairpin: pod-a reaches itself through its ClusterIP, masqueraded (got $got)" \
	test "$got" = "pod-a from $KNP_NODE_PODS_IP"

got=$(knp_probe tcp 198.19.0.30 80 --timeout 2)
knp_check "a Service without endpoints is refused at once (got $got)" test "$got" = REFUSED

got=$(knp_probe tcp $CIP 81 --timeout 2)
knp_check "a ClusterIP port that no ServicePort has is refused (got $got)" test "$got" = REFUSED
got=$(knp_node "$KNP_PYTHON" "$KNP_PROBE" tcp $CIP 81 --timeout 2)
# a local socket sees the reject in the output path as EPERM at once
knp_check "... and fails at once from the node itself (got $got)" \
	bash -c "[ '$got' = REFUSED ] || [ '$got' = 'ERROR EPERM' ]"

got=$(knp_probe tcp $KNP_NODE_CLIENT_IP 30081 --timeout 2)
knp_check "a port that is no NodePort is left alone (got $got)" test "$got" != pod-a

# an endpoint removed while running is no longer used within 1 s
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B --port-name http)"
sleep 1
got=$(knp_answers tcp $CIP 80 10)
knp_check "a removed endpoint gets no connection 1 s later (got $got)" \
	test "$got" = "pod-a=5 pod-b=5 "

# and one added is used within 1 s
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
sleep 1
got=$(knp_answers tcp $CIP 80 9)
knp_check "an added endpoint gets its share 1 s later (got $got)" \
	test "$got" = "pod-a=3 pod-b=3 pod-c=3 "

# endpoints arriving for the empty Service turn the reject into a DNAT
knp_apply_json "$(knp_slice default empty-1 empty 8080 $KNP_POD_B --port-name http)"
sleep 1
got=$(knp_probe tcp 198.19.0.30 80 --timeout 2)
knp_check "a Service that gets an endpoint is no longer refused (got $got)" test "$got" = pod-b

# a deleted Service's rules are gone
knp_delete Service default web
sleep 1
listing=$(knp_node nft list table ip kube-nftproxy)
knp_check "a deleted Service's chains and map elements are gone" \
	bash -c "! grep -q 'default/web/' <<<'$listing'"
got=$(knp_probe tcp $CIP 80 --timeout 1)
knp_check "a deleted Service's ClusterIP no longer reaches a pod (got $got)" \
	test "${got#pod-}" = "$got"
knp_check "other Services keep working after a delete" \
	test "$(knp_probe udp 198.19.0.53 53 --timeout 1)" != TIMEOUT

knp_check "the daemon is still running" kill -0 "$DAEMON_PID"

# a restart never breaks the data path: connections keep working while the
# daemon is stopped and while the new one replaces the table
knp_probe udp 198.19.0.53 53 --count 40 --timeout 0.5 >"$KNP_TMP/during-restart.txt" &
probe_pid=$!
knp_kill "$DAEMON_PID"
knp_bg "$NS_NODE" daemon2 "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms -v 2
DAEMON_PID=$KNP_LAST_PID
wait $probe_pid
knp_check "40 UDP requests during a daemon restart all got answers ($(sort "$KNP_TMP/during-restart.txt" | uniq -c | tr -s ' \n' ' '))" \
	bash -c "[ \$(grep -c '^pod-' '$KNP_TMP/during-restart.txt') = 40 ]"
knp_kill "$DAEMON_PID"
knp_check "SIGTERM leaves the rules in place" \
	knp_node nft list chain ip kube-nftproxy svc-default/dns/udp/dns >/dev/null
knp_check "the daemons logged no error" bash -c "! grep -q ' E ' '$KNP_TMP/daemon.log' '$KNP_TMP/daemon2.log'"
knp_done
