/* Unit tests for the container cgroup and exec secret (RUN tags 30, 31; frames OOM, EXEC_AUTH). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"
#include "run_tlv.h"

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A minimal valid RUN (one ARG) with a CGROUP entry of the given fields. */
static void raw_cgroup(struct raw *r, uint64_t mem, uint64_t quota, uint64_t period,
		       uint32_t weight, uint32_t reserved)
{
	uint8_t v[SBX_RUN_CGROUP_SIZE] = {0};
	put_le(v, mem, 8);
	put_le(v + 16, UINT64_MAX, 8);
	put_le(v + 24, quota, 8);
	put_le(v + 32, period, 8);
	put_le(v + 40, weight, 4);
	put_le(v + 44, reserved, 4);
	r->n = 0;
	raw_tlv(r, SBX_RUN_ARG, "x", 1);
	raw_tlv(r, SBX_RUN_CGROUP, v, sizeof(v));
}

static int decode(const struct raw *r, struct sbx_run_req *q, struct sbx_err *err)
{
	return sbx_run_decode(r->b, r->n, q, err);
}

START_TEST(cgroup_and_secret_round_trip)
{
	char *argv[] = {"sh", NULL};
	struct sbx_run_req in = {.argv = argv,
				 .argc = 1,
				 .has_cgroup = true,
				 .cgroup = {.memory_max = 64 << 20,
					    .memory_low = 16 << 20,
					    .swap_max = 0,
					    .cpu_quota_us = 50000,
					    .cpu_period_us = 100000,
					    .cpu_weight = 39},
				 .has_exec_secret = true};
	for (unsigned i = 0; i < SBX_EXEC_SECRET_LEN; i++)
		in.exec_secret[i] = (uint8_t)(i * 7 + 1);
	uint8_t *buf = NULL;
	size_t len = 0;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), 0);
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, &err), 0);
	ck_assert(out.has_cgroup);
	ck_assert(memcmp(&out.cgroup, &in.cgroup, sizeof(in.cgroup)) == 0);
	ck_assert(out.has_exec_secret);
	ck_assert(memcmp(out.exec_secret, in.exec_secret, SBX_EXEC_SECRET_LEN) == 0);
	sbx_run_req_free(&out);
	ck_assert(!out.has_exec_secret);
	free(buf);
}
END_TEST

START_TEST(absent_by_default)
{
	struct raw r = {0};
	raw_tlv(&r, SBX_RUN_ARG, "x", 1);
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(decode(&r, &q, &err), 0);
	ck_assert(!q.has_cgroup);
	ck_assert(!q.has_exec_secret);
	sbx_run_req_free(&q);
}
END_TEST

static void expect_reject(const struct raw *r, int code)
{
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(decode(r, &q, &err), -code);
	ck_assert(err.msg[0] != '\0');
	ck_assert_ptr_null(q.argv);
}

START_TEST(cgroup_decode_rejects)
{
	struct raw r;
	raw_cgroup(&r, 1 << 20, 0, 0, SBX_CPU_WEIGHT_MAX + 1, 0);
	expect_reject(&r, EINVAL); /* weight above cgroup2's */
	raw_cgroup(&r, 1 << 20, 0, 999, 0, 0);
	expect_reject(&r, EINVAL); /* period below 1 ms */
	raw_cgroup(&r, 1 << 20, 0, SBX_CPU_PERIOD_MAX + 1, 0, 0);
	expect_reject(&r, EINVAL); /* period above 1 s */
	raw_cgroup(&r, 1 << 20, 10, 100000, 0, 0);
	expect_reject(&r, EINVAL); /* quota below 1 ms */
	raw_cgroup(&r, 1 << 20, 0, 0, 0, 1);
	expect_reject(&r, EPROTO); /* reserved field */
	raw_cgroup(&r, 1 << 20, 0, 0, 0, 0);
	r.b[r.n - SBX_RUN_CGROUP_SIZE - 4] = SBX_RUN_CGROUP_SIZE - 1; /* length field */
	r.n--;
	expect_reject(&r, EPROTO);
	raw_cgroup(&r, 1 << 20, 0, 0, 100, 0);
	uint8_t v[SBX_RUN_CGROUP_SIZE] = {0};
	raw_tlv(&r, SBX_RUN_CGROUP, v, sizeof(v));
	expect_reject(&r, EPROTO); /* duplicate */
}
END_TEST

