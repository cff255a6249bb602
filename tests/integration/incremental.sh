#!/bin/bash
# The first sync is one batch; after it, changing one endpoint sends a batch
# whose size does not depend on the number of Services (netlink message
# counts as logged at -v 4), for 100 and 1,000 Services x 3 endpoints.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_need_root
knp_need_cmd nft
knp_trap_cleanup
knp_tmp

moved() {
	local chain
	chain=$(knp_node nft list chain ip kube-nftproxy svc-scale/svc-7/tcp/http) &&
		grep -q 198.18.100.3 <<<"$chain" && ! grep -q '198.18.32.23/' <<<"$chain"
}

# run N: sets FULL_BATCHES, FULL_MSGS, DELTA_MSGS, DELTA_BYTES
run() {
	local n=$1 log
	NS_NODE=knp-inc$$-$n
	knp_netns_add "$NS_NODE" || return 1
	"$KNP_PYTHON" "$KNP_TESTDIR/gen-services.py" "$n" 3 >"$KNP_TMP/svc-$n.json"
	knp_start_apiserver --load "$KNP_TMP/svc-$n.json" || return 1
	knp_bg "$NS_NODE" "daemon-$n" "$KNP_BIN" run --master "$APISERVER_URL" \
		--min-sync-period 0 -v 4
	log=$KNP_TMP/daemon-$n.log
	KNP_WAIT=30 knp_wait_for grep -q 'nftables ip: full sync: .* committed' "$log"
	# move one endpoint of svc-7 (endpoints 21-23: 198.18.32.21-23, see gen-services.py)
	knp_apply_json "$(knp_slice scale svc-7-1 svc-7 8080 198.18.32.21 198.18.32.22 198.18.100.3 --port-name http)"
	KNP_WAIT=10 knp_wait_for grep -q 'nftables ip: partial sync: .* committed' "$log"
	FULL_BATCHES=$(grep -c 'nftables ip: full sync: .* committed' "$log")
	FULL_MSGS=$(grep -m1 -o 'ip: full sync: [0-9]* messages' "$log" | grep -o '[0-9]*')
	DELTA_MSGS=$(grep -m1 -o 'ip: partial sync: [0-9]* messages' "$log" | grep -o '[0-9]*')
	DELTA_BYTES=$(grep -m1 -o 'ip: partial sync: [0-9]* messages, [0-9]* bytes' "$log" | grep -o '[0-9]* bytes' | grep -o '[0-9]*')
	knp_check "$n Services: the moved endpoint is programmed, the old one gone" moved
	knp_kill "$KNP_LAST_PID" "$APISERVER_PID"
}

run 100
f100=$FULL_BATCHES m100=$FULL_MSGS d100=$DELTA_MSGS b100=$DELTA_BYTES
run 1000
f1000=$FULL_BATCHES m1000=$FULL_MSGS d1000=$DELTA_MSGS b1000=$DELTA_BYTES
echo "# first sync: 100 Services $m100 messages in $f100 batch; 1000 Services $m1000 messages in $f1000 batch"
echo "# one endpoint changed: 100 Services $d100 messages/$b100 bytes; 1000 Services $d1000 messages/$b1000 bytes"
knp_check "the first sync of 100 Services is one batch" test "$f100" = 1
knp_check "the first sync of 1000 Services is one batch" test "$f1000" = 1
knp_check "the first sync grows with the Services ($m100 < $m1000)" test "${m100:-0}" -lt "${m1000:-0}"
knp_check "one endpoint change sends the same batch for 100 and 1000 Services ($d100 = $d1000 messages)" \
	test -n "$d100" -a "$d100" = "$d1000"
# new endpoint chain + its 2 rules, flush + 3 rules of the Service chain,
# delete the old endpoint chain, batch begin/end
knp_check "one endpoint change sends 10 messages ($d100)" test "${d100:-0}" = 10
knp_done
