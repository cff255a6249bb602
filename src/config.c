#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <yaml.h>
#include "config.h"
#include "log.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

enum {
	OPT_KUBECONFIG = 256, OPT_MASTER, OPT_HOSTNAME, OPT_CLUSTER_CIDR,
	OPT_NODEPORT_ADDRS, OPT_PROXY_MODE, OPT_SYNC_PERIOD, OPT_MIN_SYNC_PERIOD,
	OPT_TABLE, OPT_MASQ_BIT, OPT_MASQ_ALL, OPT_HELP, OPT_VERSION, OPT_HEALTHZ, OPT_METRICS,
};

static const struct option long_opts[] = {
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "master", required_argument, NULL, OPT_MASTER },
	{ "hostname-override", required_argument, NULL, OPT_HOSTNAME },
	{ "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR },
	{ "nodeport-addresses", required_argument, NULL, OPT_NODEPORT_ADDRS },
	{ "proxy-mode", required_argument, NULL, OPT_PROXY_MODE },
	{ "sync-period", required_argument, NULL, OPT_SYNC_PERIOD },
	{ "min-sync-period", required_argument, NULL, OPT_MIN_SYNC_PERIOD },
	{ "nftables-table", required_argument, NULL, OPT_TABLE },
	{ "masquerade-bit", required_argument, NULL, OPT_MASQ_BIT },
	{ "masquerade-all", no_argument, NULL, OPT_MASQ_ALL },
	{ "healthz-bind-address", required_argument, NULL, OPT_HEALTHZ },
	{ "metrics-bind-address", required_argument, NULL, OPT_METRICS },
	{ "v", required_argument, NULL, 'v' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void config_usage(FILE *out)
{
	fprintf(out,
"Usage: kube-nftproxy [run|dump|cleanup|version] [flags]\n"
"\n"
"Commands:\n"
"  run       watch the apiserver and program nftables (default)\n"
"  dump      list once and print the ruleset in nft syntax; touches nothing\n"
"  cleanup   delete the tables kube-nftproxy owns\n"
"  version   print the version\n"
"\n"
"Flags:\n"
"  --kubeconfig FILE            kubeconfig with the apiserver and credentials\n"
"  --master URL                 apiserver URL (http:// or https://); overrides the kubeconfig\n"
"  --hostname-override NAME     this node's name (default: the hostname)\n"
"  --cluster-cidr CIDR[,CIDR]   pod ranges: traffic to a ClusterIP from outside them is masqueraded\n"
"  --nodeport-addresses CIDR[,CIDR]\n"
"                               local addresses NodePorts answer on (default: every local\n"
"                               address except loopback)\n"
"  --proxy-mode NAME            backend: nftables (default) or text\n"
"  --sync-period DURATION       periodic resync interval (default 30s; full every hour)\n"
"  --min-sync-period DURATION   minimum time between syncs (default 1s)\n"
"  --masquerade-bit N           fwmark bit for masquerading, 0..31 (default 14)\n"
"  --masquerade-all             masquerade all traffic to Services\n"
"  --nftables-table NAME        nftables table name (default kube-nftproxy)\n"
"  --healthz-bind-address IP:PORT\n"
"                               /healthz and /livez (default 0.0.0.0:10256; \"\" = off)\n"
"  --metrics-bind-address IP:PORT\n"
"                               /metrics, Prometheus text (default 127.0.0.1:10249; \"\" = off)\n"
"  -v, --v N                    log verbosity (0..9; 4 shows each netlink batch)\n"
"  --version                    print the version\n"
"  -h, --help                   this help\n"
"Durations: 500ms, 30s, 1m, 1h30m.\n");
}

int parse_duration_ms(const char *s, unsigned int *ms)
{
	unsigned long long total = 0;
	const char *p = s;

	if (!*s)
		return -EINVAL;
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		unsigned long long v = 0, mult;
		const char *start = p;

		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (v > 1000000000ULL)
				return -EINVAL;
		}
		if (p == start)
			return -EINVAL;
		if (!strncmp(p, "ms", 2)) {
			mult = 1;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else {
			return -EINVAL;
		}
		total += v * mult;
		if (total > UINT_MAX)
			return -EINVAL;
	}
	*ms = total;
	return 0;
}

static int parse_cidr_list(const char *flag, const char *arg, struct ip_prefix *v,
			   size_t max, size_t *n)
{
	char *copy = strdup(arg), *tok, *save = NULL;

	if (!copy)
		return 2;
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == max) {
			fprintf(stderr, "kube-nftproxy: %s: at most %zu CIDRs\n", flag, max);
			free(copy);
			return 2;
		}
		if (ip_prefix_parse(tok, &v[*n]) < 0) {
			fprintf(stderr, "kube-nftproxy: invalid value for %s: '%s' is not a CIDR\n",
				flag, tok);
			free(copy);
			return 2;
		}
		(*n)++;
	}
	free(copy);
	if (!*n) {
		fprintf(stderr, "kube-nftproxy: invalid value for %s: empty\n", flag);
		return 2;
	}
	return 0;
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : 2;
}

