#!/bin/bash
# Install what kube-nftproxy needs on Debian 12 and build it.
#   scripts/bootstrap.sh [configure flags...]
# Installs packages only when something is missing (needs root then), then
# autoreconf + configure + make in the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="build-essential autoconf automake libtool pkg-config
	libnftnl-dev libmnl-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libcmocka-dev libnetfilter-conntrack-dev libmicrohttpd-dev libsystemd-dev
	nftables iproute2 python3 curl valgrind openssl clang libclang-rt-14-dev"

missing=$(dpkg-query -W -f='${Status} ${Package}\n' $PACKAGES 2>/dev/null |
	awk '$3 != "installed" {print $4}'; for p in $PACKAGES; do
	dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
	echo "bootstrap: installing $(echo $missing | tr '\n' ' ')" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $PACKAGES >/dev/null
fi
# a real Kubernetes client for the fake apiserver's protocol test:
# kubectl (Debian's kubernetes-client) and python3-kubernetes
if ! command -v kubectl >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null 2>&1 ||
		echo "bootstrap: kubectl not available; the kubectl test will use python3-kubernetes" >&2
fi
if ! python3 -c 'import kubernetes' 2>/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-kubernetes >/dev/null 2>&1 || true
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null
fi
want="$*"
have=$(sed -n 's/^ac_cs_config="\(.*\)"$/\1/p' config.status 2>/dev/null | sed "s/'//g" || true)
if [ ! -f Makefile ] || [ "$have" != "$want" ]; then
	./configure -q "$@"
	make -s clean >/dev/null 2>&1 || true	# objects of another configuration
fi
make -s -j"$(nproc)" kube-nftproxy >/dev/null
