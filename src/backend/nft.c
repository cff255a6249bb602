/* The nftables backend: renders the ruleset as libnftnl objects and sends
 * them in one netlink batch (one transaction) per sync.
 *
 * Full sync: add table, delete table, add table, then every map, chain,
 * element and rule: the kernel swaps the old table for the new one
 * atomically. Incremental sync: a diff against the last committed ruleset;
 * only new, changed and stale chains and map elements are sent.
 *
 * Errors: the kernel reports each failing message by sequence number; we
 * keep, for each message of the batch, what it was about, and log the
 * object that caused the error. The kernel aborts the whole transaction on
 * any error, so a failed sync never leaves a half-programmed table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include "backend/backend.h"
#include "array.h"
#include "backend/nft_expr.h"
#include "log.h"

/* nft's datatype ids (nftables src/datatype.h), combined for concatenations
 * as (a << 6 | b): they make `nft list` print our maps' key types. */
#define TYPE_IPADDR		7
#define TYPE_IP6ADDR		8
#define TYPE_INET_PROTOCOL	12
#define TYPE_INET_SERVICE	13
#define TYPE_BITS		6
#define TYPE_INTEGER		4
#define BYTEORDER_HOST_ENDIAN	1	/* nftables src/expression.h */
/* anonymous maps get set ids above those of the named sets and maps */
#define ANON_SET_ID_BASE	(1u << 24)


/* Elements per NEWSETELEM message: keeps the nested element list well under
 * the 64 KiB netlink attribute limit with 256-byte chain names. */
#define ELEMS_PER_MSG	128

enum msg_op {
	OP_BATCH, OP_NEWTABLE, OP_DELTABLE, OP_NEWCHAIN, OP_FLUSHCHAIN, OP_DELCHAIN,
	OP_NEWSET, OP_DELSET, OP_NEWRULE, OP_NEWELEM, OP_DELELEM,
};

static const char *const op_names[] = {
	[OP_BATCH] = "batch", [OP_NEWTABLE] = "add table", [OP_DELTABLE] = "delete table",
	[OP_NEWCHAIN] = "add chain", [OP_FLUSHCHAIN] = "flush chain",
	[OP_DELCHAIN] = "delete chain", [OP_NEWSET] = "add set", [OP_DELSET] = "delete set", [OP_NEWRULE] = "add rule to chain",
	[OP_NEWELEM] = "add elements to map", [OP_DELELEM] = "delete elements from map",
};

/* What one message of the batch was about, to map a kernel error back. */
struct msg_info {
	enum msg_op op;
	const char *name;	/* points into a ruleset alive during the sync */
};

struct batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0, seq;
	struct msg_info *info;
	size_t n_info, cap_info;
	int family;
	const char *table;
	uint32_t anon_id;	/* NFTNL_SET_ID of the last anonymous map */
	int err;		/* -ENOMEM once anything failed to build */
};

struct nft_priv {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	struct ruleset committed;
	bool have_committed;
};

/* ---- batch buffer ---- */

static char *batch_reserve(struct batch *bt, size_t need)
{
	if (array_reserve(&bt->buf, &bt->cap, bt->len + need, 1, 65536) < 0) {
		bt->err = -ENOMEM;
		return NULL;
	}
	return bt->buf + bt->len;
}

static int batch_note(struct batch *bt, enum msg_op op, const char *name)
{
	if (array_reserve(&bt->info, &bt->cap_info, bt->n_info + 1, sizeof(*bt->info), 256) < 0) {
		bt->err = -ENOMEM;
		return -ENOMEM;
	}
	bt->info[bt->n_info].op = op;
	bt->info[bt->n_info].name = name;
	bt->n_info++;
	return 0;
}

/* Start a message of @type in the batch; returns its header or NULL. */
static struct nlmsghdr *msg_start(struct batch *bt, uint16_t type, uint16_t flags,
				  size_t room, enum msg_op op, const char *name)
{
	char *p = batch_reserve(bt, room);

	if (!p || batch_note(bt, op, name) < 0)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, bt->family, flags, bt->seq++);
}

