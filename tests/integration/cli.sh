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
# without CAP_NET_ADMIN the daemon says why and exits instead of retrying forever
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	knp_start_apiserver
	timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$KNP_BIN" run --master "$APISERVER_URL" --healthz-bind-address "" \
		--metrics-bind-address "" >"$KNP_TMP/noperm.log" 2>&1
	rc=$?
	knp_check "without CAP_NET_ADMIN, run exits 1 (got $rc)" test "$rc" = 1
	knp_check "without CAP_NET_ADMIN, run says it needs CAP_NET_ADMIN" grep -q CAP_NET_ADMIN "$KNP_TMP/noperm.log"
fi
knp_done
