/* kube-nftproxy: a kube-proxy replacement programming nftables. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include "config.h"
#include "daemon.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct config cfg = { 0 };
	int status;

	status = config_parse(&cfg, argc, argv);
	if (status) {
		config_free(&cfg);
		return status;
	}
	log_verbosity = cfg.verbosity;
	switch (cfg.command) {
	case CMD_HELP:
		config_usage(stdout);
		status = 0;
		break;
	case CMD_VERSION:
		printf("kube-nftproxy %s\n", PACKAGE_VERSION);
		status = 0;
		break;
	case CMD_CLEANUP:
		status = daemon_cleanup(&cfg);
		break;
	case CMD_RUN:
	case CMD_DUMP:
		if (config_load_api(&cfg) < 0) {
			status = 2;
			break;
		}
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = cfg.command == CMD_RUN ? daemon_run(&cfg) : daemon_dump(&cfg, stdout);
		curl_global_cleanup();
		break;
	}
	config_free(&cfg);
	return status;
}