static void msg_end(struct batch *bt, struct nlmsghdr *nlh)
{
	bt->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void batch_begin(struct batch *bt)
{
	char *p = batch_reserve(bt, 64);

	if (!p || batch_note(bt, OP_BATCH, NULL) < 0)
		return;
	bt->len += NLMSG_ALIGN(nftnl_batch_begin(p, bt->seq++)->nlmsg_len);
}

static void batch_end(struct batch *bt)
{
	char *p = batch_reserve(bt, 64);

	if (!p || batch_note(bt, OP_BATCH, NULL) < 0)
		return;
	bt->len += NLMSG_ALIGN(nftnl_batch_end(p, bt->seq++)->nlmsg_len);
}

/* ---- objects ---- */

/* A set object for @name in our table (for a set, map or element message),
 * or NULL after setting bt->err. */
static struct nftnl_set *set_of(struct batch *bt, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s) {
		bt->err = -ENOMEM;
		return NULL;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, bt->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, bt->family);
	return s;
}

/* A rule object for chain @chain of our table, or NULL after setting
 * bt->err. */
static struct nftnl_rule *rule_of(struct batch *bt, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r) {
		bt->err = -ENOMEM;
		return NULL;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, bt->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, bt->family);
	return r;
}

static void put_table(struct batch *bt, uint16_t type, enum msg_op op)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, bt->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, bt->family);
	nlh = msg_start(bt, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, 4096,
			op, bt->table);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(bt, nlh);
	}
	nftnl_table_free(t);
}

static uint32_t hook_num(enum chain_hook h)
{
	switch (h) {
	case HOOK_PREROUTING: return NF_INET_PRE_ROUTING;
	case HOOK_OUTPUT: return NF_INET_LOCAL_OUT;
	case HOOK_POSTROUTING: return NF_INET_POST_ROUTING;
	case HOOK_FORWARD: return NF_INET_FORWARD;
	case HOOK_NONE: break;
	}
	return 0;
}

static void put_chain(struct batch *bt, const struct chain *c, uint16_t type, enum msg_op op)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch) {
		bt->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, bt->table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, bt->family);
	if (type == NFT_MSG_NEWCHAIN && c->hook != HOOK_NONE) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hook_num(c->hook));
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->priority);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->nat ? "nat" : "filter");
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = msg_start(bt, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, 4096,
			op, c->name);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, ch);
		msg_end(bt, nlh);
	}
	nftnl_chain_free(ch);
}

/* Delete every rule of @c (flush). */
static void put_flush(struct batch *bt, const struct chain *c)
{
	struct nftnl_rule *r = rule_of(bt, c->name);
	struct nlmsghdr *nlh;

	if (!r)
		return;
	nlh = msg_start(bt, NFT_MSG_DELRULE, 0, 4096, OP_FLUSHCHAIN, c->name);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		msg_end(bt, nlh);
	}
	nftnl_rule_free(r);
}

/* The anonymous verdict map of an ST_NUMGEN_VMAP statement: integer keys
 * 0..N-1 in host byte order, each a goto; constant, bound to its rule (the
 * kernel frees it with the rule). */
