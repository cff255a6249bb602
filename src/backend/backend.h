/* The backend layer: how a ruleset description reaches the kernel (or a
 * file). Backends register by name in backend.c (--proxy-mode); a new one
 * is one file plus one line in the registry.
 *
 * Unlike DESIGN.md §3, sync() receives the ruleset description rather than
 * the model: the ruleset is the one description both backends render, and
 * the delta is computed by diffing it against what the backend last
 * committed, so no separate change set can disagree with it. */
#ifndef KNP_BACKEND_H
#define KNP_BACKEND_H

#include <stdbool.h>
#include <stdio.h>
#include "ruleset.h"

struct backend;

/* Counters of the last sync, for logs, metrics and tests. */
struct backend_stats {
	unsigned long syncs;		/* successful syncs */
	unsigned long failures;		/* failed syncs (kernel unchanged) */
	size_t last_messages;		/* netlink messages in the last batch */
	size_t last_bytes;		/* bytes in the last batch */
	bool last_full;
};

struct backend_ops {
	const char *name;
	bool programs_kernel;	/* true: the daemon also cleans conntrack */
	/* Returns 0 or -errno. */
	int (*init)(struct backend *b);
	/* Make the kernel (or output) match @rs. @full forces a complete
	 * replacement; otherwise only what changed since the last successful
	 * sync is sent. Returns 0 when committed (then the backend has taken
	 * over the contents of *rs, and *rs is zeroed), or -errno: nothing
	 * changed in the kernel, the caller still owns *rs, and the next sync
	 * is full. */
	int (*sync)(struct backend *b, struct ruleset *rs, bool full);
	/* Print @rs in nft syntax to @out. Returns 0 or -errno. */
	int (*dump)(struct backend *b, const struct ruleset *rs, FILE *out);
	/* Remove every table we own (family/table given at create). */
	int (*cleanup)(struct backend *b);
	void (*destroy)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
	int family;
	char *table;
	struct backend_stats stats;
	void *priv;
};

/* Create the backend registered as @name for @family / @table. Returns NULL
 * with errno ENOENT for an unknown name, ENOMEM, or the init error. */
struct backend *backend_create(const char *name, int family, const char *table);
void backend_destroy(struct backend *b);
/* Comma-separated list of registered names (static string). */
const char *backend_names(void);

/* Text rendering shared by the text backend and dump: the whole ruleset as
 * one nft script that replaces the table atomically when loaded with
 * nft -f. */
int ruleset_print(const struct ruleset *rs, FILE *out);

extern const struct backend_ops backend_nft_ops;
extern const struct backend_ops backend_text_ops;

#endif
