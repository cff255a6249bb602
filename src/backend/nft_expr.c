/* One ruleset statement -> the libnftnl expressions nft itself generates
 * for the same syntax (so `nft list` prints our rules as the text backend
 * writes them: tests/integration/equivalence.sh checks it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include "backend/nft_expr.h"

#define NAT_RANGE_PROTO_SPECIFIED	0x02	/* linux/netfilter/nf_nat.h */
#define NAT_RANGE_PROTO_RANDOM_FULLY	0x10
#define CT_STATE_NEW_BIT		0x08	/* NF_CT_STATE_BIT(IP_CT_NEW) */
#define RTN_LOCAL_TYPE			2	/* RTN_LOCAL, linux/rtnetlink.h */
#define ICMP_PORT_UNREACH_CODE		3
#define ICMPV6_PORT_UNREACH_CODE	4

static void add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	nftnl_rule_add_expr(r, e);
}

static struct nftnl_expr *expr(const char *name)
{
	return nftnl_expr_alloc(name);
}

static int e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
		     uint32_t dreg)
{
	struct nftnl_expr *e = expr("payload");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	add_expr(r, e);
	return 0;
}

static int e_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr("meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	add_expr(r, e);
	return 0;
}

static int e_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = expr("meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	add_expr(r, e);
	return 0;
}

static int e_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr("cmp");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	add_expr(r, e);
	return 0;
}

static int e_bitwise(struct nftnl_rule *r, const void *mask, const void *xor, uint32_t len)
{
	struct nftnl_expr *e = expr("bitwise");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	add_expr(r, e);
	return 0;
}

/* Lookup of register 1 in @set; @vmap: the result is the verdict. */
static int e_lookup(struct nftnl_rule *r, const char *set, bool vmap)
{
	struct nftnl_expr *e = expr("lookup");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (vmap)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	add_expr(r, e);
	return 0;
}

static int e_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr("immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	add_expr(r, e);
	return 0;
}

static int e_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr("immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	add_expr(r, e);
	return 0;
}

/* Network header offsets of the addresses. */
static uint32_t daddr_off(int family) { return family == AF_INET6 ? 24 : 16; }
static uint32_t saddr_off(int family) { return family == AF_INET6 ? 8 : 12; }

uint32_t nft_addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

/* mask for a prefix of @plen bits over @len bytes */
static void prefix_mask(uint8_t *mask, uint32_t len, uint32_t plen)
{
	for (uint32_t i = 0; i < len; i++) {
		uint32_t bits = plen > i * 8 ? plen - i * 8 : 0;

		mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
	}
}

/* One translator per statement kind (the table below): each appends its
 * expressions to @r and returns 0 or -ENOMEM. */
typedef int (*stmt_fn)(struct nftnl_rule *r, const struct stmt *s, int family,
		       uint32_t set_id);

static int x_ct_state_new(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e = expr("ct");
	uint32_t mask = CT_STATE_NEW_BIT, zero = 0;

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	add_expr(r, e);
	return e_bitwise(r, &mask, &zero, 4) | e_cmp(r, NFT_CMP_NEQ, &zero, 4);
}

static int x_daddr_vmap(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t alen = nft_addr_len(family);
	/* concatenation: each part starts on a 32-bit register */
	uint32_t proto_reg = NFT_REG32_00 + alen / 4;

	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(family), alen, NFT_REG_1) |
	       e_meta_load(r, NFT_META_L4PROTO, proto_reg) |
	       e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, proto_reg + 1) |
	       e_lookup(r, s->name, true);
}

static int x_port_vmap(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	return e_meta_load(r, NFT_META_L4PROTO, NFT_REG_1) |
	       e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01) |
	       e_lookup(r, s->name, true);
}

/* fib daddr|saddr type local */
static int fib_local(struct nftnl_rule *r, uint32_t flags)
{
	struct nftnl_expr *e = expr("fib");
	uint32_t local = RTN_LOCAL_TYPE;

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	add_expr(r, e);
	return e_cmp(r, NFT_CMP_EQ, &local, 4);
}

static int x_fib_daddr_local(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	return fib_local(r, NFTA_FIB_F_DADDR);
}

static int x_fib_saddr_local(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	return fib_local(r, NFTA_FIB_F_SADDR);
}

static int x_addr_in_set(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t off = s->kind == ST_SADDR_IN_SET ? saddr_off(family) : daddr_off(family);

	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, nft_addr_len(family), NFT_REG_1) |
	       e_lookup(r, s->name, false);
}

static int x_set_update_saddr(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e;

	if (e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(family), nft_addr_len(family),
		      NFT_REG_1))
		return -ENOMEM;
	e = expr("dynset");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s->name);
	add_expr(r, e);
	return 0;
}

static int x_daddr_not_loopback(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	if (family == AF_INET6) {
		struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;

		return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, NFT_REG_1) |
		       e_cmp(r, NFT_CMP_NEQ, &lo, 16);
	} else {
		uint8_t net = 127;	/* 127.0.0.0/8: the first byte, as nft loads it */

		return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 1, NFT_REG_1) |
		       e_cmp(r, NFT_CMP_NEQ, &net, 1);
	}
}

static int x_addr_eq(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t alen = nft_addr_len(family);
	uint32_t off = s->kind == ST_DADDR_EQ ? daddr_off(family) : saddr_off(family);

	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, alen, NFT_REG_1) |
	       e_cmp(r, NFT_CMP_EQ, s->ip.bytes, alen);
}