static void put_anon_vmap(struct batch *bt, const struct stmt *st, uint32_t id)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
	struct nftnl_set *s = set_of(bt, NFT_ANON_MAP_NAME);
	struct nlmsghdr *nlh;

	if (!s || !ud) {
		bt->err = -ENOMEM;
		goto out;
	}
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_INTEGER);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, st->a);
	/* tells `nft list` the keys are host byte order integers */
	nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_HOST_ENDIAN);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nlh = msg_start(bt, NFT_MSG_NEWSET, NLM_F_CREATE, 4096, OP_NEWSET, "anonymous map");
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		msg_end(bt, nlh);
	}
	for (uint32_t i = 0; i < st->a && !bt->err; i += ELEMS_PER_MSG) {
		struct nftnl_set *es = set_of(bt, NFT_ANON_MAP_NAME);

		if (!es)
			break;
		nftnl_set_set_u32(es, NFTNL_SET_ID, id);
		for (uint32_t k = i; k < st->a && k < i + ELEMS_PER_MSG; k++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();

			if (!e) {
				bt->err = -ENOMEM;
				break;
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &k, sizeof(k));
			nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, st->names[k]);
			nftnl_set_elem_add(es, e);
		}
		nlh = msg_start(bt, NFT_MSG_NEWSETELEM, NLM_F_CREATE, 64 + ELEMS_PER_MSG * 320,
				OP_NEWELEM, "anonymous map");
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, es);
			msg_end(bt, nlh);
		}
		nftnl_set_free(es);
	}
out:
	if (s)
		nftnl_set_free(s);
	if (ud)
		nftnl_udata_buf_free(ud);
}

static void put_rules(struct batch *bt, const struct chain *c)
{
	for (size_t i = 0; i < c->n_rules && !bt->err; i++) {
		struct nftnl_rule *r = rule_of(bt, c->name);
		struct nlmsghdr *nlh;
		uint32_t set_id = 0;

		if (!r)
			return;
		for (size_t j = 0; j < c->rules[i].n; j++) {
			if (c->rules[i].s[j].kind == ST_NUMGEN_VMAP) {
				set_id = ANON_SET_ID_BASE + ++bt->anon_id;
				put_anon_vmap(bt, &c->rules[i].s[j], set_id);
			}
			if (nft_stmt_exprs(r, &c->rules[i].s[j], bt->family, set_id) < 0)
				bt->err = -ENOMEM;
		}
		nlh = msg_start(bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, 8192,
				OP_NEWRULE, c->name);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			msg_end(bt, nlh);
		}
		nftnl_rule_free(r);
	}
}

static uint32_t map_key_type(const struct map *m, int family)
{
	uint32_t t = (TYPE_INET_PROTOCOL << TYPE_BITS) | TYPE_INET_SERVICE;

	if (m->kind == MAP_ADDR)
		return family == AF_INET6 ? TYPE_IP6ADDR : TYPE_IPADDR;
	if (m->kind == MAP_ADDR_PROTO_PORT)
		t |= (uint32_t)(family == AF_INET6 ? TYPE_IP6ADDR : TYPE_IPADDR) << (2 * TYPE_BITS);
	return t;
}

/* Key bytes: each part padded to 4 bytes, as nft lays out concatenations. */
static uint32_t map_key(const struct map *m, const struct map_elem *e, int family,
			uint8_t *key)
{
	uint32_t off = 0, alen = nft_addr_len(family);
	uint16_t port = htons(e->port);

	memset(key, 0, 24);
	if (m->kind == MAP_ADDR) {
		memcpy(key, e->ip.bytes, alen);
		return alen;
	}
	if (m->kind == MAP_ADDR_PROTO_PORT) {
		memcpy(key, e->ip.bytes, alen);
		off = alen;
	}
	key[off] = e->proto;
	memcpy(key + off + 4, &port, 2);
	return off + 8;
}

static void put_set(struct batch *bt, const struct map *m, uint32_t id)
{
	struct nftnl_set *s = set_of(bt, m->name);
	struct nlmsghdr *nlh;
	uint8_t key[24];
	struct map_elem dummy = { 0 };

	if (!s)
		return;
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, m->kind == MAP_ADDR ? 0 : NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, map_key_type(m, bt->family));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, map_key(m, &dummy, bt->family, key));
	if (m->kind != MAP_ADDR)
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nlh = msg_start(bt, NFT_MSG_NEWSET, NLM_F_CREATE, 4096, OP_NEWSET, m->name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		msg_end(bt, nlh);
	}
	nftnl_set_free(s);
}

