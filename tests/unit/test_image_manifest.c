/*
 * Untrusted image metadata: manifests, indexes and configs as a registry or an archive hands
 * them over (kinds, platform choice, malformed descriptors, nesting bombs), archive member
 * paths that try to leave the archive, and registry credentials from a docker auth file.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../shim/image_json.h"
#include "../../shim/image_load_src.h"
#include "../../shim/image_manifest.h"
#include "../../shim/registry.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
    "\"digest\":\"" D1 "\",\"size\":10},"
    "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
    "\"digest\":\"" D2 "\",\"size\":100},"
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3 "\","
    "\"size\":200}]}";

static const char index_doc[] =
    "{\"schemaVersion\":2,\"manifests\":["
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":1,"
    "\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";

START_TEST(test_kinds)
{
	ck_assert_int_eq(manifest_kind(manifest, strlen(manifest), NULL), MANIFEST_IMAGE);
	ck_assert_int_eq(manifest_kind(index_doc, strlen(index_doc), NULL), MANIFEST_INDEX);
	/* no mediaType member: the Content-Type decides */
	const char bare[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	ck_assert_int_eq(manifest_kind(bare, strlen(bare), MT_DOCKER_LIST "; charset=utf-8"),
			 MANIFEST_INDEX);
	ck_assert_int_eq(manifest_kind("[1,2]", 5, "text/plain"), MANIFEST_UNKNOWN);
	ck_assert_int_eq(manifest_kind("{not json", 9, NULL), MANIFEST_UNKNOWN);
}
END_TEST

START_TEST(test_parse_manifest)
{
	struct image_manifest m;
	struct sbx_err err = {0};
	ck_assert_int_eq(manifest_parse(manifest, strlen(manifest), "m", &m, &err), 0);
	ck_assert_str_eq(m.config.digest, D1);
	ck_assert_uint_eq(m.n_layers, 2);
	ck_assert_str_eq(m.layers[0].digest, D2);
	ck_assert_uint_eq(m.layers[1].size, 200);
	ck_assert_str_eq(m.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	manifest_free(&m);

	static const char *const bad[][2] = {
	    {"{\"schemaVersion\":1,\"fsLayers\":[]}", "schemaVersion 1"},
	    {"{\"schemaVersion\":2,\"layers\":[]}", "config descriptor"},
	    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:../../x\","
	     "\"size\":1},\"layers\":[]}",
	     "config descriptor"},
	    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\","
	     "\"size\":-1},\"layers\":[]}",
	     "config descriptor"},
	    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\","
	     "\"size\":1},\"layers\":[{\"mediaType\":\"x\",\"digest\":\"" D2 "\"}]}",
	     "layer 0"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_lt(manifest_parse(bad[i][0], strlen(bad[i][0]), "m", &m, &err), 0);
		ck_assert_msg(strstr(err.msg, bad[i][1]), "case %zu: %s", i, err.msg);
	}
}
END_TEST

START_TEST(test_index_picks_linux_amd64)
{
	char digest[IMAGE_DIGEST_MAX];
	struct sbx_err err = {0};
	ck_assert_int_eq(manifest_index_pick(index_doc, strlen(index_doc), "i", digest, &err), 0);
	ck_assert_str_eq(digest, D3);
	const char arm_only[] = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\","
				"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
				"{\"digest\":\"" D2 "\",\"platform\":{\"os\":\"linux\","
				"\"architecture\":\"s390x\"}}]}";
	ck_assert_int_eq(manifest_index_pick(arm_only, strlen(arm_only), "i", digest, &err),
			 -ENOENT);
	ck_assert_str_eq(err.msg, "i: no image for linux/amd64 (it has: linux/arm64, linux/s390x)");
}
END_TEST

START_TEST(test_config_platform)
{
	char *created = NULL;
	struct sbx_err err = {0};
	const char ok[] =
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:"
	    "04:05Z\"}";
	ck_assert_int_eq(image_config_check(ok, strlen(ok), "c", &created, &err), 0);
	ck_assert_str_eq(created, "2024-01-02T03:04:05Z");
	free(created);
	const char arm[] = "{\"architecture\":\"arm64\",\"os\":\"linux\"}";
	ck_assert_int_eq(image_config_check(arm, strlen(arm), "c", &created, &err), -ENOEXEC);
	ck_assert_str_eq(err.msg, "c: image is for linux/arm64, not linux/amd64");
	ck_assert_int_lt(image_config_check("[]", 2, "c", &created, &err), 0);
}
END_TEST