/* ip saddr|daddr [!=] PREFIX: load, mask, compare */
static int x_prefix(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t alen = nft_addr_len(family);
	uint8_t mask[16], zero[16] = { 0 }, net[16];
	uint32_t off = s->kind == ST_DADDR_PREFIX ? daddr_off(family) : saddr_off(family);

	prefix_mask(mask, alen, s->a);
	for (uint32_t i = 0; i < alen; i++)
		net[i] = s->ip.bytes[i] & mask[i];
	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, alen, NFT_REG_1) |
	       e_bitwise(r, mask, zero, alen) |
	       e_cmp(r, s->kind == ST_SADDR_NOT_PREFIX ? NFT_CMP_NEQ : NFT_CMP_EQ, net, alen);
}

static int x_mark_unset(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t zero = 0;

	return e_meta_load(r, NFT_META_MARK, NFT_REG_1) | e_bitwise(r, &s->a, &zero, 4) |
	       e_cmp(r, NFT_CMP_EQ, &zero, 4);
}

/* meta mark set meta mark | bit (or ^ bit) */
static int x_mark_set(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint32_t mask = s->kind == ST_MARK_OR ? ~s->a : 0xffffffff;

	return e_meta_load(r, NFT_META_MARK, NFT_REG_1) | e_bitwise(r, &mask, &s->a, 4) |
	       e_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

static int x_numgen_eq(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e = expr("numgen");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, s->a);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_INCREMENTAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
	add_expr(r, e);
	return e_cmp(r, NFT_CMP_EQ, &s->b, 4);
}

/* numgen inc mod N vmap { i : goto ep-i }: the anonymous map was sent
 * just before this rule, in the same batch, with @set_id. */
static int x_numgen_vmap(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e = expr("numgen");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, s->a);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_INCREMENTAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
	add_expr(r, e);
	e = expr("lookup");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, NFT_ANON_MAP_NAME);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	add_expr(r, e);
	return 0;
}

static int x_l4proto_eq(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	uint8_t p = s->a;

	return e_meta_load(r, NFT_META_L4PROTO, NFT_REG_1) | e_cmp(r, NFT_CMP_EQ, &p, 1);
}

static int x_dnat(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e;
	uint16_t port = htons(s->a);

	if (e_imm_data(r, NFT_REG_1, s->ip.bytes, nft_addr_len(family)) |
	    e_imm_data(r, NFT_REG_2, &port, 2))
		return -ENOMEM;
	e = expr("nat");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NAT_RANGE_PROTO_SPECIFIED);
	add_expr(r, e);
	return 0;
}

static int x_masquerade(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e = expr("masq");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NAT_RANGE_PROTO_RANDOM_FULLY);
	add_expr(r, e);
	return 0;
}

static int x_reject(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	struct nftnl_expr *e = expr("reject");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, family == AF_INET6 ?
			  ICMPV6_PORT_UNREACH_CODE : ICMP_PORT_UNREACH_CODE);
	add_expr(r, e);
	return 0;
}

static int x_verdict(struct nftnl_rule *r, const struct stmt *s, int family,
		uint32_t set_id)
{
	switch (s->kind) {
	case ST_JUMP: return e_verdict(r, NFT_JUMP, s->name);
	case ST_GOTO: return e_verdict(r, NFT_GOTO, s->name);
	case ST_RETURN: return e_verdict(r, NFT_RETURN, NULL);
	default: return e_verdict(r, NF_DROP, NULL);
	}
}

static const stmt_fn translators[] = {
	[ST_CT_STATE_NEW] = x_ct_state_new,
	[ST_DADDR_VMAP] = x_daddr_vmap,
	[ST_PORT_VMAP] = x_port_vmap,
	[ST_FIB_DADDR_LOCAL] = x_fib_daddr_local,
	[ST_DADDR_NOT_LOOPBACK] = x_daddr_not_loopback,
	[ST_DADDR_EQ] = x_addr_eq,
	[ST_SADDR_EQ] = x_addr_eq,
	[ST_SADDR_NOT_PREFIX] = x_prefix,
	[ST_DADDR_PREFIX] = x_prefix,
	[ST_SADDR_PREFIX] = x_prefix,
	[ST_FIB_SADDR_LOCAL] = x_fib_saddr_local,
	[ST_SADDR_IN_SET] = x_addr_in_set,
	[ST_DADDR_IN_SET] = x_addr_in_set,
	[ST_SET_UPDATE_SADDR] = x_set_update_saddr,
	[ST_MARK_UNSET] = x_mark_unset,
	[ST_MARK_OR] = x_mark_set,
	[ST_MARK_XOR] = x_mark_set,
	[ST_NUMGEN_EQ] = x_numgen_eq,
	[ST_NUMGEN_VMAP] = x_numgen_vmap,
	[ST_L4PROTO_EQ] = x_l4proto_eq,
	[ST_DNAT] = x_dnat,
	[ST_MASQUERADE] = x_masquerade,
	[ST_REJECT] = x_reject,
	[ST_JUMP] = x_verdict,
	[ST_GOTO] = x_verdict,
	[ST_RETURN] = x_verdict,
	[ST_DROP] = x_verdict,
};

int nft_stmt_exprs(struct nftnl_rule *r, const struct stmt *s, int family, uint32_t set_id)
{
	if ((size_t)s->kind >= sizeof(translators) / sizeof(translators[0]) ||
	    !translators[s->kind])
		return -EINVAL;
	return translators[s->kind](r, s, family, set_id) ? -ENOMEM : 0;
}