static void put_addr_set(struct batch *bt, const struct addr_set *as, uint16_t type, uint32_t id)
{
	struct nftnl_set *s = set_of(bt, as->name);
	struct nlmsghdr *nlh;

	if (!s)
		return;
	if (type == NFT_MSG_NEWSET) {
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  bt->family == AF_INET6 ? TYPE_IP6ADDR : TYPE_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, nft_addr_len(bt->family));
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t)as->timeout * 1000);
	}
	nlh = msg_start(bt, type, type == NFT_MSG_NEWSET ? NLM_F_CREATE : 0, 4096,
			type == NFT_MSG_NEWSET ? OP_NEWSET : OP_DELSET, as->name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		msg_end(bt, nlh);
	}
	nftnl_set_free(s);
}

/* Send elements @v[0..n) of @m in messages of ELEMS_PER_MSG. */
static void put_elems(struct batch *bt, const struct map *m, const struct map_elem *const *v,
		      size_t n, bool add)
{
	for (size_t i = 0; i < n && !bt->err; i += ELEMS_PER_MSG) {
		struct nftnl_set *s = set_of(bt, m->name);
		struct nlmsghdr *nlh;
		size_t end = i + ELEMS_PER_MSG < n ? i + ELEMS_PER_MSG : n;

		if (!s)
			return;
		for (size_t j = i; j < end; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			uint8_t key[24];
			uint32_t klen = map_key(m, v[j], bt->family, key);

			if (!e) {
				bt->err = -ENOMEM;
				break;
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen);
			if (add && v[j]->chain) {
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, v[j]->chain);
			}
			nftnl_set_elem_add(s, e);
		}
		nlh = msg_start(bt, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				add ? NLM_F_CREATE : 0, 64 + ELEMS_PER_MSG * 320,
				add ? OP_NEWELEM : OP_DELELEM, m->name);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			msg_end(bt, nlh);
		}
		nftnl_set_free(s);
	}
}

static void put_all_elems(struct batch *bt, const struct map *m)
{
	const struct map_elem **v;

	if (!m->n)
		return;
	v = malloc(m->n * sizeof(*v));
	if (!v) {
		bt->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < m->n; i++)
		v[i] = &m->elems[i];
	put_elems(bt, m, v, m->n, true);
	free(v);
}

/* ---- full and incremental batches ---- */

/* ---- sessionAffinity state across a full replacement ---- */

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	return nftnl_set_elems_nlmsg_parse(nlh, data) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The elements the kernel holds in set @name of our table, or NULL (no such
 * set or table, or an error: affinity then starts afresh). */
static struct nftnl_set *read_set_elems(struct nft_priv *p, int family, const char *table,
					const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	uint32_t seq = p->seq++;
	struct nlmsghdr *nlh;
	int ret;

	if (!s)
		return NULL;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP | NLM_F_ACK, seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	if (mnl_socket_sendto(p->nl, nlh, nlh->nlmsg_len) < 0)
		goto fail;
	do {
		ret = mnl_socket_recvfrom(p->nl, buf, sizeof(buf));
		if (ret <= 0)
			goto fail;
		ret = mnl_cb_run(buf, ret, seq, p->portid, elems_cb, s);
	} while (ret > 0);
	if (ret == 0)
		return s;
fail:
	nftnl_set_free(s);
	return NULL;
}

/* A full sync recreates the table, and with it the affinity sets: read the
 * clients they hold first, for every affinity set that the new ruleset
 * keeps, so they are put back with their remaining time in the same
 * transaction (a SIGHUP, the hourly resync or a restart does not move
 * clients). Returns an array parallel to rs->sets (entries may be NULL) or
 * NULL when there is nothing to keep. */
