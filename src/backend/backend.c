#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"

/* The registry: --proxy-mode names. */
static const struct backend_ops *const registry[] = {
	&backend_nft_ops,
	&backend_text_ops,
};

const char *backend_names(void)
{
	return "nftables, text";
}

struct backend *backend_create(const char *name, int family, const char *table)
{
	const struct backend_ops *ops = NULL;
	struct backend *b;
	int err;

	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (!strcmp(registry[i]->name, name))
			ops = registry[i];
	if (!ops) {
		errno = ENOENT;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->table = strdup(table))) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->ops = ops;
	b->family = family;
	err = ops->init ? ops->init(b) : 0;
	if (err < 0) {
		free(b->table);
		free(b);
		errno = -err;
		return NULL;
	}
	return b;
}

void backend_destroy(struct backend *b)
{
	if (!b)
		return;
	if (b->ops->destroy)
		b->ops->destroy(b);
	free(b->table);
	free(b);
}
