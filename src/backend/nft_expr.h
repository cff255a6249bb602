/* Statements of the ruleset description as libnftnl expressions. */
#ifndef KNP_NFT_EXPR_H
#define KNP_NFT_EXPR_H

#include <stdint.h>
#include <stdio.h>
#include <libnftnl/rule.h>
#include "ruleset.h"

/* Append to @r the expressions of @s for table family @family (AF_INET or
 * AF_INET6): the same registers and layout nft 1.0.6 uses. @r takes
 * ownership of the expressions. Returns 0 or -ENOMEM (then @r may hold part
 * of the statement and must be freed, not sent), or -EINVAL for a kind with
 * no translation. */
int nft_stmt_exprs(struct nftnl_rule *r, const struct stmt *s, int family);

/* Bytes of an address of @family: 4 or 16. */
uint32_t nft_addr_len(int family);

#endif
