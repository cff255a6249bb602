/* libFuzzer target: the watch stream framing. The first bytes of the input
 * choose chunk sizes; the rest is the stream. Property: feeding it in those
 * chunks yields exactly the lines of the whole stream (split on '\n'),
 * whatever the chunking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kube/ndjson.h"

struct out {
	char *buf;
	size_t len;
};

static int append(void *ctx, const char *line, size_t len)
{
	struct out *o = ctx;

	memcpy(o->buf + o->len, line, len);
	o->len += len;
	o->buf[o->len++] = '\n';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ndjson nd = { .max_line = 1 << 20 };
	struct out got = { 0 };
	size_t seeds, pos, k = 0, complete;
	const uint8_t *stream;

	if (size < 4)
		return 0;
	seeds = 4;
	stream = data + seeds;
	size -= seeds;
	got.buf = malloc(size + 1);
	if (!got.buf)
		return 0;
	for (pos = 0; pos < size;) {
		size_t n = 1 + data[k++ % seeds] % 17;

		if (n > size - pos)
			n = size - pos;
		if (ndjson_feed(&nd, (const char *)stream + pos, n, append, &got))
			abort();
		pos += n;
	}
	/* what came out is the stream up to its last '\n' */
	for (complete = size; complete && stream[complete - 1] != '\n'; complete--)
		;
	if (got.len != complete || memcmp(got.buf, stream, complete))
		abort();
	if (nd.len != size - complete)
		abort();
	ndjson_free(&nd);
	free(got.buf);
	return 0;
}
