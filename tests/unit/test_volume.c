/* `-v` parsing (shim/volume.c) and the RUN MOUNT entries it turns into (common/proto.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/proto.h"
#include "../../shim/volume.h"

START_TEST(parse_accepts_and_normalises)
{
	struct volume v;
	struct sbx_err err = {0};
	ck_assert_int_eq(volume_parse("/tmp:/data", &v, &err), 0);
	ck_assert_str_eq(v.host, "/tmp");
	ck_assert_str_eq(v.guest, "/data");
	ck_assert(!v.ro);
	ck_assert_int_eq(volume_parse("/tmp/../tmp/:/a//b/:ro", &v, &err), 0);
	ck_assert_str_eq(v.host, "/tmp");
	ck_assert_str_eq(v.guest, "/a/b");
	ck_assert(v.ro);
	ck_assert_int_eq(volume_parse("/tmp:/x:rw", &v, &err), 0);
	ck_assert(!v.ro);
	ck_assert_int_eq(volume_parse("/tmp:/with:colon:ro", &v, &err),
			 -EINVAL); /* mode "colon:ro" */
}
END_TEST

START_TEST(parse_refuses_with_a_named_reason)
{
	static const struct {
		const char *spec, *msg;
		int code;
	} bad[] = {
	    {"/tmp", "HOSTDIR:CONTAINERDIR", EINVAL},
	    {"tmp:/x", "absolute path", EINVAL},
	    {":/x", "absolute path", EINVAL},
	    {"/nonexistent-sbx:/x", "No such file", ENOENT},
	    {"/etc/hostname:/x", "not a directory", ENOTDIR},
	    {"/tmp:x", "must be absolute", EINVAL},
	    {"/tmp:", "must be absolute", EINVAL},
	    {"/tmp:/a/./b", "'.' or '..'", EINVAL},
	    {"/tmp:/..", "'.' or '..'", EINVAL},
	    {"/tmp:/", "root", EINVAL},
	    {"/tmp://", "root", EINVAL},
	    {"/tmp:/x:RO", "unknown mode", EINVAL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct volume v;
		struct sbx_err err = {0};
		int r = volume_parse(bad[i].spec, &v, &err);
		ck_assert_msg(r == -bad[i].code, "%s: %d", bad[i].spec, r);
		ck_assert_msg(strstr(err.msg, bad[i].msg), "%s: '%s'", bad[i].spec, err.msg);
		ck_assert_msg(strstr(err.msg, bad[i].spec), "%s: message does not name it",
			      bad[i].spec);
	}
}
END_TEST

START_TEST(mounts_round_trip_through_run)
{
	struct volume v[2];
	struct sbx_err err = {0};
	ck_assert_int_eq(volume_parse("/tmp:/data", &v[0], &err), 0);
	ck_assert_int_eq(volume_parse("/tmp:/srv/ro:ro", &v[1], &err), 0);
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1};
	req.n_mounts = volume_mounts(v, 2, req.mounts);
	ck_assert_uint_eq(req.n_mounts, 2);
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, &err), 0);
	ck_assert_uint_eq(out.n_mounts, 2);
	ck_assert_str_eq(out.mounts[0].tag, "sbxfs0");
	ck_assert_str_eq(out.mounts[0].target, "/data");
	ck_assert(!out.mounts[0].ro);
	ck_assert_str_eq(out.mounts[1].tag, "sbxfs1");
	ck_assert_str_eq(out.mounts[1].target, "/srv/ro");
	ck_assert(out.mounts[1].ro);
	sbx_run_req_free(&out);
	free(buf);
}
END_TEST

/* A hand-made RUN with one ARG and one MOUNT entry of the given value. */
static int decode_mount(const char *value)
{
	uint8_t buf[256];
	size_t n = 0, vl = strlen(value);
	uint8_t arg[] = {1, 0, 0, 0, 4, 0, 0, 0, 't', 'r', 'u', 'e'};
	memcpy(buf, arg, sizeof(arg));
	n = sizeof(arg);
	uint8_t hdr[8] = {SBX_RUN_MOUNT, 0, 0, 0, (uint8_t)vl, 0, 0, 0};
	memcpy(buf + n, hdr, 8);
	memcpy(buf + n + 8, value, vl);
	n += 8 + vl;
	struct sbx_run_req req;
	struct sbx_err err = {0};
	int r = sbx_run_decode(buf, n, &req, &err);
	if (r == 0)
		sbx_run_req_free(&req);
	return r;
}

START_TEST(decode_refuses_bad_mounts)
{
	ck_assert_int_eq(decode_mount("rw:t:/x"), 0);
	ck_assert_int_eq(decode_mount("ro:t:/x:y"), 0); /* the target may hold ':' */
	ck_assert_int_eq(decode_mount("xx:t:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw::/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t:"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:t:x"), -EPROTO);
	ck_assert_int_eq(decode_mount("rw:0123456789012345678901234567890123456:/x"), -EPROTO);
	ck_assert_int_eq(decode_mount("r"), -EPROTO);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("volume");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, parse_accepts_and_normalises);
	tcase_add_test(tc, parse_refuses_with_a_named_reason);
	tcase_add_test(tc, mounts_round_trip_through_run);
	tcase_add_test(tc, decode_refuses_bad_mounts);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
