/* Unit tests for the RUN's security tags (common/proto_run_security.c, tags 20..29 in
 * docs/protocol.md). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"
#include "run_tlv.h"

static void raw_u32(struct raw *r, uint16_t tag, uint32_t v)
{
	uint8_t b[4];
	sbx_u32_encode(b, v);
	raw_tlv(r, tag, b, 4);
}

static void raw_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A minimal valid RUN (one ARG) to which each test appends the entry under test. */
static void raw_start(struct raw *r)
{
	r->n = 0;
	raw_tlv(r, SBX_RUN_ARG, "x", 1);
}

static void expect_reject(const struct raw *r, int code)
{
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_decode(r->b, r->n, &q, &err), -code);
	ck_assert(err.msg[0] != '\0');
	ck_assert_ptr_null(q.argv);
}

static const struct sbx_bpf_insn prog[] = {
    {0x20, 0, 0, 4}, {0x15, 1, 0, 0xc000003e}, {0x06, 0, 0, 0x00050001}, {0x06, 0, 0, 0x7fff0000}};

START_TEST(security_round_trip)
{
	char *argv[] = {"sh", NULL};
	char *sysctl[] = {"net.ipv4.ip_forward=1", "kernel.shmmax=65536", "fs.mqueue.msg_max=20"};
	char *masked[] = {"/proc/kcore", "/proc/keys"};
	char *ro[] = {"/proc/sys"};
	struct sbx_run_req in = {
	    .argv = argv,
	    .argc = 1,
	    .rlimits = {{7, 100, 200}, {3, 8 << 20, UINT64_MAX}},
	    .n_rlimits = 2,
	    .sysctl = sysctl,
	    .n_sysctl = 3,
	    .masked_paths = masked,
	    .n_masked_paths = 2,
	    .readonly_paths = ro,
	    .n_readonly_paths = 1,
	    .has_umask = true,
	    .umask = 027,
	    .has_oom_score_adj = true,
	    .oom_score_adj = -999,
	    .pids_limit = 64,
	    .has_caps = true,
	    .caps = {0xa80425fb, 0x1, 0x2, 0xa80425fb, 0x0},
	    .no_new_privs = true,
	    .seccomp = prog,
	    .seccomp_len = 4,
	};
	uint8_t *buf = NULL;
	size_t len = 0;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), 0);
	struct sbx_run_req q;
	ck_assert_int_eq(sbx_run_decode(buf, len, &q, &err), 0);
	free(buf);
	ck_assert_uint_eq(q.n_rlimits, 2);
	ck_assert_uint_eq(q.rlimits[0].resource, 7);
	ck_assert_uint_eq(q.rlimits[0].soft, 100);
	ck_assert_uint_eq(q.rlimits[1].hard, UINT64_MAX);
	ck_assert_uint_eq(q.n_sysctl, 3);
	ck_assert_str_eq(q.sysctl[2], "fs.mqueue.msg_max=20");
	ck_assert_uint_eq(q.n_masked_paths, 2);
	ck_assert_str_eq(q.masked_paths[1], "/proc/keys");
	ck_assert_uint_eq(q.n_readonly_paths, 1);
	ck_assert_str_eq(q.readonly_paths[0], "/proc/sys");
	ck_assert(q.has_umask && q.umask == 027);
	ck_assert(q.has_oom_score_adj && q.oom_score_adj == -999);
	ck_assert_uint_eq(q.pids_limit, 64);
	ck_assert(q.has_caps);
	ck_assert_uint_eq(q.caps.bounding, 0xa80425fb);
	ck_assert_uint_eq(q.caps.effective, 1);
	ck_assert_uint_eq(q.caps.inheritable, 2);
	ck_assert(q.no_new_privs);
	ck_assert_uint_eq(q.seccomp_len, 4);
	ck_assert_mem_eq(q.seccomp, prog, sizeof(prog));
	ck_assert_uint_eq((uintptr_t)q.seccomp % 8, 0); /* the agent hands it to the kernel as is */
	ck_assert_str_eq(q.argv[0], "sh");
	sbx_run_req_free(&q);
}
END_TEST

START_TEST(security_absent_defaults)
{
	struct raw r;
	raw_start(&r);
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_decode(r.b, r.n, &q, &err), 0);
	ck_assert(!q.has_caps && !q.has_umask && !q.has_oom_score_adj && !q.no_new_privs);
	ck_assert_ptr_null(q.seccomp);
	ck_assert_uint_eq(q.n_rlimits + q.n_sysctl + q.n_masked_paths + q.n_readonly_paths, 0);
	ck_assert_uint_eq(q.pids_limit, 0);
	sbx_run_req_free(&q);
}
END_TEST

