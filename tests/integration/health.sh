#!/bin/bash
# /healthz, /metrics and the health-check node port of an
# externalTrafficPolicy=Local Service, over real HTTP.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_setup_topology "hz$$"
knp_start_pods
knp_start_apiserver
# a systemd notify socket: READY=1 is expected once the rules are in
knp_bg "$NS_NODE" notify "$KNP_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)' "$KNP_TMP/notify.sock"
knp_wait_for test -S "$KNP_TMP/notify.sock"
knp_bg "$NS_NODE" daemon env NOTIFY_SOCKET="$KNP_TMP/notify.sock" "$KNP_BIN" run \
	--master "$APISERVER_URL" --min-sync-period 50ms \
	--hostname-override node-1 --healthz-bind-address 0.0.0.0:10256 \
	--metrics-bind-address 127.0.0.1:10249 -v 2
N=$KNP_NODE_CLIENT_IP
http() { # URL -> "CODE BODY" (from the client namespace, or the node for 127.0.0.1)
	local ns=$NS_CLIENT
	[[ $1 == *127.0.0.1* ]] && ns=$NS_NODE
	ip netns exec "$ns" curl -s -m 2 -o /dev/stdout -w ' %{http_code}' "$1"
}
lb() { # local endpoints on node-1: list of IPs
	knp_service default lb 198.19.0.70 80 --port-name http --type LoadBalancer --nodeport 30070 \
		--external-traffic-policy Local | "$KNP_PYTHON" -c '
import json, sys
s = json.load(sys.stdin)
s["spec"]["healthCheckNodePort"] = 32070
print(json.dumps(s))'
}
knp_apply_json "$(lb)"
knp_apply_json "$(knp_slice default lb-1 lb 8080 $KNP_POD_A --port-name http --node node-1)"

ready() { [[ "$(http http://$N:10256/healthz)" == *' 200' ]]; }
knp_check "/healthz answers 200 once synced" knp_wait_for ready
knp_check "systemd is told READY=1 after the first sync" knp_wait_for grep -q 'READY=1' "$KNP_TMP/notify.log"
got=$(http http://$N:10256/healthz)
knp_check "/healthz says when it last synced" bash -c "[[ '$got' == *lastUpdated* ]]"
hc() { [[ "$(http http://$N:32070/)" == *'"localEndpoints":1'*' 200' ]]; }
knp_check "the health-check node port answers 200 with one local endpoint" knp_wait_for hc
knp_apply_json "$(knp_slice default lb-1 lb 8080 "~$KNP_POD_A" --port-name http --node node-1)"
hc503() { [[ "$(http http://$N:32070/)" == *' 503' ]]; }
knp_check "with only a terminating local endpoint it answers 503 (drain the node)" knp_wait_for hc503
knp_apply_json "$(knp_slice default lb-1 lb 8080 $KNP_POD_A --port-name http --node node-1)"
knp_wait_for hc
knp_apply_json "$(knp_slice default lb-1 lb 8080 $KNP_POD_B --port-name http --node node-2)"
knp_check "without a local endpoint it answers 503" knp_wait_for hc503
knp_delete Service default lb
gone() { [[ "$(http http://$N:32070/)" == *' 000' ]]; }
knp_check "the health-check node port closes with its Service" knp_wait_for gone

m=$(http http://127.0.0.1:10249/metrics)
knp_check "/metrics counts syncs" bash -c "grep -Eq '^kubenftproxy_sync_total [1-9]' <<<'$m'"
knp_check "/metrics is Prometheus text" bash -c "grep -q '^# TYPE kubenftproxy_sync_total counter' <<<'$m'"
knp_apply_json '{"kind":"Service","apiVersion":"v1","metadata":{"namespace":"default","name":"bad"},"spec":{"clusterIP":"198.19.0.71","ports":[{"port":0}]}}'
bad_counted() { http http://127.0.0.1:10249/metrics | grep -Eq '^kubenftproxy_invalid_objects_total [1-9]'; }
knp_check "an invalid object is counted in /metrics" knp_wait_for bad_counted
knp_check "/metrics is not served on the node's public address" \
	bash -c "[[ \"\$(ip netns exec $NS_CLIENT curl -s -m 1 -o /dev/null -w '%{http_code}' http://$N:10249/metrics)\" == 000 ]]"
knp_check "an unknown path is 404" bash -c "[[ '$(http http://$N:10256/nope)' == *' 404' ]]"
knp_done
