/* The text backend: renders a ruleset in nft syntax. Used by `dump`, by
 * golden tests, and as --proxy-mode text (prints each sync to stdout). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "backend/backend.h"

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 132: return "sctp";
	}
	return "0";
}

static void print_stmt(const struct stmt *s, int family, FILE *out)
{
	const char *fam = family_name(family);
	char buf[INET6_ADDRSTRLEN];

	switch (s->kind) {
	case ST_CT_STATE_NEW:
		fputs("ct state new", out);
		break;
	case ST_DADDR_VMAP:
		fprintf(out, "%s daddr . meta l4proto . th dport vmap @%s", fam, s->name);
		break;
	case ST_PORT_VMAP:
		fprintf(out, "meta l4proto . th dport vmap @%s", s->name);
		break;
	case ST_FIB_DADDR_LOCAL:
		fputs("fib daddr type local", out);
		break;
	case ST_DADDR_NOT_LOOPBACK:
		fprintf(out, "%s daddr != %s", fam,
			family == AF_INET6 ? "::1" : "127.0.0.0/8");
		break;
	case ST_DADDR_EQ:
		fprintf(out, "%s daddr %s", fam, ip_addr_str(&s->ip, buf, sizeof(buf)));
		break;
	case ST_SADDR_EQ:
		fprintf(out, "%s saddr %s", fam, ip_addr_str(&s->ip, buf, sizeof(buf)));
		break;
	case ST_SADDR_NOT_PREFIX:
		fprintf(out, "%s saddr != %s/%u", fam, ip_addr_str(&s->ip, buf, sizeof(buf)), s->a);
		break;
	case ST_DADDR_PREFIX:
		fprintf(out, "%s daddr %s/%u", fam, ip_addr_str(&s->ip, buf, sizeof(buf)), s->a);
		break;
	case ST_SADDR_PREFIX:
		fprintf(out, "%s saddr %s/%u", fam, ip_addr_str(&s->ip, buf, sizeof(buf)), s->a);
		break;
	case ST_FIB_SADDR_LOCAL:
		fputs("fib saddr type local", out);
		break;
	case ST_SADDR_IN_SET:
		fprintf(out, "%s saddr @%s", fam, s->name);
		break;
	case ST_DADDR_IN_SET:
		fprintf(out, "%s daddr @%s", fam, s->name);
		break;
	case ST_SET_UPDATE_SADDR:
		fprintf(out, "update @%s { %s saddr }", s->name, fam);
		break;
	case ST_MARK_UNSET:
		fprintf(out, "meta mark & 0x%08x == 0x00000000", s->a);
		break;
	case ST_MARK_OR:
		fprintf(out, "meta mark set meta mark | 0x%08x", s->a);
		break;
	case ST_MARK_XOR:
		fprintf(out, "meta mark set meta mark ^ 0x%08x", s->a);
		break;
	case ST_NUMGEN_EQ:
		fprintf(out, "numgen inc mod %u %u", s->a, s->b);
		break;
	case ST_NUMGEN_VMAP:
		fprintf(out, "numgen inc mod %u vmap { ", s->a);
		for (uint32_t i = 0; i < s->a; i++)
			fprintf(out, "%s%u : goto %s", i ? ", " : "", i, s->names[i]);
		fputs(" }", out);
		break;
	case ST_L4PROTO_EQ:
		fprintf(out, "meta l4proto %s", proto_name(s->a));
		break;
	case ST_DNAT:
		if (family == AF_INET6)
			fprintf(out, "dnat to [%s]:%u", ip_addr_str(&s->ip, buf, sizeof(buf)), s->a);
		else
			fprintf(out, "dnat to %s:%u", ip_addr_str(&s->ip, buf, sizeof(buf)), s->a);
		break;
	case ST_MASQUERADE:
		fputs("masquerade fully-random", out);
		break;
	case ST_REJECT:
		fputs("reject", out);
		break;
	case ST_JUMP:
		fprintf(out, "jump %s", s->name);
		break;
	case ST_GOTO:
		fprintf(out, "goto %s", s->name);
		break;
	case ST_RETURN:
		fputs("return", out);
		break;
	case ST_DROP:
		fputs("drop", out);
		break;
	}
}

static const char *hook_name(enum chain_hook h)
{
	switch (h) {
	case HOOK_PREROUTING: return "prerouting";
	case HOOK_OUTPUT: return "output";
	case HOOK_POSTROUTING: return "postrouting";
	case HOOK_FORWARD: return "forward";
	case HOOK_NONE: break;
	}
	return "";
}

static void print_chain(const struct chain *c, int family, FILE *out)
{
	fprintf(out, "\tchain %s {\n", c->name);
	if (c->hook != HOOK_NONE)
		fprintf(out, "\t\ttype %s hook %s priority %d; policy accept;\n",
			c->nat ? "nat" : "filter", hook_name(c->hook), c->priority);
	for (size_t i = 0; i < c->n_rules; i++) {
		fputs("\t\t", out);
		for (size_t j = 0; j < c->rules[i].n; j++) {
			if (j)
				fputc(' ', out);
			print_stmt(&c->rules[i].s[j], family, out);
		}
		fputc('\n', out);
	}
	fputs("\t}\n", out);
}

static void print_map(const struct map *m, int family, FILE *out)
{
	const char *addr = family == AF_INET6 ? "ipv6_addr" : "ipv4_addr";
	char buf[INET6_ADDRSTRLEN];

	if (m->kind == MAP_ADDR) {
		fprintf(out, "\tset %s {\n\t\ttype %s\n", m->name, addr);
	} else {
		fprintf(out, "\tmap %s {\n\t\ttype ", m->name);
		if (m->kind == MAP_ADDR_PROTO_PORT)
			fprintf(out, "%s . ", addr);
		fputs("inet_proto . inet_service : verdict\n", out);
	}
	if (m->n) {
		fputs("\t\telements = {", out);
		for (size_t i = 0; i < m->n; i++) {
			const struct map_elem *e = &m->elems[i];

			fputs(i ? ",\n\t\t\t     " : " ", out);
			if (m->kind == MAP_ADDR) {
				fputs(ip_addr_str(&e->ip, buf, sizeof(buf)), out);
				continue;
			}
			if (m->kind == MAP_ADDR_PROTO_PORT)
				fprintf(out, "%s . ", ip_addr_str(&e->ip, buf, sizeof(buf)));
			fprintf(out, "%s . %u : goto %s", proto_name(e->proto), e->port, e->chain);
		}
		fputs(" }\n", out);
	}
	fputs("\t}\n", out);
}

static void print_set(const struct addr_set *set, int family, FILE *out)
{
	fprintf(out, "\tset %s {\n\t\ttype %s\n\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t}\n",
		set->name, family == AF_INET6 ? "ipv6_addr" : "ipv4_addr", set->timeout);
}

int ruleset_print(const struct ruleset *rs, FILE *out)
{
	const char *fam = family_name(rs->family);

	fprintf(out, "# kube-nftproxy ruleset; `nft -f` replaces table %s %s atomically\n",
		fam, rs->table);
	fprintf(out, "add table %s %s\ndelete table %s %s\n", fam, rs->table, fam, rs->table);
	fprintf(out, "table %s %s {\n", fam, rs->table);
	for (int i = 0; i < MAP_COUNT; i++)
		print_map(&rs->maps[i], rs->family, out);
	for (size_t i = 0; i < rs->n_sets; i++)
		print_set(&rs->sets[i], rs->family, out);
	for (size_t i = 0; i < rs->n_chains; i++)
		print_chain(rs->chains[i], rs->family, out);
	fputs("}\n", out);
	return ferror(out) ? -EIO : 0;
}

static int text_sync(struct backend *b, struct ruleset *rs, bool full)
{
	int err = ruleset_print(rs, stdout);

	fflush(stdout);
	if (err)
		return err;
	b->stats.syncs++;
	b->stats.last_full = true;
	ruleset_free(rs);
	return 0;
}

static int text_dump(struct backend *b, const struct ruleset *rs, FILE *out)
{
	return ruleset_print(rs, out);
}

static int text_cleanup(struct backend *b)
{
	printf("delete table %s %s\n", family_name(b->family), b->table);
	return 0;
}

const struct backend_ops backend_text_ops = {
	.name = "text",
	.sync = text_sync,
	.dump = text_dump,
	.cleanup = text_cleanup,
};
