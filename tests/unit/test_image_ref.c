/*
 * Image references as docker spells them: docker.io normalisation, registry hosts with ports,
 * tags and digests, loopback detection, and clear errors for what is not a reference.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../shim/image_ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void parse_ok(const char *s, const char *domain, const char *path, const char *tag,
		     const char *digest)
{
	struct image_ref r;
	struct sbx_err err = {0};
	ck_assert_msg(image_ref_parse(s, true, &r, &err) == 0, "%s: %s", s, err.msg);
	ck_assert_str_eq(r.domain, domain);
	ck_assert_str_eq(r.path, path);
	ck_assert_str_eq(r.tag, tag);
	ck_assert_str_eq(r.digest, digest);
	char name[600];
	snprintf(name, sizeof(name), "%s/%s", domain, path);
	ck_assert_str_eq(r.name, name);
}

static void parse_bad(const char *s, const char *needle)
{
	struct image_ref r;
	struct sbx_err err = {0};
	ck_assert_int_eq(image_ref_parse(s, true, &r, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, needle), "'%s': message '%s' lacks '%s'", s, err.msg, needle);
}

START_TEST(test_docker_hub_normalisation)
{
	parse_ok("busybox", "docker.io", "library/busybox", "latest", "");
	parse_ok("busybox:1.36", "docker.io", "library/busybox", "1.36", "");
	parse_ok("library/busybox", "docker.io", "library/busybox", "latest", "");
	parse_ok("bitnami/redis:7", "docker.io", "bitnami/redis", "7", "");
	parse_ok("docker.io/busybox", "docker.io", "library/busybox", "latest", "");
	parse_ok("index.docker.io/library/debian:12", "docker.io", "library/debian", "12", "");
	struct image_ref r;
	ck_assert_int_eq(image_ref_parse("busybox", true, &r, NULL), 0);
	ck_assert_str_eq(image_ref_registry_host(&r), "registry-1.docker.io");
}
END_TEST

START_TEST(test_registries_tags_digests)
{
	parse_ok("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", "");
	parse_ok("localhost/x:y", "localhost", "x", "y", "");
	parse_ok("quay.io/org/app.v2_x-y", "quay.io", "org/app.v2_x-y", "latest", "");
	parse_ok("reg:5000/a/b@sha256:" HEX64, "reg:5000", "a/b", "", "sha256:" HEX64);
	parse_ok("reg:5000/a/b:t1@sha256:" HEX64, "reg:5000", "a/b", "t1", "sha256:" HEX64);
	/* without a default tag, none is invented */
	struct image_ref r;
	ck_assert_int_eq(image_ref_parse("busybox", false, &r, NULL), 0);
	ck_assert_str_eq(r.tag, "");
	char buf[700];
	ck_assert_int_eq(image_ref_parse("reg:5000/a:t@sha256:" HEX64, true, &r, NULL), 0);
	ck_assert_int_eq(image_ref_format(&r, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "reg:5000/a:t@sha256:" HEX64);
	/* the registry host is the domain itself */
	ck_assert_str_eq(image_ref_registry_host(&r), "reg:5000");
}
END_TEST

START_TEST(test_invalid_references)
{
	parse_bad("", "empty");
	parse_bad("Busybox", "bad name component");
	parse_bad("busybox:", "bad tag");
	parse_bad("busybox:-x", "bad tag");
	parse_bad("busybox@sha256:abc", "bad digest");
	parse_bad("busybox@sha256:" HEX64 "0", "bad digest");
	parse_bad("a//b", "bad name component");
	parse_bad("a/b/", "bad name component");
	parse_bad("a__b_", "bad name component");
	parse_bad("reg:port/a", "bad registry host");
	parse_bad(":tag", "no name");
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	parse_bad(longname, "too long");
	ck_assert(image_ref_tag_valid("v1.2_3-rc"));
	ck_assert(!image_ref_tag_valid(".hidden"));
}
END_TEST

START_TEST(test_loopback)
{
	ck_assert(image_ref_is_loopback("127.0.0.1:5000"));
	ck_assert(image_ref_is_loopback("127.1.2.3"));
	ck_assert(image_ref_is_loopback("localhost:80"));
	ck_assert(image_ref_is_loopback("[::1]:5000"));
	ck_assert(!image_ref_is_loopback("docker.io"));
	ck_assert(!image_ref_is_loopback("127.example.com"));
	ck_assert(!image_ref_is_loopback("localhost.evil.com"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_ref");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_docker_hub_normalisation);
	tcase_add_test(tc, test_registries_tags_digests);
	tcase_add_test(tc, test_invalid_references);
	tcase_add_test(tc, test_loopback);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
