/* Watch events and List bodies: JSON text to k8s_event and list callbacks.
 * The objects inside go through k8s_object_decode() (decode.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/decode.h"
#include "kube/decode_priv.h"

/* A watch line holds one object, and etcd stores objects of at most about
 * 1.5 MiB by default: a line near this cap is a broken stream, not an event.
 * Refusing it bounds the memory one line can make us allocate. */
#define EVENT_LINE_MAX			(16u << 20)

static const char *const event_type_names[] = {
	[EV_ADDED] = "ADDED",
	[EV_MODIFIED] = "MODIFIED",
	[EV_DELETED] = "DELETED",
	[EV_BOOKMARK] = "BOOKMARK",
	[EV_ERROR] = "ERROR",
};

/* cJSON may read one byte past the given length (cJSON#804), so parse a
 * NUL-terminated copy; bytes after the value must be whitespace only. */
static int json_parse(const char *data, size_t len, cJSON **out,
		      const char *what, char *err, size_t errlen)
{
	const char *end = NULL;
	char *buf;
	size_t off;

	*out = NULL;
	if (!data) {
		decode_msg_set(err, errlen, "%s: no data", what);
		return -EINVAL;
	}
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, len);
	buf[len] = '\0';
	*out = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	off = end && end >= buf ? (size_t)(end - buf) : 0;
	if (!*out) {
		decode_msg_set(err, errlen, "%s: malformed JSON near offset %zu",
			what, off);
		free(buf);
		return -EINVAL;
	}
	for (; off < len; off++) {
		if (!buf[off] || !strchr(" \t\r\n", buf[off])) {
			decode_msg_set(err, errlen, "%s: trailing data at offset %zu",
				what, off);
			cJSON_Delete(*out);
			*out = NULL;
			free(buf);
			return -EINVAL;
		}
	}
	free(buf);
	return 0;
}

/* Copies @s into a fixed array; -EINVAL when it does not fit. */
static int copy_fixed(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return -EINVAL;
	memcpy(dst, s, n + 1);
	return 0;
}

/* The Status of an ERROR event. */
static int event_status(const cJSON *st, struct k8s_event *ev)
{
	const cJSON *code = decode_field(st, "code");
	const cJSON *msg = decode_field(st, "message");

	if (code && (!cJSON_IsNumber(code) || code->valuedouble < 0 ||
		     code->valuedouble > 999)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: ERROR: object.code: expected HTTP status");
		return -EINVAL;
	}
	if (msg && !cJSON_IsString(msg)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: ERROR: object.message: expected string, got %s",
			decode_json_type(msg));
		return -EINVAL;
	}
	ev->code = code ? (int)code->valuedouble : 0;
	/* A long message is still worth logging, so truncate it. */
	decode_msg_set(ev->err_msg, sizeof(ev->err_msg), "%s",
		msg ? msg->valuestring : "");
	return 0;
}

static const cJSON *meta_rv(const cJSON *obj)
{
	return decode_field(decode_field(obj, "metadata"), "resourceVersion");
}

/* A BOOKMARK only carries the resourceVersion to resume from: a truncated
 * or mistyped one would be worse than none. */
static int event_bookmark(const cJSON *obj, struct k8s_event *ev)
{
	const cJSON *rv = meta_rv(obj);

	if (!cJSON_IsString(rv) ||
	    copy_fixed(ev->resource_version, sizeof(ev->resource_version),
		       rv->valuestring)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: BOOKMARK: object.metadata.resourceVersion: %s",
			rv ? "not a string of < 64 bytes" : "missing");
		return -EINVAL;
	}
	return 0;
}

static int event_object(enum k8s_kind kind, const cJSON *obj,
			struct k8s_event *ev)
{
	const cJSON *md = decode_field(obj, "metadata");
	const cJSON *ns = decode_field(md, "namespace");
	const cJSON *name = decode_field(md, "name");
	const cJSON *rv = meta_rv(obj);
	int ret;

	/* Best effort: these name the object in logs even when it is bad. */
	if (cJSON_IsString(name) &&
	    !copy_fixed(ev->name, sizeof(ev->name), name->valuestring)) {
		if (!cJSON_IsString(ns) || !*ns->valuestring ||
		    copy_fixed(ev->namespace, sizeof(ev->namespace),
			       ns->valuestring))
			snprintf(ev->namespace, sizeof(ev->namespace), "default");
	}
	ret = k8s_object_decode(kind, obj, &ev->obj, ev->err_msg,
				sizeof(ev->err_msg));
	if (ret == -ENOMEM)
		return ret;
	/* An invalid object is still a valid event: the caller decides. */
	if (cJSON_IsString(rv) &&
	    copy_fixed(ev->resource_version, sizeof(ev->resource_version),
		       rv->valuestring) && !ret) {
		k8s_object_clear(&ev->obj);
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"%s %s/%s: metadata.resourceVersion: longer than %zu bytes",
			decode_kind_name(kind), ev->namespace, ev->name,
			sizeof(ev->resource_version) - 1);
	}
	return 0;
}

static int event_decode(enum k8s_kind kind, const cJSON *root,
			struct k8s_event *ev)
{
	const cJSON *type, *obj;
	int t;

	if (!cJSON_IsObject(root)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: expected a JSON object, got %s",
			decode_json_type(root));
		return -EINVAL;
	}
	type = decode_field(root, "type");
	obj = decode_field(root, "object");
	if (!cJSON_IsString(type)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: type: expected string, got %s",
			type ? decode_json_type(type) : "nothing");
		return -EINVAL;
	}
	t = decode_str_lookup(event_type_names, ARRAY_SIZE(event_type_names),
		       type->valuestring);
	if (t < 0) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: type: unknown \"%.32s\"", type->valuestring);
		return -EINVAL;
	}
	ev->type = t;
	if (!cJSON_IsObject(obj)) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: object: expected object, got %s",
			obj ? decode_json_type(obj) : "nothing");
		return -EINVAL;
	}
	switch (ev->type) {
	case EV_ERROR:
		return event_status(obj, ev);
	case EV_BOOKMARK:
		return event_bookmark(obj, ev);
	default:
		return event_object(kind, obj, ev);
	}
}

