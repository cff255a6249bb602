#!/bin/bash
# Command line: --help lists every flag, an unknown flag or a bad value
# exits 2 with one line naming it, version prints the version.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_tmp
knp_trap_cleanup

help=$("$KNP_BIN" --help)
for flag in --kubeconfig --master --hostname-override --cluster-cidr --nodeport-addresses \
	--proxy-mode --sync-period --min-sync-period -v; do
	knp_check "--help lists $flag" grep -q -- "$flag" <<<"$help"
done

# expect_usage_error DESCRIPTION WORD ARGS...: exit 2, one stderr line naming WORD
expect_usage_error() {
	local desc=$1 word=$2 rc
	shift 2
	"$KNP_BIN" "$@" >"$KNP_TMP/out" 2>"$KNP_TMP/err"
	rc=$?
	knp_check "$desc: exit 2 (got $rc)" test "$rc" = 2
	knp_check "$desc: one line naming $word" \
		bash -c "[ \$(wc -l <'$KNP_TMP/err') = 1 ] && grep -q -- '$word' '$KNP_TMP/err'"
}
expect_usage_error "unknown flag" --no-such-flag --no-such-flag
expect_usage_error "unknown command" frobnicate frobnicate
expect_usage_error "bad duration" --sync-period --sync-period soon
expect_usage_error "bad CIDR" --cluster-cidr --cluster-cidr 198.18.0.0/99
expect_usage_error "bad nodeport address" --nodeport-addresses dump --nodeport-addresses nonsense
expect_usage_error "bad verbosity" -v -v x
expect_usage_error "missing value" --master --master
expect_usage_error "bad masquerade bit" --masquerade-bit --masquerade-bit 32
knp_check "version prints the version" bash -c "'$KNP_BIN' version | grep -Eq '^kube-nftproxy [0-9]+\\.[0-9]+'"
"$KNP_BIN" dump --master ftp://example.invalid >/dev/null 2>"$KNP_TMP/err"
knp_check "a non-HTTP apiserver URL is refused (exit 2)" test $? = 2
# dump against a server whose certificate does not verify: fails at once
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$KNP_TMP/k.pem" -out "$KNP_TMP/c.pem" \
		-days 1 -subj /CN=localhost >/dev/null 2>&1
	port=$((20000 + RANDOM % 20000))
	knp_bg "" tls openssl s_server -accept "$port" -cert "$KNP_TMP/c.pem" -key "$KNP_TMP/k.pem" -www
	tls_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
	knp_wait_for tls_up
	start=$(date +%s)
	"$KNP_BIN" dump --master "https://127.0.0.1:$port" >/dev/null 2>"$KNP_TMP/tls.err"
	rc=$?
	took=$(($(date +%s) - start))
	knp_check "dump against an unverifiable certificate exits 1 (got $rc)" test "$rc" = 1
	knp_check "... within 5 s, not after the 30 s list timeout (took ${took}s)" test "$took" -le 5
	knp_check "... naming the TLS failure" grep -q 'dump: TLS' "$KNP_TMP/tls.err"
fi

# without CAP_NET_ADMIN the daemon says why and exits instead of retrying forever
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	knp_start_apiserver
	# --hostname-override is trimmed and lowercased, as node names are
	knp_apply_json "$(knp_service default loc 198.19.0.40 80 --port-name http --nodeport 30040 \
		--external-traffic-policy Local)"
	knp_apply_json "$(knp_slice default loc-1 loc 8080 198.18.2.11 --port-name http --node node-1)"
	"$KNP_BIN" dump --master "$APISERVER_URL" --hostname-override " Node-1 " >"$KNP_TMP/host.nft" 2>/dev/null
	knp_check "--hostname-override ' Node-1 ' matches nodeName node-1" \
		bash -c "sed -n '/^table ip kube-nftproxy/,/^}/p' '$KNP_TMP/host.nft' | sed -n '/chain ext-default\/loc/,/}/p' | grep -q 'goto ep-default/loc/tcp/http/198.18.2.11/8080'"
	timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$KNP_BIN" run --master "$APISERVER_URL" --healthz-bind-address "" \
		--metrics-bind-address "" >"$KNP_TMP/noperm.log" 2>&1
	rc=$?
	knp_check "without CAP_NET_ADMIN, run exits 1 (got $rc)" test "$rc" = 1
	knp_check "without CAP_NET_ADMIN, run says it needs CAP_NET_ADMIN" grep -q CAP_NET_ADMIN "$KNP_TMP/noperm.log"
fi
knp_done
