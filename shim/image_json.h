/*
 * The one place the image code meets the JSON library (yajl): parse a document from an
 * untrusted source into a tree and read typed members; nothing else sees yajl types.
 */
#ifndef SANDBOX_IMAGE_JSON_H
#define SANDBOX_IMAGE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/error.h"

typedef struct yajl_val_s *json_val;

/* Nesting deeper than this is refused before parsing (freeing a tree recurses). */
#define JSON_MAX_DEPTH 64

/* Parses len bytes of text; what names the document in errors ("manifest from <url>"). */
int json_parse(const char *text, size_t len, json_val *out, const char *what, struct sbx_err *err);
void json_free(json_val v);
static inline void cleanup_json(json_val *v)
{
	json_free(*v);
}
#define cleanup_json_val __attribute__((cleanup(cleanup_json)))

json_val json_get(json_val obj, const char *key); /* NULL if obj is no object or key is absent */
const char *json_str(json_val v);		  /* NULL if v is no string */
const char *json_get_str(json_val obj, const char *key);
bool json_get_u64(json_val obj, const char *key, uint64_t *out); /* false unless integer >= 0 */
bool json_is_object(json_val v);
size_t json_array_len(json_val v); /* 0 if v is no array */
json_val json_array_at(json_val v, size_t i);
size_t json_object_len(json_val v);
const char *json_object_key(json_val v, size_t i);
json_val json_object_value(json_val v, size_t i);

/* Writes s as a JSON string literal (quoted, escaped). */
void json_print_string(FILE *f, const char *s);
/* Writes v as indented JSON, its nested lines indented by indent tabs. */
void json_print(FILE *f, json_val v, int indent);

#endif