static struct nftnl_set **save_affinity(struct nft_priv *p, int family, const char *table,
					const struct ruleset *rs)
{
	struct nftnl_set **v;

	if (!rs->n_sets)
		return NULL;
	v = calloc(rs->n_sets, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < rs->n_sets; i++)
		v[i] = read_set_elems(p, family, table, rs->sets[i].name);
	return v;
}

static void free_affinity(struct nftnl_set **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i])
			nftnl_set_free(v[i]);
	free(v);
}

/* Re-add the saved clients of @as, keeping when each would expire. */
static void put_saved_elems(struct batch *bt, const struct addr_set *as, struct nftnl_set *old)
{
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(old);
	struct nftnl_set_elem *e = it ? nftnl_set_elems_iter_cur(it) : NULL;

	while (e && !bt->err) {
		struct nftnl_set *s = set_of(bt, as->name);
		struct nlmsghdr *nlh;
		size_t n = 0;

		if (!s)
			break;
		for (; e && n < ELEMS_PER_MSG; e = nftnl_set_elems_iter_next(it)) {
			struct nftnl_set_elem *ne;
			const void *key;
			uint32_t klen = 0;
			uint64_t left = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION) ?
				nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION) : 0;

			key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
			if (!key || !left || klen != nft_addr_len(bt->family))
				continue;
			ne = nftnl_set_elem_alloc();
			if (!ne) {
				bt->err = -ENOMEM;
				break;
			}
			nftnl_set_elem_set(ne, NFTNL_SET_ELEM_KEY, key, klen);
			nftnl_set_elem_set_u64(ne, NFTNL_SET_ELEM_TIMEOUT, (uint64_t)as->timeout * 1000);
			nftnl_set_elem_set_u64(ne, NFTNL_SET_ELEM_EXPIRATION,
					       left < (uint64_t)as->timeout * 1000 ? left :
					       (uint64_t)as->timeout * 1000);
			nftnl_set_elem_add(s, ne);
			n++;
		}
		if (n) {
			nlh = msg_start(bt, NFT_MSG_NEWSETELEM, NLM_F_CREATE, 64 + ELEMS_PER_MSG * 96,
					OP_NEWELEM, as->name);
			if (nlh) {
				nftnl_set_elems_nlmsg_build_payload(nlh, s);
				msg_end(bt, nlh);
			}
		}
		nftnl_set_free(s);
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
}

static void build_full(struct batch *bt, const struct ruleset *rs, struct nftnl_set **saved)
{
	/* add + delete + add: replaces the table whether or not it exists */
	put_table(bt, NFT_MSG_NEWTABLE, OP_NEWTABLE);
	put_table(bt, NFT_MSG_DELTABLE, OP_DELTABLE);
	put_table(bt, NFT_MSG_NEWTABLE, OP_NEWTABLE);
	for (size_t i = 0; i < rs->n_chains; i++)
		put_chain(bt, rs->chains[i], NFT_MSG_NEWCHAIN, OP_NEWCHAIN);
	for (int i = 0; i < MAP_COUNT; i++)
		put_set(bt, &rs->maps[i], i + 1);
	for (size_t i = 0; i < rs->n_sets; i++)
		put_addr_set(bt, &rs->sets[i], NFT_MSG_NEWSET, MAP_COUNT + 1 + i);
	for (size_t i = 0; saved && i < rs->n_sets; i++)
		if (saved[i])
			put_saved_elems(bt, &rs->sets[i], saved[i]);
	for (int i = 0; i < MAP_COUNT; i++)
		put_all_elems(bt, &rs->maps[i]);
	for (size_t i = 0; i < rs->n_chains; i++)
		put_rules(bt, rs->chains[i]);
}

/* Elements of @old not in @new (or with another target) go to *del; those
 * of @new not in @old (or changed) to *add. Both maps are sorted by key. */
