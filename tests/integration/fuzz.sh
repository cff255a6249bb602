#!/bin/bash
# A bounded libFuzzer run (ASan+UBSan) of the decoders and of the watch
# stream framing, seeded with the real objects in the shared fixtures. A
# crash, leak, sanitizer report or broken framing property fails the test.
. "${KNP_SRCDIR:-.}/tests/lib.sh"
knp_need_cmd clang pkg-config
knp_tmp
knp_trap_cleanup
RUNS=${KNP_FUZZ_RUNS:-30000}
S=$KNP_SRCDIR
build() { # NAME SOURCES...
	local name=$1
	shift
	# shellcheck disable=SC2046
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$S/src" $(pkg-config --cflags libcjson) "$@" \
		$(pkg-config --libs libcjson) -o "$KNP_TMP/$name" 2>"$KNP_TMP/build-$name.log"
}
if ! build fuzz_decode "$S/tests/fuzz/fuzz_decode.c" "$S/src/kube/decode.c" \
	"$S/src/kube/decode_stream.c" "$S/src/kube/types.c" "$S/src/log.c"; then
	echo "SKIP: clang cannot build a libFuzzer target here"; cat "$KNP_TMP/build-fuzz_decode.log"; exit 77
fi
build fuzz_ndjson "$S/tests/fuzz/fuzz_ndjson.c" "$S/src/kube/ndjson.c" "$S/src/array.c"

mkdir -p "$KNP_TMP/corpus"
find "$KNP_FIXTURES" -name '*.json' -o -name '*.jsonl' | while read -r f; do
	cp "$f" "$KNP_TMP/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
	# each watch line on its own too
	case $f in *.jsonl) split -l 1 "$f" "$KNP_TMP/corpus/$(basename "$f")-line-" ;; esac
done
knp_check "the fixtures seed the corpus ($(ls "$KNP_TMP/corpus" | wc -l) files)" \
	test "$(ls "$KNP_TMP/corpus" | wc -l)" -gt 30
knp_check "decoders: $RUNS fuzzed inputs without a crash, leak or sanitizer report" \
	bash -c "cd '$KNP_TMP' && ./fuzz_decode -runs=$RUNS -max_len=65536 -timeout=10 corpus >fuzz_decode.log 2>&1"
knp_check "watch framing: $RUNS fuzzed chunkings give back the stream's lines" \
	bash -c "cd '$KNP_TMP' && ./fuzz_ndjson -runs=$RUNS -timeout=10 >fuzz_ndjson.log 2>&1"
knp_done
