/* Private to src/kube/decode.c (objects) and src/kube/decode_stream.c
 * (watch events, lists): the helpers both need. Not for other modules. */
#ifndef KNP_KUBE_DECODE_PRIV_H
#define KNP_KUBE_DECODE_PRIV_H

#include <stddef.h>
#include <cJSON.h>
#include "kube/decode.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Index of @s in @names[0..@n) (NULL entries never match), or -1. */
int decode_str_lookup(const char *const *names, size_t n, const char *s);

/* "Service", "EndpointSlice", "Endpoints"; NULL for an unknown @kind. */
const char *decode_kind_name(enum k8s_kind kind);

/* @key of @obj; NULL when @obj is not an object or the field is absent or
 * null (Kubernetes writes unset optional fields either way). */
const cJSON *decode_field(const cJSON *obj, const char *key);

/* "string", "number", ...: the JSON type of @v, for messages. */
const char *decode_json_type(const cJSON *v);

/* Formats into @buf (nothing when @buf is NULL or @len 0) and replaces
 * control characters: messages end up in logs as one line. */
void __attribute__((format(printf, 3, 4)))
decode_msg_set(char *buf, size_t len, const char *fmt, ...);

#endif
