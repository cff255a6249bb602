#!/bin/bash
# Build kube-nftproxy with -Werror and AddressSanitizer/UBSan, run every test
# (make check: cmocka unit tests and root integration tests in network
# namespaces), run the unit tests once more under valgrind, and print
# "N passed, M failed" counting individual test cases.
set -u
cd "$(dirname "$0")/.."
export KNP_FIXTURES=${KNP_FIXTURES:-$(cd .. && pwd)/shared/fixtures}

scripts/bootstrap.sh --enable-werror --enable-sanitizers || { echo "0 passed, 1 failed"; exit 1; }
# ASan: leaks are errors; UBSan: abort on the first report
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
make -s -j"$(nproc)" check_PROGRAMS="" >/dev/null 2>&1
make -j"$(nproc)" check >tests/make-check.out 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' tests/make-check.out

# valgrind over the unit tests, from a build without sanitizers
vg_fail=0
vg_pass=0
if command -v valgrind >/dev/null; then
	# the tree is configured with sanitizers, which valgrind cannot run:
	# build the unit tests once more, plainly, beside it
	mkdir -p build-valgrind
	srcs=$(sed -n '/^libknp_a_SOURCES/,/^$/p' Makefile.am | grep -o 'src/[^ ]*\.c')
	pc="libnftnl libmnl libcurl libcjson yaml-0.1 libnetfilter_conntrack libmicrohttpd libsystemd cmocka"
	for t in test_decode test_store test_ruleset test_health test_ndjson; do
		# shellcheck disable=SC2046,SC2086
		if ! cc -std=gnu11 -g -O1 -D_GNU_SOURCE -DPACKAGE_VERSION='"valgrind"' -Isrc \
			$(pkg-config --cflags $pc) $srcs tests/unit/$t.c \
			$(pkg-config --libs $pc) -o build-valgrind/$t; then
			echo "FAIL: valgrind $t (build)"
			vg_fail=$((vg_fail + 1))
			continue
		fi
		if KNP_SRCDIR=$PWD valgrind -q --leak-check=full --errors-for-leak-kinds=all \
			--error-exitcode=1 build-valgrind/$t >build-valgrind/$t.log 2>&1; then
			echo "PASS: valgrind $t"
			vg_pass=$((vg_pass + 1))
		else
			echo "FAIL: valgrind $t (see build-valgrind/$t.log)"
			tail -20 build-valgrind/$t.log
			vg_fail=$((vg_fail + 1))
		fi
	done
fi

# count test cases: cmocka "[       OK ]" / "[  FAILED  ]", TAP-ish "ok -" / "not ok -"
passed=0
failed=0
for log in tests/unit/*.log tests/integration/*.log; do
	[ -f "$log" ] || continue
	p=$(grep -cE '^\[       OK \]|^ok - ' "$log")
	f=$(grep -cE '^\[  FAILED  \] [a-z]|^not ok - ' "$log")
	trs=${log%.log}.trs
	if grep -q ':test-result: FAIL\|:test-result: ERROR' "$trs" 2>/dev/null && [ "$f" = 0 ]; then
		f=1	# crashed or failed without naming a case
	fi
	if grep -q ':test-result: FAIL\|:test-result: ERROR' "$trs" 2>/dev/null; then
		echo "---- $log"
		tail -40 "$log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
passed=$((passed + vg_pass))
failed=$((failed + vg_fail))
if [ $check_rc -ne 0 ] && [ $failed -eq 0 ]; then
	tail -30 tests/make-check.out
	failed=1
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
