/* Statements of the ruleset description as libnftnl expressions. */
#ifndef KNP_NFT_EXPR_H
#define KNP_NFT_EXPR_H

#include <stdint.h>
#include <stdio.h>
#include <libnftnl/rule.h>
#include "ruleset.h"

/* Append to @r the expressions of @s for table family @family (AF_INET or
 * AF_INET6): the same registers and layout nft 1.0.6 uses; @set_id is only
 * read by ST_NUMGEN_VMAP (see below). @r takes
 * ownership of the expressions. Returns 0 or -ENOMEM (then @r may hold part
 * of the statement and must be freed, not sent), or -EINVAL for a kind with
 * no translation. */
int nft_stmt_exprs(struct nftnl_rule *r, const struct stmt *s, int family, uint32_t set_id);

/* The name an anonymous set is created with; the kernel fills in %d. An
 * ST_NUMGEN_VMAP statement looks its map up by the @set_id given to
 * nft_stmt_exprs(), the NFTNL_SET_ID of that map in the same batch. */
#define NFT_ANON_MAP_NAME	"__map%d"

/* Bytes of an address of @family: 4 or 16. */
uint32_t nft_addr_len(int family);

#endif
