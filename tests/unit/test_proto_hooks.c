/* Unit tests for the RUN's OCI hook tags (common/proto_run_hooks.c, tags 33-34 in
 * docs/protocol.md): round trip, every limit refused by encoder and decoder, hostile bytes. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"
#include "run_tlv.h"

/* A minimal valid RUN (one ARG) to which each test appends the entries under test. */
static void raw_start(struct raw *r)
{
	r->n = 0;
	raw_tlv(r, SBX_RUN_ARG, "x", 1);
}

/* A HOOK value: header, then the strings given (each with its NUL) as one blob of blen bytes. */
static uint32_t hook_value(uint8_t *out, uint32_t kind, uint32_t timeout, uint32_t n_args,
			   uint32_t n_env, const char *blob, size_t blen)
{
	uint32_t h[4] = {kind, timeout, n_args, n_env};
	for (int i = 0; i < 4; i++)
		sbx_u32_encode(out + 4 * i, h[i]);
	memcpy(out + 16, blob, blen);
	return (uint32_t)(16 + blen);
}

static void expect_reject(const struct raw *r, int code, const char *want)
{
	struct sbx_run_req q;
	struct sbx_err err = {0};
	int rc = sbx_run_decode(r->b, r->n, &q, &err);
	ck_assert_msg(rc == -code, "rc %d (%s), want %d", rc, err.msg, -code);
	ck_assert_msg(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
	ck_assert_ptr_null(q.argv);
}

static void expect_raw_hook_reject(uint32_t kind, uint32_t timeout, uint32_t n_args, uint32_t n_env,
				   const char *blob, size_t blen, int code, const char *want)
{
	static struct raw r;
	static uint8_t v[1 << 17];
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK, v, hook_value(v, kind, timeout, n_args, n_env, blob, blen));
	expect_reject(&r, code, want);
}

static char *argv1[] = {"sh", NULL};

START_TEST(hooks_round_trip)
{
	char *args0[] = {"hook0", "-x", ""}, *env0[] = {"A=1", "B="};
	char *args1[] = {"sh", "-c", "cat > /f"};
	struct sbx_run_req req = {.argv = argv1, .argc = 1};
	req.hooks[SBX_HOOK_CREATE_CONTAINER] =
	    (struct sbx_run_hooks){.n = 2,
				   .state = "{\"status\": \"creating\"}",
				   .v = {{.path = "/bin/hook0",
					  .args = args0,
					  .n_args = 3,
					  .env = env0,
					  .n_env = 2,
					  .timeout_s = 5},
					 {.path = "/h1", .timeout_s = SBX_RUN_HOOK_TIMEOUT_MAX}}};
	req.hooks[SBX_HOOK_START_CONTAINER] = (struct sbx_run_hooks){
	    .n = 1, .v = {{.path = "/bin/sh", .args = args1, .n_args = 3, .timeout_s = 1}}};
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	struct sbx_run_req q;
	ck_assert_msg(sbx_run_decode(buf, len, &q, &err) == 0, "%s", err.msg);
	const struct sbx_run_hooks *c = &q.hooks[SBX_HOOK_CREATE_CONTAINER];
	const struct sbx_run_hooks *s = &q.hooks[SBX_HOOK_START_CONTAINER];
	ck_assert_uint_eq(c->n, 2);
	ck_assert_str_eq(c->state, "{\"status\": \"creating\"}");
	ck_assert_str_eq(c->v[0].path, "/bin/hook0");
	ck_assert_uint_eq(c->v[0].n_args, 3);
	ck_assert_str_eq(c->v[0].args[0], "hook0");
	ck_assert_str_eq(c->v[0].args[1], "-x");
	ck_assert_str_eq(c->v[0].args[2], "");
	ck_assert_ptr_null(c->v[0].args[3]);
	ck_assert_uint_eq(c->v[0].n_env, 2);
	ck_assert_str_eq(c->v[0].env[0], "A=1");
	ck_assert_str_eq(c->v[0].env[1], "B=");
	ck_assert_ptr_null(c->v[0].env[2]);
	ck_assert_uint_eq(c->v[0].timeout_s, 5);
	ck_assert_str_eq(c->v[1].path, "/h1");
	ck_assert_uint_eq(c->v[1].n_args, 0);
	ck_assert_ptr_null(c->v[1].args[0]);
	ck_assert_ptr_null(c->v[1].env[0]);
	ck_assert_uint_eq(c->v[1].timeout_s, SBX_RUN_HOOK_TIMEOUT_MAX);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_ptr_null(s->state);
	ck_assert_str_eq(s->v[0].args[2], "cat > /f");
	ck_assert_uint_eq(s->v[0].timeout_s, 1);
	/* The rest of the request is untouched by the hooks' strings and pointers. */
	ck_assert_str_eq(q.argv[0], "sh");
	ck_assert_ptr_null(q.argv[1]);
	ck_assert_str_eq(q.cwd, "/");
	sbx_run_req_free(&q);
	free(buf);
}
END_TEST

