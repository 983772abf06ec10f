/* yajl behind image_json.h. */
#include "image_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "../common/cleanup.h"

static bool depth_ok(const char *text, size_t len)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

int json_parse(const char *text, size_t len, json_val *out, const char *what, struct sbx_err *err)
{
	*out = NULL;
	if (memchr(text, '\0', len))
		return sbx_err_setx(err, EBADMSG, "%s: not JSON (NUL byte)", what);
	if (!depth_ok(text, len))
		return sbx_err_setx(err, EBADMSG, "%s: JSON nested deeper than %d", what,
				    JSON_MAX_DEPTH);
	cleanup_free char *copy = strndup(text, len);
	if (!copy)
		return sbx_err_set(err, ENOMEM, "%s", what);
	char msg[256] = "";
	*out = yajl_tree_parse(copy, msg, sizeof(msg));
	if (!*out) {
		msg[strcspn(msg, "\n")] = '\0';
		return sbx_err_setx(err, EBADMSG, "%s: invalid JSON: %s", what, msg);
	}
	return 0;
}

void json_free(json_val v)
{
	if (v)
		yajl_tree_free(v);
}

bool json_is_object(json_val v)
{
	return YAJL_IS_OBJECT(v);
}

json_val json_get(json_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

const char *json_str(json_val v)
{
	return YAJL_GET_STRING(v);
}

const char *json_get_str(json_val obj, const char *key)
{
	return json_str(json_get(obj, key));
}

bool json_get_u64(json_val obj, const char *key, uint64_t *out)
{
	json_val v = json_get(obj, key);
	if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
		return false;
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return true;
}

size_t json_array_len(json_val v)
{
	return YAJL_IS_ARRAY(v) ? v->u.array.len : 0;
}

json_val json_array_at(json_val v, size_t i)
{
	return i < json_array_len(v) ? v->u.array.values[i] : NULL;
}

size_t json_object_len(json_val v)
{
	return YAJL_IS_OBJECT(v) ? v->u.object.len : 0;
}

const char *json_object_key(json_val v, size_t i)
{
	return i < json_object_len(v) ? v->u.object.keys[i] : NULL;
}

json_val json_object_value(json_val v, size_t i)
{
	return i < json_object_len(v) ? v->u.object.values[i] : NULL;
}

void json_print_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void newline(FILE *f, int indent)
{
	fputc('\n', f);
	for (int i = 0; i < indent; i++)
		fputs("    ", f);
}

/* Depth is bounded by JSON_MAX_DEPTH (json_parse refuses deeper documents). */
void json_print(FILE *f, json_val v, int indent)
{
	if (YAJL_IS_STRING(v)) {
		json_print_string(f, v->u.string);
	} else if (YAJL_IS_NUMBER(v)) {
		fputs(v->u.number.r, f);
	} else if (YAJL_IS_OBJECT(v) || YAJL_IS_ARRAY(v)) {
		bool obj = YAJL_IS_OBJECT(v);
		size_t n = obj ? v->u.object.len : v->u.array.len;
		fputc(obj ? '{' : '[', f);
		for (size_t i = 0; i < n; i++) {
			newline(f, indent + 1);
			if (obj) {
				json_print_string(f, v->u.object.keys[i]);
				fputs(": ", f);
			}
			json_print(f, obj ? v->u.object.values[i] : v->u.array.values[i],
				   indent + 1);
			if (i + 1 < n)
				fputc(',', f);
		}
		if (n)
			newline(f, indent);
		fputc(obj ? '}' : ']', f);
	} else {
		fputs(YAJL_IS_TRUE(v) ? "true" : YAJL_IS_FALSE(v) ? "false" : "null", f);
	}
}