START_TEST(security_decode_rejects)
{
	struct raw r;
	uint8_t rl[20] = {0};
	raw_start(&r);
	rl[0] = 16; /* resource beyond RLIM_NLIMITS */
	raw_tlv(&r, SBX_RUN_RLIMIT, rl, 20);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	rl[0] = 7;
	raw_u64(rl + 4, 10); /* soft 10 > hard 5 */
	raw_u64(rl + 12, 5);
	raw_tlv(&r, SBX_RUN_RLIMIT, rl, 20);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_RLIMIT, rl, 19);
	expect_reject(&r, EPROTO);
	raw_start(&r);
	raw_u32(&r, SBX_RUN_UMASK, 01000);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_u32(&r, SBX_RUN_OOM_SCORE_ADJ, (uint32_t)-1001);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_u32(&r, SBX_RUN_OOM_SCORE_ADJ, 1001);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_u32(&r, SBX_RUN_NO_NEW_PRIVS, 2);
	expect_reject(&r, EPROTO);
	raw_start(&r);
	uint8_t zero[40] = {0};
	raw_tlv(&r, SBX_RUN_PIDS_LIMIT, zero, 8);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_CAPS, zero, 32);
	expect_reject(&r, EPROTO);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_CAPS, zero, 40);
	raw_tlv(&r, SBX_RUN_CAPS, zero, 40);
	expect_reject(&r, EPROTO); /* singular */
}
END_TEST

START_TEST(security_decode_rejects_strings)
{
	static const char *const bad_sysctl[] = {
	    "noequals",		 "=1",	      "kernel.panic=1", /* not namespaced */
	    "net..x=1",		 ".net.x=1",  "net.=1",		"net./../x=1",
	    "kernel.msgmax=1\n", "net.a b=1",
	};
	struct raw r;
	for (size_t i = 0; i < sizeof(bad_sysctl) / sizeof(*bad_sysctl); i++) {
		raw_start(&r);
		raw_tlv(&r, SBX_RUN_SYSCTL, bad_sysctl[i], (uint32_t)strlen(bad_sysctl[i]));
		struct sbx_run_req q;
		struct sbx_err err = {0};
		ck_assert_msg(sbx_run_decode(r.b, r.n, &q, &err) < 0, "accepted '%s'",
			      bad_sysctl[i]);
	}
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_MASKED_PATH, "proc/kcore", 10);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_READONLY_PATH, "", 0);
	expect_reject(&r, EINVAL);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_READONLY_PATH, "/a\0b", 4);
	expect_reject(&r, EPROTO);
	ck_assert(sbx_sysctl_allowed("kernel.sem", 10));
	ck_assert(!sbx_sysctl_allowed("kernel.semx", 11));
	ck_assert(!sbx_sysctl_allowed("net.", 4));
	ck_assert(sbx_sysctl_allowed("net.core.somaxconn", 18));
}
END_TEST

START_TEST(security_seccomp_limits)
{
	static struct raw r;
	static uint8_t insns[(SBX_RUN_BPF_MAX + 1) * 8];
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_SECCOMP, insns, 0);
	expect_reject(&r, EPROTO);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_SECCOMP, insns, 12); /* not whole instructions */
	expect_reject(&r, EPROTO);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_SECCOMP, insns, sizeof(insns)); /* BPF_MAXINSNS + 1 */
	expect_reject(&r, EPROTO);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_SECCOMP, insns, SBX_RUN_BPF_MAX * 8); /* exactly the limit */
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_decode(r.b, r.n, &q, &err), 0);
	ck_assert_uint_eq(q.seccomp_len, SBX_RUN_BPF_MAX);
	sbx_run_req_free(&q);
}
END_TEST

START_TEST(security_count_limits)
{
	static struct raw r;
	raw_start(&r);
	for (unsigned i = 0; i <= SBX_RUN_MAX_PATHS; i++)
		raw_tlv(&r, SBX_RUN_MASKED_PATH, "/p", 2);
	expect_reject(&r, E2BIG);
	raw_start(&r);
	uint8_t rl[20] = {0};
	for (unsigned i = 0; i <= SBX_RUN_MAX_RLIMITS; i++)
		raw_tlv(&r, SBX_RUN_RLIMIT, rl, 20);
	expect_reject(&r, E2BIG);
}
END_TEST

START_TEST(security_encode_rejects)
{
	char *argv[] = {"x", NULL};
	char *bad[] = {"kernel.core_pattern=|/x"};
	char *rel[] = {"tmp"};
	struct sbx_run_req q = {.argv = argv, .argc = 1};
	uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	q.sysctl = bad, q.n_sysctl = 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "kernel.core_pattern"));
	q.n_sysctl = 0;
	q.masked_paths = rel, q.n_masked_paths = 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.n_masked_paths = 0;
	q.has_umask = true, q.umask = 01777;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.has_umask = false;
	q.seccomp = prog, q.seccomp_len = SBX_RUN_BPF_MAX + 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -E2BIG);
	q.seccomp = NULL;
	q.n_rlimits = 1, q.rlimits[0] = (struct sbx_rlimit){99, 0, 0};
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	ck_assert_ptr_null(buf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto_security");
	TCase *c = tcase_create("run");
	tcase_add_test(c, security_round_trip);
	tcase_add_test(c, security_absent_defaults);
	tcase_add_test(c, security_decode_rejects);
	tcase_add_test(c, security_decode_rejects_strings);
	tcase_add_test(c, security_seccomp_limits);
	tcase_add_test(c, security_count_limits);
	tcase_add_test(c, security_encode_rejects);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