START_TEST(hooks_absent)
{
	struct sbx_run_req req = {.argv = argv1, .argc = 1}, q;
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	ck_assert_int_eq(sbx_run_decode(buf, len, &q, &err), 0);
	for (int k = 0; k < SBX_HOOK_KINDS; k++) {
		ck_assert_uint_eq(q.hooks[k].n, 0);
		ck_assert_ptr_null(q.hooks[k].state);
	}
	sbx_run_req_free(&q);
	free(buf);
}
END_TEST

/* Encodes req with one hook h of kind; expects code and want in the message. */
static void expect_encode_reject(const struct sbx_run_hook *h, size_t n, const char *state,
				 int code, const char *want)
{
	struct sbx_run_req req = {.argv = argv1, .argc = 1};
	req.hooks[SBX_HOOK_START_CONTAINER].n = n;
	req.hooks[SBX_HOOK_START_CONTAINER].state = (char *)state;
	for (size_t i = 0; i < n && i < SBX_RUN_MAX_HOOKS; i++)
		req.hooks[SBX_HOOK_START_CONTAINER].v[i] = *h;
	uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), -code);
	ck_assert_msg(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
	ck_assert_ptr_null(buf);
}

START_TEST(hooks_encode_rejects)
{
	static char *many[SBX_RUN_HOOK_MAX_ARGS + 1];
	for (size_t i = 0; i <= SBX_RUN_HOOK_MAX_ARGS; i++)
		many[i] = "K=V";
	static char long_path[SBX_RUN_HOOK_PATH_MAX + 1];
	memset(long_path, 'p', SBX_RUN_HOOK_PATH_MAX);
	long_path[0] = '/';
	static char big_state[SBX_RUN_MAX_STR + 1];
	memset(big_state, 's', SBX_RUN_MAX_STR);
	char *bad_env[] = {"=x"}, *no_eq[] = {"novalue"};
	struct sbx_run_hook ok = {.path = "/h", .timeout_s = 1};
	expect_encode_reject(&ok, SBX_RUN_MAX_HOOKS + 1, NULL, E2BIG, "17 startContainer hooks");
	struct sbx_run_hook h = ok;
	h.timeout_s = 0;
	expect_encode_reject(&h, 1, NULL, EINVAL, "timeout 0 s");
	h.timeout_s = SBX_RUN_HOOK_TIMEOUT_MAX + 1;
	expect_encode_reject(&h, 1, NULL, EINVAL, "timeout 86401 s");
	h = ok;
	h.path = "rel/hook";
	expect_encode_reject(&h, 1, NULL, EINVAL, "not absolute");
	h.path = "";
	expect_encode_reject(&h, 1, NULL, EINVAL, "not absolute");
	h.path = NULL;
	expect_encode_reject(&h, 1, NULL, EINVAL, "bad path");
	h.path = long_path;
	expect_encode_reject(&h, 1, NULL, E2BIG, "exceeds 4095");
	h = ok;
	h.args = many;
	h.n_args = SBX_RUN_HOOK_MAX_ARGS + 1;
	expect_encode_reject(&h, 1, NULL, EINVAL, "bad path, args or env");
	h = ok;
	h.env = many;
	h.n_env = SBX_RUN_HOOK_MAX_ENV + 1;
	expect_encode_reject(&h, 1, NULL, EINVAL, "bad path, args or env");
	h.n_env = 1;
	h.env = bad_env;
	expect_encode_reject(&h, 1, NULL, EPROTO, "not K=V");
	h.env = no_eq;
	expect_encode_reject(&h, 1, NULL, EPROTO, "not K=V");
	expect_encode_reject(&ok, 1, big_state, E2BIG, "state of 65536 bytes");
	/* At the limits: accepted. */
	struct sbx_run_req req = {.argv = argv1, .argc = 1};
	req.hooks[0].n = SBX_RUN_MAX_HOOKS;
	for (size_t i = 0; i < SBX_RUN_MAX_HOOKS; i++)
		req.hooks[0].v[i] = (struct sbx_run_hook){.path = "/h",
							  .args = many,
							  .n_args = SBX_RUN_HOOK_MAX_ARGS,
							  .env = many,
							  .n_env = SBX_RUN_HOOK_MAX_ENV,
							  .timeout_s = 1};
	big_state[SBX_RUN_MAX_STR - 1] = '\0';
	req.hooks[0].state = big_state;
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_msg(sbx_run_encode(&req, &buf, &len, &err) == 0, "%s", err.msg);
	struct sbx_run_req q;
	ck_assert_msg(sbx_run_decode(buf, len, &q, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(q.hooks[0].n, SBX_RUN_MAX_HOOKS);
	ck_assert_str_eq(q.hooks[0].v[15].env[255], "K=V");
	ck_assert_uint_eq(strlen(q.hooks[0].state), SBX_RUN_MAX_STR - 1);
	sbx_run_req_free(&q);
	free(buf);
}
END_TEST

START_TEST(hooks_decode_rejects)
{
	/* The header. */
	static struct raw r;
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK, "\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0", 15);
	expect_reject(&r, EPROTO, "hook of 15 bytes");
	expect_raw_hook_reject(2, 1, 0, 0, "/h", 3, EPROTO, "hook kind 2");
	expect_raw_hook_reject(0xffffffffu, 1, 0, 0, "/h", 3, EPROTO, "hook kind");
	expect_raw_hook_reject(0, 0, 0, 0, "/h", 3, EINVAL, "timeout 0 s");
	expect_raw_hook_reject(1, 86401, 0, 0, "/h", 3, EINVAL, "timeout 86401 s");
	expect_raw_hook_reject(0, 1, 257, 0, "/h", 3, E2BIG, "257 args");
	expect_raw_hook_reject(0, 1, 0, 257, "/h", 3, E2BIG, "257 env");
	expect_raw_hook_reject(0, 1, 0xffffffffu, 0xffffffffu, "/h", 3, E2BIG, "args");
	/* The strings: counts that the bytes do not hold, or bytes the counts do not claim. */
	expect_raw_hook_reject(0, 1, 0, 0, "", 0, EPROTO, "string 0 is truncated");
	expect_raw_hook_reject(0, 1, 0, 0, "/h", 2, EPROTO, "string 0 is truncated");
	expect_raw_hook_reject(0, 1, 1, 0, "/h", 3, EPROTO, "string 1 is truncated");
	expect_raw_hook_reject(0, 1, 1, 1, "/h\0a\0K=V", 8, EPROTO, "string 2 is truncated");
	expect_raw_hook_reject(0, 1, 0, 0, "/h\0x", 4, EPROTO, "1 trailing bytes");
	expect_raw_hook_reject(0, 1, 0, 0, "/h\0\0", 4, EPROTO, "1 trailing bytes");
	expect_raw_hook_reject(0, 1, 0, 0, "h", 2, EINVAL, "not absolute");
	expect_raw_hook_reject(0, 1, 0, 0, "", 1, EINVAL, "not absolute");
	expect_raw_hook_reject(0, 1, 0, 1, "/h\0=v", 6, EPROTO, "not K=V");
	expect_raw_hook_reject(0, 1, 0, 1, "/h\0kv", 6, EPROTO, "not K=V");
	static char blob[SBX_RUN_MAX_STR + 8];
	memset(blob, 'p', sizeof(blob));
	blob[0] = '/';
	blob[SBX_RUN_HOOK_PATH_MAX] = '\0'; /* a path of 4096 bytes */
	expect_raw_hook_reject(0, 1, 0, 0, blob, SBX_RUN_HOOK_PATH_MAX + 1, E2BIG, "exceeds 4095");
	blob[SBX_RUN_HOOK_PATH_MAX] = 'p';
	blob[3] = '\0'; /* then one arg of SBX_RUN_MAX_STR bytes */
	blob[4 + SBX_RUN_MAX_STR] = '\0';
	expect_raw_hook_reject(0, 1, 1, 0, blob, 5 + SBX_RUN_MAX_STR, E2BIG, "exceeds 65535");
	/* The state: its kind, once per kind, no NUL. */
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\0\0\0", 3);
	expect_reject(&r, EPROTO, "without a valid kind");
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\2\0\0\0{}", 6);
	expect_reject(&r, EPROTO, "without a valid kind");
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\0\0\0\0{\0}", 7);
	expect_reject(&r, EPROTO, "contains NUL");
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\1\0\0\0{}", 6);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\0\0\0\0{}", 6);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, "\1\0\0\0{}", 6);
	expect_reject(&r, EPROTO, "duplicate startContainer hook state");
	static char state[4 + SBX_RUN_MAX_STR];
	memset(state, 's', sizeof(state));
	memcpy(state, "\0\0\0\0", 4);
	raw_start(&r);
	raw_tlv(&r, SBX_RUN_HOOK_STATE, state, sizeof(state));
	expect_reject(&r, E2BIG, "state of 65536 bytes");
	/* More than SBX_RUN_MAX_HOOKS of one kind (the other kind counts apart). */
	uint8_t v[64];
	uint32_t vl = hook_value(v, 1, 1, 0, 0, "/h", 3);
	raw_start(&r);
	for (unsigned i = 0; i < SBX_RUN_MAX_HOOKS; i++)
		raw_tlv(&r, SBX_RUN_HOOK, v, vl);
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_msg(sbx_run_decode(r.b, r.n, &q, &err) == 0, "%s", err.msg);
	sbx_run_req_free(&q);
	raw_tlv(&r, SBX_RUN_HOOK, v, hook_value(v, 0, 1, 0, 0, "/h", 3));
	ck_assert_int_eq(sbx_run_decode(r.b, r.n, &q, &err), 0);
	sbx_run_req_free(&q);
	raw_tlv(&r, SBX_RUN_HOOK, v, hook_value(v, 1, 1, 0, 0, "/h", 3));
	expect_reject(&r, E2BIG, "more than 16 startContainer hooks");
}
END_TEST

