#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kube/ndjson.h"
#include "array.h"

static int keep(struct ndjson *s, const char *p, size_t n)
{
	if (s->len + n > s->max_line)
		return -E2BIG;
	if (array_reserve(&s->buf, &s->cap, s->len + n, 1, 4096) < 0)
		return -ENOMEM;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

int ndjson_feed(struct ndjson *s, const char *p, size_t n, ndjson_line_cb cb, void *ctx)
{
	const char *end = p + n;
	int err;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);

		if (!nl)
			return keep(s, p, end - p);
		if (s->len) {	/* the line began in an earlier chunk */
			err = keep(s, p, nl - p);
			if (err)
				return err;
			err = cb(ctx, s->buf, s->len);
			s->len = 0;
		} else if ((size_t)(nl - p) > s->max_line) {
			return -E2BIG;
		} else {
			err = cb(ctx, p, nl - p);
		}
		if (err)
			return err;
		p = nl + 1;
	}
	return 0;
}

void ndjson_reset(struct ndjson *s)
{
	s->len = 0;
}

void ndjson_free(struct ndjson *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}
