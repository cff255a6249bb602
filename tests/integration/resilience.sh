#!/bin/bash
# Bad input and a misbehaving apiserver never break the data path: garbage
# on the watch stream, invalid objects, a huge object, watches closed by the
# server, deletes missed while the history expired (410 -> relist), and the
# apiserver going away. After each, traffic still flows through the rules
# already programmed and the daemon keeps running.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "rs$$"
knp_start_pods
knp_start_apiserver
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --master "$APISERVER_URL" --min-sync-period 50ms \
	--sync-period 2s -v 2
DAEMON_PID=$KNP_LAST_PID
LOG=$KNP_TMP/daemon.log

CIP=198.19.0.10
knp_apply_json "$(knp_service default web $CIP 80 --port-name http --target-port 8080)"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_apply_json "$(knp_service default keep 198.19.0.20 80 --port-name http)"
knp_apply_json "$(knp_slice default keep-1 keep 8080 $KNP_POD_A --port-name http)"

rr() { # 3 connections to web hit 3 different pods
	[ "$(knp_probe tcp $CIP 80 --count 3 --timeout 1 | sort -u | grep -c '^pod-')" = 3 ]
}
keep_up() { [ "$(knp_probe tcp 198.19.0.20 80 --timeout 1)" = pod-a ]; }
keep_gone() { [ "$(knp_probe tcp 198.19.0.20 80 --timeout 0.3)" != pod-a ]; }
stat() { knp_api_get /control/stats | "$KNP_PYTHON" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
web_has() { knp_node nft list chain ip kube-nftproxy svc-default/web/tcp/http 2>/dev/null | grep -q "$1"; }

knp_check "the Services work" knp_wait_for rr
knp_check "keep works" keep_up

# garbage on the watch streams
knp_api /control/garbage >/dev/null
sleep 0.5
knp_check "garbage on a watch is logged" grep -q 'not a watch event' "$LOG"
knp_check "after garbage the rules still work" rr
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B --port-name http)"
knp_check "after garbage the watch resumes: a change arrives" \
	knp_wait_for bash -c "! ip netns exec $NS_NODE nft list chain ip kube-nftproxy svc-default/web/tcp/http | grep -q $KNP_POD_C"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_wait_for web_has "$KNP_POD_C"

# invalid objects are skipped; the last valid state stays programmed
lists_before=$(stat lists)
knp_apply_json '{"kind":"Service","apiVersion":"v1","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"198.19.0.10","ports":[{"name":"http","port":70000}]}}'
knp_apply_json '{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"namespace":"default","name":"web-1","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","ports":[{"name":"http","port":8080}],"endpoints":[{"addresses":["300.1.1.1"]}]}'
sleep 0.5
knp_check "an out-of-range port is logged with namespace/name and field" \
	grep -q 'default/web.*port.*70000' "$LOG"
knp_check "an invalid endpoint address is logged" grep -q '300.1.1.1' "$LOG"
knp_check "after invalid objects the last valid rules still work" rr

# a huge object: 5000 endpoints in one slice
ips=$("$KNP_PYTHON" -c 'print(" ".join("198.18.%d.%d" % (64 + i // 250, i % 250 + 1) for i in range(5000)))')
# shellcheck disable=SC2086
knp_slice default big-1 big 8080 $ips --port-name http >"$KNP_TMP/big.json"
knp_api /control/apply "$KNP_TMP/big.json" >/dev/null
knp_apply_json "$(knp_service default big 198.19.0.30 80 --port-name http)"
big_programmed() { knp_node nft list chain ip kube-nftproxy svc-default/big/tcp/http 2>/dev/null | grep -q 'numgen inc mod 5000 vmap'; }
knp_check "a 5000-endpoint Service is programmed" knp_wait_for big_programmed
knp_check "with it, the other Services still work" rr

# the server ends every watch: resume from the last resourceVersion, no relist
knp_api /control/close-watches >/dev/null
sleep 0.5
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A --port-name http)"
knp_check "after the server closed the watches, a change still arrives" \
	knp_wait_for bash -c "! ip netns exec $NS_NODE nft list chain ip kube-nftproxy svc-default/web/tcp/http | grep -q $KNP_POD_B"
knp_check "closing the watches did not cause a relist ($lists_before LISTs before, $(stat lists) after)" \
	test "$(stat lists)" = "$lists_before"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_wait_for web_has "$KNP_POD_C"

# the server keeps refusing the watch (504 Too large resource version):
# after a few tries the daemon relists instead of retrying forever
lists_before=$(stat lists)
printf '{"count": 6}' | knp_api /control/refuse-watches - >/dev/null
knp_api /control/close-watches >/dev/null
relisted() { [ "$(stat lists)" -gt "$lists_before" ]; }
wait_long() { KNP_WAIT=30 knp_wait_for "$@"; }
knp_check "a watch refused again and again leads to a relist" wait_long relisted
knp_check "... and it was logged" grep -q 'refused 3 times' "$LOG"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B --port-name http)"
web_lacks() { ! web_has "$1"; }
knp_check "... and changes flow again once the server serves watches" wait_long web_lacks "$KNP_POD_C"
knp_apply_json "$(knp_slice default web-1 web 8080 $KNP_POD_A $KNP_POD_B $KNP_POD_C --port-name http)"
knp_wait_for web_has "$KNP_POD_C"
lists_before=$(stat lists)

# a delete the watch missed (history compacted): 410 -> relist -> gone
printf '{"kind":"Service","namespace":"default","name":"keep","silent":true}' | knp_api /control/delete - >/dev/null
knp_api /control/close-watches >/dev/null
knp_check "a Service deleted while the history expired is removed after the relist" knp_wait_for keep_gone
knp_check "the relist was a real LIST" test "$(stat lists)" -gt "$lists_before"
knp_check "the 410 was logged" grep -q 'expired (410)\|HTTP 410' "$LOG"
knp_check "after the relist, web still works" rr

# someone else flushes our table: SIGHUP makes the daemon replace it whole
knp_node nft flush table ip kube-nftproxy
broken() { [ "$(knp_probe tcp $CIP 80 --timeout 0.5)" = TIMEOUT ]; }
knp_check "with our table flushed by hand, web is broken" broken
kill -HUP "$DAEMON_PID"
knp_check "SIGHUP repairs the table: web works again" knp_wait_for rr

# someone deletes our table (a firewall reload, `nft flush ruleset`): the
# next periodic resync notices and programs it again, with no change needed
knp_node nft delete table ip kube-nftproxy
knp_check "a table deleted from outside is programmed again by the periodic resync" \
	bash -c "KNP_WAIT=6; $(declare -f knp_wait_for); knp_wait_for ip netns exec $NS_NODE nft list chain ip kube-nftproxy svc-default/web/tcp/http >/dev/null 2>&1"
knp_check "... and web works again" knp_wait_for rr
knp_check "... and the daemon said why" grep -q 'programming it again\|changed from outside' "$LOG"

# the apiserver goes away: rules stay, the daemon backs off
knp_kill "$APISERVER_PID"
sleep 1.5
knp_check "with the apiserver gone, the rules still work" rr
knp_check "with the apiserver gone, the daemon keeps running" kill -0 "$DAEMON_PID"
knp_check "with the apiserver gone, the daemon says it retries" grep -q 'retrying in' "$LOG"
knp_check "no sanitizer report" bash -c "! grep -q 'Sanitizer\|runtime error' '$LOG'"
knp_done
