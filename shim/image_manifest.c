/* OCI / docker schema 2 manifests, indexes and configs (image_manifest.h). */
#include "image_manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_json.h"

enum manifest_kind manifest_kind(const char *body, size_t len, const char *content_type)
{
	cleanup_json_val json_val doc = NULL;
	if (json_parse(body, len, &doc, "manifest", NULL) < 0)
		return MANIFEST_UNKNOWN;
	const char *mt = json_get_str(doc, "mediaType");
	if (!mt && content_type)
		mt = content_type;
	if (mt && (!strncmp(mt, MT_OCI_INDEX, strlen(MT_OCI_INDEX)) ||
		   !strncmp(mt, MT_DOCKER_LIST, strlen(MT_DOCKER_LIST))))
		return MANIFEST_INDEX;
	if (mt && (!strncmp(mt, MT_OCI_MANIFEST, strlen(MT_OCI_MANIFEST)) ||
		   !strncmp(mt, MT_DOCKER_MANIFEST, strlen(MT_DOCKER_MANIFEST))))
		return MANIFEST_IMAGE;
	if (json_array_len(json_get(doc, "manifests")))
		return MANIFEST_INDEX;
	if (json_get(doc, "config") && json_get(doc, "layers"))
		return MANIFEST_IMAGE;
	return MANIFEST_UNKNOWN;
}

/* A descriptor: {mediaType, digest, size}; every field required and checked. */
static int descriptor(json_val d, struct image_layer *out)
{
	const char *mt = json_get_str(d, "mediaType"), *digest = json_get_str(d, "digest");
	if (!mt || strlen(mt) >= sizeof(out->media_type) || !image_digest_valid(digest) ||
	    !json_get_u64(d, "size", &out->size))
		return -EBADMSG;
	snprintf(out->media_type, sizeof(out->media_type), "%s", mt);
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	return 0;
}

int manifest_parse(const char *body, size_t len, const char *what, struct image_manifest *out,
		   struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	cleanup_json_val json_val doc = NULL;
	int r = json_parse(body, len, &doc, what, err);
	if (r < 0)
		return r;
	uint64_t version = 0;
	if (!json_get_u64(doc, "schemaVersion", &version) || version != 2)
		return sbx_err_setx(err, ENOTSUP,
				    "%s: schemaVersion %llu is not supported (only 2)", what,
				    (unsigned long long)version);
	if (descriptor(json_get(doc, "config"), &out->config) < 0)
		return sbx_err_setx(err, EBADMSG, "%s: config descriptor missing or malformed",
				    what);
	json_val layers = json_get(doc, "layers");
	size_t n = json_array_len(layers);
	if (n > MANIFEST_MAX_LAYERS)
		return sbx_err_setx(err, E2BIG, "%s: %zu layers, more than %d", what, n,
				    MANIFEST_MAX_LAYERS);
	out->layers = calloc(n ? n : 1, sizeof(*out->layers));
	if (!out->layers)
		return sbx_err_set(err, ENOMEM, "%s", what);
	for (size_t i = 0; i < n; i++) {
		if (descriptor(json_array_at(layers, i), &out->layers[i]) < 0) {
			manifest_free(out);
			return sbx_err_setx(err, EBADMSG, "%s: layer %zu: descriptor malformed",
					    what, i);
		}
	}
	out->n_layers = n;
	return 0;
}

void manifest_free(struct image_manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->n_layers = 0;
}

int manifest_index_pick(const char *body, size_t len, const char *what,
			char digest[IMAGE_DIGEST_MAX], struct sbx_err *err)
{
	cleanup_json_val json_val doc = NULL;
	int r = json_parse(body, len, &doc, what, err);
	if (r < 0)
		return r;
	json_val list = json_get(doc, "manifests");
	char seen[256] = "";
	size_t used = 0;
	for (size_t i = 0; i < json_array_len(list); i++) {
		json_val m = json_array_at(list, i), p = json_get(m, "platform");
		const char *os = json_get_str(p, "os"), *arch = json_get_str(p, "architecture");
		const char *d = json_get_str(m, "digest");
		if (!os || !arch || !image_digest_valid(d))
			continue;
		if (!strcmp(os, IMAGE_PLATFORM_OS) && !strcmp(arch, IMAGE_PLATFORM_ARCH)) {
			snprintf(digest, IMAGE_DIGEST_MAX, "%s", d);
			return 0;
		}
		int n = snprintf(seen + used, sizeof(seen) - used, "%s%.32s/%.32s",
				 used ? ", " : "", os, arch);
		if (n > 0 && used + (size_t)n < sizeof(seen))
			used += (size_t)n;
	}
	return sbx_err_setx(err, ENOENT, "%s: no image for %s/%s (it has: %s)", what,
			    IMAGE_PLATFORM_OS, IMAGE_PLATFORM_ARCH, used ? seen : "none");
}

int image_config_check(const char *body, size_t len, const char *what, char **created,
		       struct sbx_err *err)
{
	*created = NULL;
	cleanup_json_val json_val doc = NULL;
	int r = json_parse(body, len, &doc, what, err);
	if (r < 0)
		return r;
	if (!json_is_object(doc))
		return sbx_err_setx(err, EBADMSG, "%s: not a JSON object", what);
	const char *os = json_get_str(doc, "os"), *arch = json_get_str(doc, "architecture");
	if ((os && strcmp(os, IMAGE_PLATFORM_OS)) || (arch && strcmp(arch, IMAGE_PLATFORM_ARCH)))
		return sbx_err_setx(err, ENOEXEC, "%s: image is for %.32s/%.32s, not %s/%s", what,
				    os ? os : "?", arch ? arch : "?", IMAGE_PLATFORM_OS,
				    IMAGE_PLATFORM_ARCH);
	const char *c = json_get_str(doc, "created");
	if (c && strlen(c) < 64 && !(*created = strdup(c)))
		return sbx_err_set(err, ENOMEM, "%s", what);
	return 0;
}