static int diff_map(const struct map *old, const struct map *new,
		    const struct map_elem ***del, size_t *n_del,
		    const struct map_elem ***add, size_t *n_add)
{
	size_t i = 0, j = 0;

	*n_del = *n_add = 0;
	*del = malloc((old->n + 1) * sizeof(**del));
	*add = malloc((new->n + 1) * sizeof(**add));
	if (!*del || !*add)
		return -ENOMEM;
	while (i < old->n || j < new->n) {
		int c = i == old->n ? 1 : j == new->n ? -1 :
			map_elem_cmp(&old->elems[i], &new->elems[j]);

		if (c < 0) {
			(*del)[(*n_del)++] = &old->elems[i++];
		} else if (c > 0) {
			(*add)[(*n_add)++] = &new->elems[j++];
		} else {
			if (old->elems[i].chain && new->elems[j].chain &&
			    strcmp(old->elems[i].chain, new->elems[j].chain)) {
				(*del)[(*n_del)++] = &old->elems[i];
				(*add)[(*n_add)++] = &new->elems[j];
			}
			i++;
			j++;
		}
	}
	return 0;
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static void build_delta(struct batch *bt, const struct ruleset *old, const struct ruleset *new)
{
	const struct map_elem **del[MAP_COUNT] = { 0 }, **add[MAP_COUNT] = { 0 };
	size_t n_del[MAP_COUNT], n_add[MAP_COUNT];
	static const char *const del_order[] = { "fw-", "ext-", "cluster-", "svc-", "ep-" };
	size_t i, j;

	/* new sets and chains first (empty), so rules and elements can use them */
	for (j = 0; j < new->n_sets; j++)
		if (!ruleset_set(old, new->sets[j].name))
			put_addr_set(bt, &new->sets[j], NFT_MSG_NEWSET, MAP_COUNT + 1 + j);
	for (j = new->n_fixed; j < new->n_chains; j++)
		if (!ruleset_chain(old, new->chains[j]->name))
			put_chain(bt, new->chains[j], NFT_MSG_NEWCHAIN, OP_NEWCHAIN);
	/* changed chains: flush and refill; new chains: fill */
	for (j = new->n_fixed; j < new->n_chains; j++) {
		const struct chain *nc = new->chains[j];
		const struct chain *oc = ruleset_chain(old, nc->name);

		if (oc && chain_rules_equal(oc, nc))
			continue;
		if (oc)
			put_flush(bt, oc);
		put_rules(bt, nc);
	}
	for (int m = 0; m < MAP_COUNT; m++) {
		if (diff_map(&old->maps[m], &new->maps[m], &del[m], &n_del[m],
			     &add[m], &n_add[m]) < 0) {
			bt->err = -ENOMEM;
			goto out;
		}
		put_elems(bt, &old->maps[m], del[m], n_del[m], false);
	}
	for (int m = 0; m < MAP_COUNT; m++)
		put_elems(bt, &new->maps[m], add[m], n_add[m], true);
	/* stale chains last, callers before callees, once nothing refers to them */
	for (size_t p = 0; p < sizeof(del_order) / sizeof(del_order[0]); p++)
		for (i = old->n_fixed; i < old->n_chains; i++)
			if (has_prefix(old->chains[i]->name, del_order[p]) &&
			    !ruleset_chain(new, old->chains[i]->name))
				put_chain(bt, old->chains[i], NFT_MSG_DELCHAIN, OP_DELCHAIN);
	/* stale sets once the rules using them are gone */
	for (i = 0; i < old->n_sets; i++)
		if (!ruleset_set(new, old->sets[i].name))
			put_addr_set(bt, &old->sets[i], NFT_MSG_DELSET, 0);
out:
	for (int m = 0; m < MAP_COUNT; m++) {
		free(del[m]);
		free(add[m]);
	}
}

/* ---- netlink I/O ---- */

static int set_bufsize(struct mnl_socket *nl, int opt, size_t want)
{
	int size = want > (1u << 30) ? (1 << 30) : (int)want;

	return setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, opt, &size, sizeof(size));
}