START_TEST(test_json_nesting_bomb)
{
	size_t n = 100000;
	char *doc = malloc(2 * n + 1);
	memset(doc, '[', n);
	memset(doc + n, ']', n);
	doc[2 * n] = '\0';
	json_val v = NULL;
	struct sbx_err err = {0};
	ck_assert_int_eq(json_parse(doc, 2 * n, &v, "bomb", &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "nested deeper"));
	/* brackets inside strings do not count */
	const char s[] =
	    "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[\"}";
	ck_assert_int_eq(json_parse(s, strlen(s), &v, "s", &err), 0);
	json_free(v);
	ck_assert_int_eq(json_parse("{\"a\":1}\0x", 9, &v, "nul", &err), -EBADMSG);
	free(doc);
}
END_TEST

START_TEST(test_archive_paths)
{
	char out[PATH_MAX];
	ck_assert(load_path_normalize("", "./blobs/sha256/../sha256/x", out, sizeof(out)));
	ck_assert_str_eq(out, "blobs/sha256/x");
	ck_assert(load_path_normalize("", "/index.json", out, sizeof(out)));
	ck_assert_str_eq(out, "index.json");
	ck_assert(load_path_normalize("a/b", "../c", out, sizeof(out)));
	ck_assert_str_eq(out, "a/c");
	ck_assert(load_path_normalize("a/b", "/etc/passwd", out, sizeof(out))); /* archive root */
	ck_assert_str_eq(out, "etc/passwd");
	ck_assert(!load_path_normalize("", "../x", out, sizeof(out)));
	ck_assert(!load_path_normalize("a", "../../x", out, sizeof(out)));
	ck_assert(!load_path_normalize("", "a/../../x", out, sizeof(out)));
	ck_assert(load_path_normalize("", "./", out, sizeof(out)));
	ck_assert_str_eq(out, "");
}
END_TEST

static void auth_file(const char *text)
{
	static char path[] = "/tmp/test-auth.XXXXXX";
	static int fd = -1;
	if (fd < 0)
		fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	setenv("REGISTRY_AUTH_FILE", path, 1);
}

static const char *creds_for(const char *ref_s, struct sbx_err *err, int *rc)
{
	static struct registry r;
	registry_close(&r);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(image_ref_parse(ref_s, true, &r.ref, NULL), 0);
	*rc = registry_load_credentials(&r, err);
	return r.credentials;
}

START_TEST(test_auth_config)
{
	struct sbx_err err = {0};
	int rc;
	/* dXNlcjpwYXNz = user:pass, YWRtaW46eDp5 = admin:x:y */
	auth_file("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYXNz\"},"
		  "\"reg.example:5000\":{\"auth\":\"YWRtaW46eDp5\"},"
		  "\"other.example\":{\"username\":\"u\",\"password\":\"p\"}}}");
	ck_assert_str_eq(creds_for("busybox", &err, &rc), "user:pass");
	ck_assert_str_eq(creds_for("reg.example:5000/a", &err, &rc), "admin:x:y");
	ck_assert_str_eq(creds_for("other.example/a", &err, &rc), "u:p");
	ck_assert_ptr_null(creds_for("reg.example/a", &err, &rc)); /* the port is part of it */
	ck_assert_int_eq(rc, 0);
	auth_file("{\"auths\":{\"reg.example\":{\"auth\":\"!!!\"}}}");
	ck_assert_ptr_null(creds_for("reg.example/a", &err, &rc));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "reg.example"));
	auth_file("{\"auths\":");
	creds_for("reg.example/a", &err, &rc);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid JSON"));
	unlink(getenv("REGISTRY_AUTH_FILE"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_manifest");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_kinds);
	tcase_add_test(tc, test_parse_manifest);
	tcase_add_test(tc, test_index_picks_linux_amd64);
	tcase_add_test(tc, test_config_platform);
	tcase_add_test(tc, test_json_nesting_bomb);
	tcase_add_test(tc, test_archive_paths);
	tcase_add_test(tc, test_auth_config);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