START_TEST(secret_decode_rejects)
{
	struct raw r = {0};
	uint8_t s[SBX_EXEC_SECRET_LEN + 1] = {0};
	raw_tlv(&r, SBX_RUN_ARG, "x", 1);
	raw_tlv(&r, SBX_RUN_EXEC_SECRET, s, SBX_EXEC_SECRET_LEN - 1);
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_tlv(&r, SBX_RUN_ARG, "x", 1);
	raw_tlv(&r, SBX_RUN_EXEC_SECRET, s, SBX_EXEC_SECRET_LEN + 1);
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_tlv(&r, SBX_RUN_ARG, "x", 1);
	raw_tlv(&r, SBX_RUN_EXEC_SECRET, s, SBX_EXEC_SECRET_LEN);
	raw_tlv(&r, SBX_RUN_EXEC_SECRET, s, SBX_EXEC_SECRET_LEN);
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_tlv(&r, SBX_RUN_ARG, "x", 1);
	raw_tlv(&r, SBX_RUN_EXEC_SECRET + 1, s, 4); /* past the last tag */
	expect_reject(&r, EPROTO);
}
END_TEST

START_TEST(cgroup_encode_rejects)
{
	char *argv[] = {"sh", NULL};
	struct sbx_run_req in = {.argv = argv, .argc = 1, .has_cgroup = true};
	in.cgroup.cpu_weight = 20000;
	uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), -EINVAL);
	ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(new_frames_headers)
{
	uint8_t h[SBX_FRAME_HDR_SIZE];
	struct sbx_frame_hdr hdr;
	struct sbx_err err = {0};
	sbx_hdr_encode(h, SBX_MSG_OOM, 4);
	ck_assert_int_eq(sbx_hdr_decode(h, &hdr, &err), 0);
	sbx_hdr_encode(h, SBX_MSG_OOM, 8);
	ck_assert_int_eq(sbx_hdr_decode(h, &hdr, &err), -EPROTO);
	sbx_hdr_encode(h, SBX_MSG_EXEC_AUTH, SBX_EXEC_SECRET_LEN);
	ck_assert_int_eq(sbx_hdr_decode(h, &hdr, &err), 0);
	ck_assert_uint_eq(hdr.type, SBX_MSG_EXEC_AUTH);
	sbx_hdr_encode(h, SBX_MSG_EXEC_AUTH, SBX_EXEC_SECRET_LEN - 1);
	ck_assert_int_eq(sbx_hdr_decode(h, &hdr, &err), -EPROTO);
	sbx_hdr_encode(h, SBX_MSG_EXEC_AUTH, 0);
	ck_assert_int_eq(sbx_hdr_decode(h, &hdr, &err), -EPROTO);
}
END_TEST

START_TEST(secret_compare)
{
	uint8_t a[SBX_EXEC_SECRET_LEN], b[SBX_EXEC_SECRET_LEN];
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	ck_assert(sbx_secret_equal(a, b, sizeof(a)));
	for (size_t i = 0; i < sizeof(a); i += 31) {
		b[i] ^= 0x01;
		ck_assert(!sbx_secret_equal(a, b, sizeof(a)));
		b[i] ^= 0x01;
	}
	b[SBX_EXEC_SECRET_LEN - 1] ^= 0x80;
	ck_assert(!sbx_secret_equal(a, b, sizeof(a)));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto_cgroup");
	TCase *c = tcase_create("core");
	tcase_add_test(c, cgroup_and_secret_round_trip);
	tcase_add_test(c, absent_by_default);
	tcase_add_test(c, cgroup_decode_rejects);
	tcase_add_test(c, secret_decode_rejects);
	tcase_add_test(c, cgroup_encode_rejects);
	tcase_add_test(c, new_frames_headers);
	tcase_add_test(c, secret_compare);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
