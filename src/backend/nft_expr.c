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

int nft_stmt_exprs(struct nftnl_rule *r, const struct stmt *s, int family)
{
	uint32_t alen = nft_addr_len(family);
	int err = 0;

	switch (s->kind) {
	case ST_CT_STATE_NEW: {
		struct nftnl_expr *e = expr("ct");
		uint32_t mask = CT_STATE_NEW_BIT, zero = 0;

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		add_expr(r, e);
		err |= e_bitwise(r, &mask, &zero, 4);
		err |= e_cmp(r, NFT_CMP_NEQ, &zero, 4);
		break;
	}
	case ST_DADDR_VMAP: {
		/* concatenation: each part starts on a 32-bit register */
		uint32_t proto_reg = NFT_REG32_00 + alen / 4;

		err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(family), alen, NFT_REG_1);
		err |= e_meta_load(r, NFT_META_L4PROTO, proto_reg);
		err |= e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, proto_reg + 1);
		err |= e_lookup(r, s->name, true);
		break;
	}
	case ST_PORT_VMAP:
		err |= e_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
		err |= e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		err |= e_lookup(r, s->name, true);
		break;
	case ST_FIB_DADDR_LOCAL: {
		struct nftnl_expr *e = expr("fib");
		uint32_t local = RTN_LOCAL_TYPE;

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
		add_expr(r, e);
		err |= e_cmp(r, NFT_CMP_EQ, &local, 4);
		break;
	}
	case ST_FIB_SADDR_LOCAL: {
		struct nftnl_expr *e = expr("fib");
		uint32_t local = RTN_LOCAL_TYPE;

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
		add_expr(r, e);
		err |= e_cmp(r, NFT_CMP_EQ, &local, 4);
		break;
	}
	case ST_SADDR_IN_SET:
	case ST_DADDR_IN_SET:
		err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, s->kind == ST_SADDR_IN_SET ?
				 saddr_off(family) : daddr_off(family), alen, NFT_REG_1);
		err |= e_lookup(r, s->name, false);
		break;
	case ST_SET_UPDATE_SADDR: {
		struct nftnl_expr *e;

		err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(family), alen, NFT_REG_1);
		e = expr("dynset");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s->name);
		add_expr(r, e);
		break;
	}
	case ST_DADDR_NOT_LOOPBACK:
		if (family == AF_INET6) {
			struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;

			err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16, NFT_REG_1);
			err |= e_cmp(r, NFT_CMP_NEQ, &lo, 16);
		} else {
			uint8_t net = 127;	/* 127.0.0.0/8: the first byte */

			err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 1, NFT_REG_1);
			err |= e_cmp(r, NFT_CMP_NEQ, &net, 1);
		}
		break;
	case ST_DADDR_EQ:
	case ST_SADDR_EQ:
		err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
				 s->kind == ST_DADDR_EQ ? daddr_off(family) : saddr_off(family),
				 alen, NFT_REG_1);
		err |= e_cmp(r, NFT_CMP_EQ, s->ip.bytes, alen);
		break;
	case ST_SADDR_NOT_PREFIX:
	case ST_SADDR_PREFIX:
	case ST_DADDR_PREFIX: {
		uint8_t mask[16], zero[16] = { 0 }, net[16];
		bool src = s->kind != ST_DADDR_PREFIX;

		prefix_mask(mask, alen, s->a);
		for (uint32_t i = 0; i < alen; i++)
			net[i] = s->ip.bytes[i] & mask[i];
		err |= e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
				 src ? saddr_off(family) : daddr_off(family), alen, NFT_REG_1);
		err |= e_bitwise(r, mask, zero, alen);
		err |= e_cmp(r, s->kind == ST_SADDR_NOT_PREFIX ? NFT_CMP_NEQ : NFT_CMP_EQ, net, alen);
		break;
	}
	case ST_MARK_UNSET: {
		uint32_t zero = 0;

		err |= e_meta_load(r, NFT_META_MARK, NFT_REG_1);
		err |= e_bitwise(r, &s->a, &zero, 4);
		err |= e_cmp(r, NFT_CMP_EQ, &zero, 4);
		break;
	}
	case ST_MARK_OR:
	case ST_MARK_XOR: {
		uint32_t mask = s->kind == ST_MARK_OR ? ~s->a : 0xffffffff;

		err |= e_meta_load(r, NFT_META_MARK, NFT_REG_1);
		err |= e_bitwise(r, &mask, &s->a, 4);
		err |= e_meta_set(r, NFT_META_MARK, NFT_REG_1);
		break;
	}
	case ST_NUMGEN_EQ: {
		struct nftnl_expr *e = expr("numgen");

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, s->a);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_INCREMENTAL);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
		add_expr(r, e);
		err |= e_cmp(r, NFT_CMP_EQ, &s->b, 4);
		break;
	}
	case ST_L4PROTO_EQ: {
		uint8_t p = s->a;

		err |= e_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
		err |= e_cmp(r, NFT_CMP_EQ, &p, 1);
		break;
	}
	case ST_DNAT: {
		struct nftnl_expr *e;
		uint16_t port = htons(s->a);

		err |= e_imm_data(r, NFT_REG_1, s->ip.bytes, alen);
		err |= e_imm_data(r, NFT_REG_2, &port, 2);
		e = expr("nat");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NAT_RANGE_PROTO_SPECIFIED);
		add_expr(r, e);
		break;
	}
	case ST_MASQUERADE: {
		struct nftnl_expr *e = expr("masq");

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NAT_RANGE_PROTO_RANDOM_FULLY);
		add_expr(r, e);
		break;
	}
	case ST_REJECT: {
		struct nftnl_expr *e = expr("reject");

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, family == AF_INET6 ?
				  ICMPV6_PORT_UNREACH_CODE : ICMP_PORT_UNREACH_CODE);
		add_expr(r, e);
		break;
	}
	case ST_JUMP:
		err |= e_verdict(r, NFT_JUMP, s->name);
		break;
	case ST_GOTO:
		err |= e_verdict(r, NFT_GOTO, s->name);
		break;
	case ST_RETURN:
		err |= e_verdict(r, NFT_RETURN, NULL);
		break;
	case ST_DROP:
		err |= e_verdict(r, NF_DROP, NULL);
		break;
	}
	return err ? -ENOMEM : 0;
}
