#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kube/types.h"

int ip_addr_parse(const char *s, struct ip_addr *out)
{
	struct ip_addr a;

	/* inet_pton already refuses prefixes; checking '/' keeps the rule
	 * explicit should a more lenient parser ever replace it. */
	if (!s || !*s || strchr(s, '/'))
		return -EINVAL;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;

	*out = a;
	return 0;
}

const char *ip_addr_str(const struct ip_addr *a, char *buf, size_t len)
{
	if (!len)
		return buf;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, a->bytes, buf,
		       len > INET6_ADDRSTRLEN ? INET6_ADDRSTRLEN : (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static size_t ip_addr_len(const struct ip_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, ip_addr_len(a));
}

const char *l4proto_name(enum l4proto p)
{
	switch (p) {
	case L4_TCP:
		return "tcp";
	case L4_UDP:
		return "udp";
	case L4_SCTP:
		return "sctp";
	}
	return "?";
}

uint8_t l4proto_number(enum l4proto p)
{
	switch (p) {
	case L4_TCP:
		return IPPROTO_TCP;
	case L4_UDP:
		return IPPROTO_UDP;
	case L4_SCTP:
		return IPPROTO_SCTP;
	}
	return 0;
}

void k8s_service_free(struct k8s_service *s)
{
	size_t i;

	if (!s)
		return;
	free(s->source_ranges);
	for (i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	free(s->cluster_ips);
	free(s->external_ips);
	free(s->lb_ips);
	free(s->resource_version);
	free(s->name);
	free(s->namespace);
	free(s);
}

void k8s_endpoint_slice_free(struct k8s_endpoint_slice *s)
{
	struct k8s_endpoint_slice *next;
	size_t i;

	for (; s; s = next) {
		next = s->next;
		for (i = 0; i < s->n_ports; i++)
			free(s->ports[i].name);
		free(s->ports);
		for (i = 0; i < s->n_endpoints; i++) {
			free(s->endpoints[i].node_name);
			free(s->endpoints[i].zone);
		}
		free(s->endpoints);
		free(s->resource_version);
		free(s->service_name);
		free(s->name);
		free(s->namespace);
		free(s);
	}
}

int ip_prefix_parse(const char *s, struct ip_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long len;
	unsigned int max;
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (ip_addr_parse(buf, &out->addr) < 0)
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	max = out->addr.family == AF_INET ? 32 : 128;
	if (errno || *end || end == slash + 1 || slash[1] == '-' || slash[1] == '+' || len > max)
		return -EINVAL;
	out->len = len;
	for (unsigned int i = 0; i < max / 8; i++) {
		unsigned int bits = len > i * 8 ? len - i * 8 : 0;

		out->addr.bytes[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
	}
	return 0;
}
