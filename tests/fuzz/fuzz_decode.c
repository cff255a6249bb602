/* libFuzzer target: every decoder on arbitrary bytes (as a watch line, a
 * List body and a single object of each kind). It must never crash, leak or
 * read out of bounds, whatever the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cJSON.h>
#include "kube/decode.h"

static void drop(struct k8s_object *o, void *ctx)
{
	(void)ctx;
	k8s_object_clear(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum k8s_kind kinds[] = { K8S_SERVICE, K8S_ENDPOINT_SLICE, K8S_ENDPOINTS };
	const char *s = (const char *)data;
	char err[256];

	for (size_t i = 0; i < 3; i++) {
		struct k8s_list_result res;
		struct k8s_event ev;
		struct k8s_object o;
		cJSON *j;

		if (k8s_event_decode(kinds[i], s, size, &ev) == 0)
			k8s_event_clear(&ev);
		if (k8s_list_decode(kinds[i], s, size, drop, NULL, NULL, &res) == 0)
			free(res.continue_token);
		j = cJSON_ParseWithLength(s, size);
		if (j && k8s_object_decode(kinds[i], j, &o, err, sizeof(err)) == 0)
			k8s_object_clear(&o);
		cJSON_Delete(j);
	}
	return 0;
}
