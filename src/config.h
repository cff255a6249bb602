/* Configuration: defaults, command-line flags (kube-proxy's names where the
 * meaning is the same), kubeconfig (libyaml) and in-cluster config. */
#ifndef KNP_CONFIG_H
#define KNP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "kube/types.h"

enum command {
	CMD_RUN = 0,
	CMD_DUMP,
	CMD_CLEANUP,
	CMD_VERSION,
	CMD_HELP,
};

/* How to reach the apiserver, once the kubeconfig/in-cluster config is read. */
struct api_config {
	char *server;		/* "https://host:port" or "http://..." */
	char *ca_file;		/* certificate-authority */
	char *ca_data;		/* certificate-authority-data, decoded PEM */
	size_t ca_data_len;
	char *cert_data, *key_data;	/* client-certificate/key(-data), decoded */
	size_t cert_data_len, key_data_len;
	char *cert_file, *key_file;
	char *token;		/* bearer token */
	char *token_file;	/* re-read at every request (rotation) */
	bool insecure;		/* insecure-skip-tls-verify */
};

/* Every setting of the daemon. Strings are owned (freed by config_free). */
struct config {
	enum command command;
	char *kubeconfig;		/* --kubeconfig */
	char *master;			/* --master: overrides the kubeconfig's server */
	char *hostname;			/* --hostname-override, else gethostname() */
	size_t n_cluster_cidrs;		/* --cluster-cidr */
	struct ip_prefix cluster_cidrs[8];
	size_t n_nodeport_cidrs;	/* --nodeport-addresses; 0 = every local address */
	struct ip_prefix nodeport_cidrs[16];
	char *proxy_mode;		/* --proxy-mode: backend name */
	char *table;			/* --nftables-table: table name */
	unsigned int sync_period_ms;	/* --sync-period: full resync interval */
	unsigned int min_sync_period_ms;/* --min-sync-period: at most one sync per */
	unsigned int masquerade_bit;	/* --masquerade-bit: bit number 0..31 */
	bool masquerade_all;		/* --masquerade-all */
	int verbosity;			/* -v */
	char *healthz_addr;		/* --healthz-bind-address; "" = off */
	char *metrics_addr;		/* --metrics-bind-address; "" = off */
	struct api_config api;
};

/* Defaults: one place (config.c). */
#define DEFAULT_TABLE		"kube-nftproxy"
#define DEFAULT_PROXY_MODE	"nftables"
#define DEFAULT_SYNC_PERIOD_MS	30000	/* kube-proxy's default --sync-period */
#define DEFAULT_MIN_SYNC_MS	1000	/* kube-proxy nftables' --min-sync-period */
#define DEFAULT_MASQ_BIT	14	/* kube-proxy's --iptables-masquerade-bit: 0x4000 */
#define DEFAULT_HEALTHZ_ADDR	"0.0.0.0:10256"	/* kube-proxy's defaults */
#define DEFAULT_METRICS_ADDR	"127.0.0.1:10249"

/* Parse argv into @c (zeroed by the caller). Returns 0, or 2 after printing
 * one line naming the bad flag or value to stderr (the exit status to use). */
int config_parse(struct config *c, int argc, char **argv);
/* Resolve how to reach the apiserver: --master, --kubeconfig (libyaml),
 * KUBECONFIG, or the in-cluster service account. Returns 0 or -errno after
 * logging the reason. */
int config_load_api(struct config *c);
void config_free(struct config *c);
/* Read a whole file (at most 64 MiB) into a NUL-terminated buffer the caller
 * frees; *len (may be NULL) gets its size. NULL with errno on failure. */
char *config_read_file(const char *path, size_t *len);
void config_usage(FILE *out);

/* "30s", "100ms", "1m30s", "2h", "0" -> milliseconds. Returns 0 or -EINVAL. */
int parse_duration_ms(const char *s, unsigned int *ms);

#endif
