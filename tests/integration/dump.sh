#!/bin/bash
# `kube-nftproxy dump`: lists once, prints a ruleset that nft accepts,
# the same twice, and touches no kernel state.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_need_root
knp_need_cmd nft
knp_trap_cleanup
knp_tmp
NS_NODE=knp-dump$$
knp_netns_add "$NS_NODE" || exit 1
{
	knp_service default web 198.19.0.10 80 --port-name http --target-port 8080 --nodeport 30080
	knp_slice default web-1 web 8080 198.18.2.11 198.18.2.12 --port-name http
	knp_service default other 198.19.0.11 81 --label service.kubernetes.io/service-proxy-name=other
	knp_service default headless None 80
} | "$KNP_PYTHON" -c 'import sys, json; print(json.dumps({"kind": "List", "items": [json.loads(l) for l in sys.stdin]}))' \
	>"$KNP_TMP/objs.json"
knp_start_apiserver --load "$KNP_TMP/objs.json"

knp_node "$KNP_BIN" dump --master "$APISERVER_URL" >"$KNP_TMP/d1.nft" 2>"$KNP_TMP/dump-err.log"
rc=$?
knp_check "dump exits 0" test $rc = 0
knp_node "$KNP_BIN" dump --master "$APISERVER_URL" >"$KNP_TMP/d2.nft" 2>>"$KNP_TMP/dump-err.log"
knp_check "nft -c -f accepts the dump" nft -c -f "$KNP_TMP/d1.nft"
knp_check "two dumps of the same input are identical" cmp "$KNP_TMP/d1.nft" "$KNP_TMP/d2.nft"
knp_check "dump created no table" bash -c "[ -z \"\$(ip netns exec $NS_NODE nft list tables)\" ]"
knp_check "the dump round-robins web over its 2 endpoints" \
	grep -q 'numgen inc mod 2 0 goto ep-default/web/tcp/http/198.18.2.11/8080' "$KNP_TMP/d1.nft"
knp_check "the dump maps the NodePort" grep -q 'tcp . 30080 : goto ext-default/web/tcp/http' "$KNP_TMP/d1.nft"
knp_check "a Service of another proxy is not in the dump" bash -c "! grep -q other '$KNP_TMP/d1.nft'"
knp_check "a headless Service is not in the dump" bash -c "! grep -q headless '$KNP_TMP/d1.nft'"
knp_check "the dump loads into a namespace with nft -f" knp_node nft -f "$KNP_TMP/d1.nft"

knp_node "$KNP_BIN" dump --master "$APISERVER_URL" --proxy-mode text \
	--cluster-cidr 198.18.0.0/16,198.19.128.0/17,2001:db8:aa::/64 \
	>"$KNP_TMP/d3.nft" 2>>"$KNP_TMP/dump-err.log"
off_cluster() {
	sed -n '/^table ip kube-nftproxy/,/^}/p' "$KNP_TMP/d3.nft" |
		sed -n '/chain masquerade-off-cluster {/,/}/p' | tr -d '\t' | tr '\n' ';'
}
knp_check "--cluster-cidr: every IPv4 pod range is exempt from masquerade ($(off_cluster))" \
	test "$(off_cluster)" = "chain masquerade-off-cluster {;ip saddr 198.18.0.0/16 return;ip saddr 198.19.128.0/17 return;goto mark-for-masquerade;};"
knp_check "--cluster-cidr: Service chains send their traffic through it" \
	bash -c "sed -n '/chain svc-default\/web\/tcp\/http {/,/}/p' '$KNP_TMP/d3.nft' | grep -q 'jump masquerade-off-cluster'"
knp_check "--cluster-cidr: the IPv6 range goes to table ip6" \
	bash -c "sed -n '/^table ip6/,/^}/p' '$KNP_TMP/d3.nft' | grep -q 'ip6 saddr 2001:db8:aa::/64 return'"
knp_done