/* Send the batch and collect the kernel's verdict. The kernel processes a
 * batch synchronously inside sendmsg(), so when it returns every error
 * message is already queued on our socket: drain them all (not just the
 * first) without blocking. Returns 0 or the first error (-errno). */
static int batch_send(struct nft_priv *p, struct batch *bt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int first_err = 0;
	ssize_t n;

	if (set_bufsize(p->nl, SO_SNDBUFFORCE, bt->len + 65536) < 0)
		set_bufsize(p->nl, SO_SNDBUF, bt->len + 65536);
	if (mnl_socket_sendto(p->nl, bt->buf, bt->len) < 0) {
		int err = errno;

		log_err("nftables: sending a batch of %zu bytes: %s", bt->len, strerror(err));
		return -err;
	}
	while ((n = recv(mnl_socket_get_fd(p->nl), buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = n;

		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			uint32_t idx;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (!e->error)
				continue;
			idx = nlh->nlmsg_seq - bt->seq0;
			if (idx < bt->n_info) {
				const struct msg_info *mi = &bt->info[idx];

				log_err("nftables: %s%s%s in table %s %s: %s", op_names[mi->op],
					mi->name ? " " : "", mi->name ? mi->name : "",
					family_name(bt->family), bt->table, strerror(-e->error));
			} else {
				log_err("nftables: error for unknown message %u: %s",
					nlh->nlmsg_seq, strerror(-e->error));
			}
			if (!first_err)
				first_err = e->error;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		int err = errno;

		/* e.g. ENOBUFS: errors were lost; the outcome is unknown */
		log_err("nftables: reading the kernel's answer: %s", strerror(err));
		if (!first_err)
			first_err = -err;
	}
	return first_err;
}

static int nft_init(struct backend *b)
{
	struct nft_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!p->nl) {
		int err = -errno;

		free(p);
		return err;
	}
	if (mnl_socket_bind(p->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(p->nl);
		free(p);
		return err;
	}
	p->portid = mnl_socket_get_portid(p->nl);
	p->seq = time(NULL);
	b->priv = p;
	return 0;
}

static void nft_destroy(struct backend *b)
{
	struct nft_priv *p = b->priv;

	if (!p)
		return;
	if (p->have_committed)
		ruleset_free(&p->committed);
	mnl_socket_close(p->nl);
	free(p);
}

static void batch_free(struct batch *bt)
{
	free(bt->buf);
	free(bt->info);
}

static int table_use_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	uint32_t *use = data;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0)
		*use = nftnl_table_get_u32(t, NFTNL_TABLE_USE);
	nftnl_table_free(t);
	return MNL_CB_OK;
}

/* How many objects (chains, sets, maps) the kernel's copy of our table
 * holds, in *use. Returns 0, -ENOENT when the table is gone, or -errno. */