/* Every cut of a valid encoding inside its hook entries is refused, never misread. */
START_TEST(hooks_truncated)
{
	char *args[] = {"a", "bb"}, *env[] = {"K=V"};
	struct sbx_run_req req = {.argv = argv1, .argc = 1};
	req.hooks[SBX_HOOK_START_CONTAINER] = (struct sbx_run_hooks){
	    .n = 1,
	    .state = "{}",
	    .v = {
		{.path = "/h", .args = args, .n_args = 2, .env = env, .n_env = 1, .timeout_s = 3}}};
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	/* The hooks are the last entries: STATE (8 + 6 bytes), then HOOK (8 + 16 + 12 bytes). */
	size_t hooks_at = len - (8 + 6) - (8 + 16 + 12);
	static struct raw r;
	for (size_t cut = hooks_at + 1; cut < len; cut++) {
		if (cut == hooks_at + 14)
			continue; /* between the two entries: a valid, shorter request */
		struct sbx_run_req q;
		ck_assert_msg(sbx_run_decode(buf, cut, &q, &err) < 0, "cut at %zu accepted", cut);
		ck_assert_ptr_null(q.argv);
	}
	/* A HOOK whose entry length is one short: the last string loses its NUL. */
	memcpy(r.b, buf, len);
	r.n = len;
	size_t hook_len_at = len - (16 + 12) - 4;
	r.b[hook_len_at] = (uint8_t)(r.b[hook_len_at] - 1);
	r.n = len - 1;
	expect_reject(&r, EPROTO, "string 3 is truncated");
	free(buf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proto_hooks");
	TCase *c = tcase_create("run");
	tcase_add_test(c, hooks_round_trip);
	tcase_add_test(c, hooks_absent);
	tcase_add_test(c, hooks_encode_rejects);
	tcase_add_test(c, hooks_decode_rejects);
	tcase_add_test(c, hooks_truncated);
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