int k8s_event_decode(enum k8s_kind kind, const char *line, size_t len,
		     struct k8s_event *ev)
{
	cJSON *root;
	int ret;

	memset(ev, 0, sizeof(*ev));
	ev->obj.kind = kind;
	if (len > EVENT_LINE_MAX) {
		decode_msg_set(ev->err_msg, sizeof(ev->err_msg),
			"watch event: %zu bytes, more than the %u byte limit",
			len, EVENT_LINE_MAX);
		return -EINVAL;
	}
	ret = json_parse(line, len, &root, "watch event", ev->err_msg,
			 sizeof(ev->err_msg));
	if (ret)
		return ret;
	ret = event_decode(kind, root, ev);
	cJSON_Delete(root);
	if (ret)
		k8s_object_clear(&ev->obj);
	return ret;
}

void k8s_event_clear(struct k8s_event *ev)
{
	k8s_object_clear(&ev->obj);
}

/* Checks that @root is a List and reads its metadata into @res. */
static int list_header(enum k8s_kind want, const cJSON *root,
		       struct k8s_list_result *res, char *msg, size_t msglen)
{
	const cJSON *kind = decode_field(root, "kind");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
	const cJSON *md = decode_field(root, "metadata");
	const cJSON *rv = decode_field(md, "resourceVersion");
	const cJSON *cont = decode_field(md, "continue");
	const char *want_name = decode_kind_name(want);
	size_t n = 0;

	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Status")) {
		const cJSON *code = decode_field(root, "code");
		const cJSON *text = decode_field(root, "message");

		decode_msg_set(msg, msglen, "list: got a Status (code %d): %.200s",
			cJSON_IsNumber(code) ? code->valueint : 0,
			cJSON_IsString(text) ? text->valuestring : "");
		return -EINVAL;
	}
	if (kind && (!cJSON_IsString(kind) ||
		     (n = strlen(kind->valuestring)) < 4 ||
		     strcmp(kind->valuestring + n - 4, "List"))) {
		decode_msg_set(msg, msglen, "list: kind: not a List");
		return -EINVAL;
	}
	/* "List" (kubectl) says nothing; "FooList" must match what we asked. */
	if (kind && n > 4 && want_name &&
	    (n - 4 != strlen(want_name) ||
	     strncmp(kind->valuestring, want_name, n - 4))) {
		decode_msg_set(msg, msglen, "list: kind: got %.32s, expected %sList",
			kind->valuestring, want_name);
		return -EINVAL;
	}
	if (!items || (!cJSON_IsNull(items) && !cJSON_IsArray(items))) {
		decode_msg_set(msg, msglen, "list: items: %s",
			items ? "expected array" : "missing");
		return -EINVAL;
	}
	if ((md && !cJSON_IsObject(md)) || (rv && !cJSON_IsString(rv)) ||
	    (cont && !cJSON_IsString(cont))) {
		decode_msg_set(msg, msglen, "list: metadata: wrong JSON type");
		return -EINVAL;
	}
	if (rv && copy_fixed(res->resource_version,
			     sizeof(res->resource_version), rv->valuestring)) {
		decode_msg_set(msg, msglen, "list: metadata.resourceVersion: too long");
		return -EINVAL;
	}
	if (cont && *cont->valuestring) {
		res->continue_token = strdup(cont->valuestring);
		if (!res->continue_token)
			return -ENOMEM;
	}
	return 0;
}

int k8s_list_decode(enum k8s_kind kind, const char *body, size_t len,
		    k8s_item_cb cb, k8s_err_cb err_cb, void *ctx,
		    struct k8s_list_result *res)
{
	struct k8s_list_result r;
	const cJSON *item;
	struct k8s_object o;
	char msg[256];
	cJSON *root;
	int ret;

	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	msg[0] = '\0';
	ret = json_parse(body, len, &root, "list", msg, sizeof(msg));
	if (!ret && !cJSON_IsObject(root)) {
		decode_msg_set(msg, sizeof(msg), "list: expected a JSON object, got %s",
			decode_json_type(root));
		ret = -EINVAL;
	}
	if (!ret)
		ret = list_header(kind, root, &r, msg, sizeof(msg));
	if (ret)
		goto out;

	cJSON_ArrayForEach(item, decode_field(root, "items")) {
		ret = k8s_object_decode(kind, item, &o, msg, sizeof(msg));
		if (ret == -ENOMEM)
			goto out;
		if (ret) {
			const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
			const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");

			r.invalid++;
			if (err_cb)
				err_cb(msg, cJSON_IsString(ns) ? ns->valuestring : "default",
				       cJSON_IsString(name) ? name->valuestring : NULL, ctx);
			continue;
		}
		r.items++;
		if (cb)
			cb(&o, ctx);
		else
			k8s_object_clear(&o);
	}
	ret = 0;
out:
	cJSON_Delete(root);
	if (ret) {
		/* Body-level failures are logged like item failures, once,
		 * here where the reason is known. */
		if (ret == -EINVAL && err_cb && msg[0])
			err_cb(msg, NULL, NULL, ctx);
		free(r.continue_token);
		return ret;
	}
	if (res)
		*res = r;
	else
		free(r.continue_token);
	return 0;
}
