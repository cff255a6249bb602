#!/bin/bash
# --kubeconfig (libyaml): server, certificate-authority(-data), token,
# tokenFile (re-read at every request, so a rotated token is picked up),
# insecure-skip-tls-verify, current-context; against the fake apiserver
# serving HTTPS with a bearer token.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_need_root
knp_need_cmd openssl curl
knp_trap_cleanup
knp_tmp
T=$KNP_TMP
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/ca.pem" -days 1 \
	-subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
knp_service default web 198.19.0.10 80 --port-name http >"$T/svc.json"
# everything runs in a namespace of our own, so the daemon's tables go with it
NS_NODE=knp-kc$$
knp_netns_add "$NS_NODE" || exit 1
knp_bg "$NS_NODE" apiserver "$KNP_PYTHON" "$KNP_FAKE_APISERVER" --port 0 --port-file "$T/port" \
	--tls-cert "$T/ca.pem" --tls-key "$T/key.pem" --token s3cret --load "$T/svc.json"
up() { [ -s "$T/port" ] && knp_node curl -sk -m 1 -o /dev/null "https://127.0.0.1:$(cat "$T/port")/version"; }
knp_check "the fake apiserver serves HTTPS" knp_wait_for up
URL=https://127.0.0.1:$(cat "$T/port")
CA_DATA=$(base64 -w0 "$T/ca.pem")

# kubeconfig NAME SERVER CLUSTER-EXTRA USER-EXTRA: a two-context file whose
# current-context picks the right one
kubeconfig() {
	cat >"$T/$1" <<KC
apiVersion: v1
kind: Config
current-context: node
clusters:
- name: decoy
  cluster:
    server: https://127.0.0.1:1
- name: real
  cluster:
    server: $2
$3
users:
- name: decoy
  user:
    token: wrong
- name: proxy
  user:
$4
contexts:
- name: other
  context: {cluster: decoy, user: decoy}
- name: node
  context:
    cluster: real
    user: proxy
KC
}
dump_ok() { knp_node "$KNP_BIN" dump --kubeconfig "$T/$1" >"$T/$1.out" 2>"$T/$1.err" && grep -q 198.19.0.10 "$T/$1.out"; }
dump_fails() { ! dump_ok "$1"; }

kubeconfig ca-data "$URL" "    certificate-authority-data: $CA_DATA" "    token: s3cret"
knp_check "certificate-authority-data + token: dump lists over HTTPS" dump_ok ca-data
cp "$T/ca.pem" "$T/ca-file.pem"
kubeconfig ca-file "$URL" "    certificate-authority: ca-file.pem" "    token: s3cret"
knp_check "certificate-authority relative to the kubeconfig's directory" dump_ok ca-file
kubeconfig insecure "$URL" "    insecure-skip-tls-verify: true" "    token: s3cret"
knp_check "insecure-skip-tls-verify: true" dump_ok insecure
kubeconfig noca "$URL" "" "    token: s3cret"
knp_check "without the CA the certificate does not verify" dump_fails noca
knp_check "... and dump says it is TLS" grep -q 'TLS' "$T/noca.err"
kubeconfig badtoken "$URL" "    certificate-authority-data: $CA_DATA" "    token: nope"
knp_check "a wrong token fails" dump_fails badtoken
knp_check "... with HTTP 401 named" grep -q '401' "$T/badtoken.err"
printf 'not: [valid' >"$T/broken"
"$KNP_BIN" dump --kubeconfig "$T/broken" >/dev/null 2>"$T/broken.err"
rc=$?
knp_check "a malformed kubeconfig exits 2 (got $rc)" test "$rc" = 2
knp_check "... naming the file" grep -q "$T/broken" "$T/broken.err"

# tokenFile is re-read at every request: rotate the token under a running daemon
echo s3cret >"$T/token"
kubeconfig tokenfile "$URL" "    certificate-authority-data: $CA_DATA" "    tokenFile: token"
knp_bg "$NS_NODE" daemon "$KNP_BIN" run --kubeconfig "$T/tokenfile" --min-sync-period 50ms -v 2
ctl() { knp_node curl -sk -m 5 -X POST --data-binary "$2" "$URL/control/$1" >/dev/null; }
programmed() { knp_node nft list table ip kube-nftproxy 2>/dev/null | grep -q "$1"; }
knp_check "the daemon syncs with the token from tokenFile" knp_wait_for programmed 198.19.0.10
ctl token '{"token": "rotated"}'
echo rotated >"$T/token"
ctl close-watches ''
ctl apply "$(knp_service default web2 198.19.0.11 80 --port-name http)"
knp_check "after the token rotates, the daemon still follows changes" knp_wait_for programmed 198.19.0.11
knp_done
