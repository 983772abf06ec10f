/*
 * libFuzzer target for the parsers of untrusted image metadata: image references, manifests,
 * indexes / manifest lists and image configs (shim/image_ref.c, shim/image_manifest.c,
 * shim/image_json.c), and archive member paths (shim/image_load_src.c's normaliser).
 * The first input byte selects the parser; the rest is its input.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/image_load_src.h"
#include "../../shim/image_manifest.h"
#include "../../shim/image_ref.h"

static void check_ref(const char *s)
{
	struct image_ref r;
	struct sbx_err err = {0};
	if (image_ref_parse(s, true, &r, &err) < 0) {
		assert(err.code == EINVAL && err.msg[0]);
		return;
	}
	/* a parsed reference prints as one that parses to the same thing */
	char buf[1024];
	struct image_ref again;
	assert(image_ref_format(&r, buf, sizeof(buf)) == 0);
	assert(image_ref_parse(buf, true, &again, NULL) == 0);
	assert(!strcmp(again.name, r.name) && !strcmp(again.tag, r.tag) &&
	       !strcmp(again.digest, r.digest));
}

static void check_manifest(const char *s, size_t len)
{
	struct image_manifest m;
	struct sbx_err err = {0};
	manifest_kind(s, len, NULL);
	if (manifest_parse(s, len, "fuzz", &m, &err) == 0) {
		assert(image_digest_valid(m.config.digest));
		for (size_t i = 0; i < m.n_layers; i++)
			assert(image_digest_valid(m.layers[i].digest));
		manifest_free(&m);
	}
	char digest[IMAGE_DIGEST_MAX];
	if (manifest_index_pick(s, len, "fuzz", digest, &err) == 0)
		assert(image_digest_valid(digest));
	char *created = NULL;
	image_config_check(s, len, "fuzz", &created, &err);
	free(created);
}

static void check_path(const char *s)
{
	char out[PATH_MAX];
	if (!load_path_normalize("a/b", s, out, sizeof(out)))
		return;
	/* never leaves the root: no ".." component and no leading '/' */
	assert(out[0] != '/');
	for (const char *p = out; (p = strstr(p, "..")); p += 2)
		assert(!((p == out || p[-1] == '/') && (p[2] == '/' || p[2] == '\0')));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20))
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		check_ref(s);
		break;
	case 1:
		check_manifest(s, size - 1);
		break;
	default:
		check_path(s);
		break;
	}
	free(s);
	return 0;
}
