#!/bin/bash
# --nodeport-addresses: NodePorts answer only on local addresses inside the
# given CIDRs; ClusterIPs are unaffected.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "np$$"
knp_start_pods
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms \
	--nodeport-addresses 198.18.1.0/24 -v 2
knp_apply_json "$(knp_service default web 198.19.0.10 80 --port-name http --nodeport 30080 --target-port 8080)"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A --port-name http)"
up() { [ "$(knp_probe tcp $KNP_NODE_CLIENT_IP 30080 --timeout 0.5)" = pod-a ]; }
knp_check "the NodePort answers on an address inside --nodeport-addresses" knp_wait_for up
# the node's other address (198.18.2.1), reached from the pods' side
got=$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" tcp $KNP_NODE_PODS_IP 30080 --timeout 1)
knp_check "the NodePort does not answer on an address outside it (got $got)" test "${got#pod-}" = "$got"
got=$(knp_pods "$KNP_PYTHON" "$KNP_PROBE" tcp 198.19.0.10 80 --timeout 1)
knp_check "the ClusterIP still answers from there (got $got)" test "$got" = pod-a
knp_done
