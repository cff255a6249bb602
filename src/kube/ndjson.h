/* Newline-delimited JSON framing: splits a byte stream (a watch response
 * body, arriving in chunks of any size) into lines. A line may span chunks
 * and a chunk may hold several lines. */
#ifndef KNP_NDJSON_H
#define KNP_NDJSON_H

#include <stddef.h>

/* The partial line carried between chunks. Zero-initialise, then set
 * max_line (bytes; a longer line is an error). */
struct ndjson {
	char *buf;
	size_t len, cap;
	size_t max_line;
};

/* Called once per complete line, without its '\n' (a trailing '\r' is
 * kept). @line is valid only during the call. Return 0 to go on, or a
 * negative value to stop: ndjson_feed() then returns it. */
typedef int (*ndjson_line_cb)(void *ctx, const char *line, size_t len);

/* Feed @n bytes at @p. Returns 0, the callback's negative value, -E2BIG for
 * a line longer than max_line (the stream is then unusable: reset it), or
 * -ENOMEM. */
int ndjson_feed(struct ndjson *s, const char *p, size_t n, ndjson_line_cb cb, void *ctx);
/* Drop the partial line (a new stream starts). Keeps the buffer. */
void ndjson_reset(struct ndjson *s);
/* Free the buffer. */
void ndjson_free(struct ndjson *s);

#endif