static int table_use(struct nft_priv *p, int family, const char *name, uint32_t *use)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	uint32_t seq = p->seq++;
	struct nlmsghdr *nlh;
	int ret;

	if (!t)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_ACK, seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (mnl_socket_sendto(p->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	*use = UINT32_MAX;
	do {
		ret = mnl_socket_recvfrom(p->nl, buf, sizeof(buf));
		if (ret <= 0)
			return ret < 0 ? -errno : -EIO;
		ret = mnl_cb_run(buf, ret, seq, p->portid, table_use_cb, use);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}

/* Before a partial sync: is the kernel's table still the one we committed?
 * Someone deleting it (`nft flush ruleset`, a firewall reload, `cleanup`)
 * or its chains would otherwise go unnoticed until the hourly full sync. */
static bool table_intact(struct nft_priv *p, struct backend *b)
{
	const struct ruleset *c = &p->committed;
	uint32_t want = c->n_chains + MAP_COUNT + c->n_sets, use = 0;
	int err = table_use(p, b->family, b->table, &use);

	if (!err && use == want)
		return true;
	if (err)
		log_warn("nftables %s: table %s: %s; programming it again", family_name(b->family),
			 b->table, strerror(-err));
	else
		log_warn("nftables %s: table %s holds %u objects, we committed %u: it was changed from outside; replacing it",
			 family_name(b->family), b->table, use, want);
	return false;
}

/* A set kept its name but changed its timeout: the rules using it would
 * keep it busy, so such a change is sent as a full replacement. */
static bool sets_changed(const struct ruleset *old, const struct ruleset *new)
{
	for (size_t i = 0; i < new->n_sets; i++) {
		const struct addr_set *o = ruleset_set(old, new->sets[i].name);

		if (o && o->timeout != new->sets[i].timeout)
			return true;
	}
	return false;
}

/* Take over @rs as the committed state (after a successful sync). */
static void commit(struct nft_priv *p, struct ruleset *rs)
{
	if (p->have_committed)
		ruleset_free(&p->committed);
	p->committed = *rs;
	p->have_committed = true;
	memset(rs, 0, sizeof(*rs));
	ruleset_compact(&p->committed);
}

static int nft_sync(struct backend *b, struct ruleset *rs, bool full)
{
	struct nft_priv *p = b->priv;
	struct batch bt = { .family = b->family, .table = b->table };
	struct nftnl_set **saved = NULL;
	int err;

	full = full || !p->have_committed || sets_changed(&p->committed, rs) ||
	       !table_intact(p, b);
	if (full)
		saved = save_affinity(p, b->family, b->table, rs);
	bt.seq0 = bt.seq = p->seq;
	batch_begin(&bt);
	if (full)
		build_full(&bt, rs, saved);
	else
		build_delta(&bt, &p->committed, rs);
	batch_end(&bt);
	p->seq = bt.seq;
	free_affinity(saved, rs->n_sets);
	if (bt.err) {
		batch_free(&bt);
		b->stats.failures++;
		return bt.err;
	}
	b->stats.last_messages = bt.n_info;
	b->stats.last_bytes = bt.len;
	b->stats.last_full = full;
	if (bt.n_info <= 2) {	/* nothing changed: begin + end only */
		batch_free(&bt);
		b->stats.syncs++;
		commit(p, rs);
		return 0;
	}
	err = batch_send(p, &bt);
	log_v(4, "nftables %s: %s sync: %zu messages, %zu bytes, %s", family_name(b->family),
	      full ? "full" : "partial", bt.n_info, bt.len, err ? "failed" : "committed");
	batch_free(&bt);
	if (err) {
		b->stats.failures++;
		if (p->have_committed)
			ruleset_free(&p->committed);
		p->have_committed = false;	/* next sync is full */
		return err;
	}
	b->stats.syncs++;
	commit(p, rs);
	return 0;
}

static int nft_cleanup(struct backend *b)
{
	struct nft_priv *p = b->priv;
	struct batch bt = { .family = b->family, .table = b->table };
	int err;

	bt.seq0 = bt.seq = p->seq;
	batch_begin(&bt);
	put_table(&bt, NFT_MSG_NEWTABLE, OP_NEWTABLE);
	put_table(&bt, NFT_MSG_DELTABLE, OP_DELTABLE);
	batch_end(&bt);
	p->seq = bt.seq;
	err = bt.err ? bt.err : batch_send(p, &bt);
	batch_free(&bt);
	if (p->have_committed)
		ruleset_free(&p->committed);
	p->have_committed = false;
	return err;
}

static int nft_dump(struct backend *b, const struct ruleset *rs, FILE *out)
{
	return ruleset_print(rs, out);
}

const struct backend_ops backend_nft_ops = {
	.name = "nftables",
	.programs_kernel = true,
	.init = nft_init,
	.sync = nft_sync,
	.dump = nft_dump,
	.cleanup = nft_cleanup,
	.destroy = nft_destroy,
};