static int parse_uint(const char *flag, const char *arg, unsigned int max, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || !*arg || *end || v > max || arg[0] == '-') {
		fprintf(stderr, "kube-nftproxy: invalid value for %s: '%s' (want 0..%u)\n",
			flag, arg, max);
		return 2;
	}
	*out = v;
	return 0;
}

static int parse_dur(const char *flag, const char *arg, unsigned int *out)
{
	if (parse_duration_ms(arg, out) < 0) {
		fprintf(stderr, "kube-nftproxy: invalid value for %s: '%s' (want a duration such as 30s or 500ms)\n",
			flag, arg);
		return 2;
	}
	return 0;
}

/* Node names are lowercase DNS names: trim and lowercase the hostname or
 * --hostname-override, as kube-proxy does, so it matches nodeName. */
static void normalize_node_name(char *s)
{
	char *start = s, *end;

	while (isspace((unsigned char)*start))
		start++;
	memmove(s, start, strlen(start) + 1);
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

static const struct {
	const char *name;
	enum command cmd;
} commands[] = {
	{ "run", CMD_RUN }, { "dump", CMD_DUMP }, { "cleanup", CMD_CLEANUP },
	{ "version", CMD_VERSION }, { "help", CMD_HELP },
};

int config_parse(struct config *c, int argc, char **argv)
{
	unsigned int v;
	int opt, ret = 0;

	c->command = CMD_RUN;
	c->sync_period_ms = DEFAULT_SYNC_PERIOD_MS;
	c->min_sync_period_ms = DEFAULT_MIN_SYNC_MS;
	c->masquerade_bit = DEFAULT_MASQ_BIT;
	if (set_str(&c->proxy_mode, DEFAULT_PROXY_MODE) || set_str(&c->table, DEFAULT_TABLE) ||
	    set_str(&c->healthz_addr, DEFAULT_HEALTHZ_ADDR) ||
	    set_str(&c->metrics_addr, DEFAULT_METRICS_ADDR))
		return 2;
	if (argc > 1 && argv[1][0] != '-') {
		size_t i;

		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(argv[1], commands[i].name))
				break;
		if (i == sizeof(commands) / sizeof(commands[0])) {
			fprintf(stderr, "kube-nftproxy: unknown command '%s' (run, dump, cleanup, version)\n",
				argv[1]);
			return 2;
		}
		c->command = commands[i].cmd;
		argv++;
		argc--;
	}
	opterr = 0;
	optind = 1;
	while (!ret && (opt = getopt_long(argc, argv, ":hv:", long_opts, NULL)) != -1) {
		const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

		switch (opt) {
		case OPT_KUBECONFIG: ret = set_str(&c->kubeconfig, optarg); break;
		case OPT_MASTER: ret = set_str(&c->master, optarg); break;
		case OPT_HOSTNAME: ret = set_str(&c->hostname, optarg); break;
		case OPT_CLUSTER_CIDR:
			ret = parse_cidr_list("--cluster-cidr", optarg, c->cluster_cidrs, 8,
					      &c->n_cluster_cidrs);
			break;
		case OPT_NODEPORT_ADDRS:
			ret = parse_cidr_list("--nodeport-addresses", optarg, c->nodeport_cidrs,
					      16, &c->n_nodeport_cidrs);
			break;
		case OPT_PROXY_MODE: ret = set_str(&c->proxy_mode, optarg); break;
		case OPT_TABLE:
			if (!*optarg || strlen(optarg) > 200 || !isalpha((unsigned char)optarg[0]) ||
			    optarg[strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")]) {
				fprintf(stderr, "kube-nftproxy: invalid value for --nftables-table: '%s' (letters, digits, _ and -, starting with a letter)\n", optarg);
				ret = 2;
				break;
			}
			ret = set_str(&c->table, optarg);
			break;
		case OPT_SYNC_PERIOD:
			ret = parse_dur("--sync-period", optarg, &c->sync_period_ms);
			if (!ret && !c->sync_period_ms) {
				fprintf(stderr, "kube-nftproxy: invalid value for --sync-period: must be > 0\n");
				ret = 2;
			}
			break;
		case OPT_MIN_SYNC_PERIOD:
			ret = parse_dur("--min-sync-period", optarg, &c->min_sync_period_ms);
			break;
		case OPT_MASQ_BIT:
			ret = parse_uint("--masquerade-bit", optarg, 31, &c->masquerade_bit);
			break;
		case OPT_MASQ_ALL: c->masquerade_all = true; break;
		case OPT_HEALTHZ: ret = set_str(&c->healthz_addr, optarg); break;
		case OPT_METRICS: ret = set_str(&c->metrics_addr, optarg); break;
		case 'v':
			ret = parse_uint("-v", optarg, 9, &v);
			c->verbosity = v;
			break;
		case 'h':
		case OPT_HELP: c->command = CMD_HELP; break;
		case OPT_VERSION: c->command = CMD_VERSION; break;
		case ':':
			fprintf(stderr, "kube-nftproxy: flag %s needs a value\n", flag);
			ret = 2;
			break;
		default:
			if (optopt)
				fprintf(stderr, "kube-nftproxy: unknown flag -%c (see --help)\n", optopt);
			else
				fprintf(stderr, "kube-nftproxy: unknown flag %s (see --help)\n", flag);
			ret = 2;
			break;
		}
	}
	if (!ret && optind < argc) {
		fprintf(stderr, "kube-nftproxy: unexpected argument '%s'\n", argv[optind]);
		ret = 2;
	}
	if (!ret && !c->hostname) {
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		ret = set_str(&c->hostname, host);
	}
	if (!ret)
		normalize_node_name(c->hostname);
	return ret;
}

/* ---- apiserver access ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (64u << 20) || !(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				errno = EFBIG;
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, 4096, f);

		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* base64 (RFC 4648) decode; returns malloc'd bytes or NULL. */
static char *b64_decode(const char *in, size_t *out_len)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), n = 0;
	char *out = malloc(len / 4 * 3 + 4);
	unsigned int acc = 0;
	int bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		const char *p;

		if (in[i] == '=' || isspace((unsigned char)in[i]))
			continue;
		p = strchr(tbl, in[i]);
		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned int)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits);
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Look up @key in mapping node @map; NULL when absent or not a mapping. */
static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *yscalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* In a list of {name: X, <field>: {...}} find X's <field>. */
static yaml_node_t *ynamed(yaml_document_t *d, const char *list, const char *name,
			   const char *field)
{
	yaml_node_t *l = ymap_get(d, yaml_document_get_root_node(d), list);

	if (!l || l->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (yaml_node_item_t *it = l->data.sequence.items.start;
	     it < l->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(d, *it);
		const char *n = yscalar(ymap_get(d, e, "name"));

		if (n && !strcmp(n, name))
			return ymap_get(d, e, field);
	}
	return NULL;
}

/* Relative paths in a kubeconfig are relative to the file's directory. */
static char *kc_path(const char *kubeconfig, const char *p)
{
	const char *slash = strrchr(kubeconfig, '/');
	char *out;

	if (p[0] == '/' || !slash)
		return strdup(p);
	if (asprintf(&out, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p) < 0)
		return NULL;
	return out;
}

static int kc_data(const char *v, char **data, size_t *len)
{
	if (!v)
		return 0;
	*data = b64_decode(v, len);
	return *data ? 0 : -EINVAL;
}

static int load_kubeconfig(struct config *c, const char *path)
{
	struct api_config *a = &c->api;
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *cluster, *user;
	const char *ctx_name, *cluster_name = NULL, *user_name = NULL, *v;
	FILE *f = fopen(path, "rb");
	int ret = 0;

	if (!f) {
		log_err("kubeconfig %s: %s", path, strerror(errno));
		return -errno;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc) || !yaml_document_get_root_node(&doc)) {
		log_err("kubeconfig %s: not valid YAML (line %zu: %s)", path,
			parser.problem_mark.line + 1, parser.problem ? parser.problem : "empty");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	ctx_name = yscalar(ymap_get(&doc, yaml_document_get_root_node(&doc), "current-context"));
	if (ctx_name) {
		yaml_node_t *ctx = ynamed(&doc, "contexts", ctx_name, "context");

		cluster_name = yscalar(ymap_get(&doc, ctx, "cluster"));
		user_name = yscalar(ymap_get(&doc, ctx, "user"));
	}
	cluster = ynamed(&doc, "clusters", cluster_name, "cluster");
	if (!cluster) {	/* no usable context: take the first cluster and user */
		yaml_node_t *l = ymap_get(&doc, yaml_document_get_root_node(&doc), "clusters");

		if (l && l->type == YAML_SEQUENCE_NODE && l->data.sequence.items.top > l->data.sequence.items.start)
			cluster = ymap_get(&doc, yaml_document_get_node(&doc, *l->data.sequence.items.start), "cluster");
	}
	user = ynamed(&doc, "users", user_name, "user");
	if (!cluster || !(v = yscalar(ymap_get(&doc, cluster, "server")))) {
		log_err("kubeconfig %s: no cluster with a server", path);
		ret = -EINVAL;
		goto out;
	}
	a->server = strdup(v);
	if ((v = yscalar(ymap_get(&doc, cluster, "certificate-authority"))))
		a->ca_file = kc_path(path, v);
	ret |= kc_data(yscalar(ymap_get(&doc, cluster, "certificate-authority-data")),
		       &a->ca_data, &a->ca_data_len);
	v = yscalar(ymap_get(&doc, cluster, "insecure-skip-tls-verify"));
	a->insecure = v && !strcmp(v, "true");
	if (user) {
		if ((v = yscalar(ymap_get(&doc, user, "token"))))
			a->token = strdup(v);
		if ((v = yscalar(ymap_get(&doc, user, "tokenFile"))))
			a->token_file = kc_path(path, v);
		if ((v = yscalar(ymap_get(&doc, user, "client-certificate"))))
			a->cert_file = kc_path(path, v);
		if ((v = yscalar(ymap_get(&doc, user, "client-key"))))
			a->key_file = kc_path(path, v);
		ret |= kc_data(yscalar(ymap_get(&doc, user, "client-certificate-data")),
			       &a->cert_data, &a->cert_data_len);
		ret |= kc_data(yscalar(ymap_get(&doc, user, "client-key-data")),
			       &a->key_data, &a->key_data_len);
	}
	if (ret) {
		log_err("kubeconfig %s: a *-data field is not valid base64", path);
		ret = -EINVAL;
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

int config_load_api(struct config *c)
{
	const char *kc = c->kubeconfig;
	const char *host, *port;
	int ret;

	if (!kc && !c->master)
		kc = getenv("KUBECONFIG");
	if (kc && *kc) {
		ret = load_kubeconfig(c, kc);
		if (ret < 0)
			return ret;
	} else if (!c->master && (host = getenv("KUBERNETES_SERVICE_HOST")) &&
		   (port = getenv("KUBERNETES_SERVICE_PORT"))) {
		/* in-cluster: the service account the kubelet mounts */
		bool v6 = strchr(host, ':') != NULL;

		if (asprintf(&c->api.server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
			return -ENOMEM;
		c->api.ca_file = strdup(SA_DIR "/ca.crt");
		c->api.token_file = strdup(SA_DIR "/token");
	}
	if (c->master) {
		free(c->api.server);
		c->api.server = strdup(c->master);
	}
	if (!c->api.server) {
		log_err("no apiserver: give --master, --kubeconfig, KUBECONFIG, or run in a cluster");
		return -EINVAL;
	}
	if (strncmp(c->api.server, "http://", 7) && strncmp(c->api.server, "https://", 8)) {
		log_err("apiserver URL '%s' must start with http:// or https://", c->api.server);
		return -EINVAL;
	}
	/* drop a trailing slash so paths join cleanly */
	size_t n = strlen(c->api.server);

	while (n > 8 && c->api.server[n - 1] == '/')
		c->api.server[--n] = '\0';
	return 0;
}

char *config_read_file(const char *path, size_t *len)
{
	return read_file(path, len);
}

void config_free(struct config *c)
{
	struct api_config *a = &c->api;

	free(c->kubeconfig);
	free(c->master);
	free(c->hostname);
	free(c->proxy_mode);
	free(c->table);
	free(c->healthz_addr);
	free(c->metrics_addr);
	free(a->server);
	free(a->ca_file);
	free(a->ca_data);
	free(a->cert_data);
	free(a->key_data);
	free(a->cert_file);
	free(a->key_file);
	free(a->token);
	free(a->token_file);
	memset(c, 0, sizeof(*c));
}
