/* Unit tests for the wire protocol (common/proto.c, common/proto_io.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/proto.h"
#include "run_tlv.h"

/* ---- helpers: hand-built RUN payloads, so the decoder is tested independently of the encoder */

static void raw_str(struct raw *r, uint16_t tag, const char *s)
{
	raw_tlv_hdr(r, tag, 0, s, (uint32_t)strlen(s));
}

static void raw_u32(struct raw *r, uint16_t tag, uint32_t v)
{
	uint8_t b[4];
	sbx_u32_encode(b, v);
	raw_tlv_hdr(r, tag, 0, b, 4);
}

/* Decodes r and expects failure with `code`; the message must be one non-empty line. */
static void expect_reject(const struct raw *r, int code)
{
	struct sbx_run_req req;
	struct sbx_err err = {0};
	int rc = sbx_run_decode(r->b, r->n, &req, &err);
	ck_assert_int_eq(rc, -code);
	ck_assert_int_eq(err.code, code);
	ck_assert(err.msg[0] != '\0');
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	ck_assert_ptr_null(req.argv);
}

/* ---- header ---- */

START_TEST(hdr_round_trip)
{
	uint8_t b[SBX_FRAME_HDR_SIZE];
	struct sbx_frame_hdr h;
	struct sbx_err err = {0};
	sbx_hdr_encode(b, SBX_MSG_STDOUT, 300);
	ck_assert_int_eq(b[0], 0x83);
	ck_assert_int_eq(b[4], 300 & 0xff);
	ck_assert_int_eq(b[5], 1);
	ck_assert_int_eq(sbx_hdr_decode(b, &h, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_STDOUT);
	ck_assert_uint_eq(h.len, 300);
}
END_TEST

START_TEST(hdr_rejects)
{
	static const struct {
		uint32_t type, len;
		int code;
	} bad[] = {
	    {0, 0, EPROTO},
	    {0x87, 0, EPROTO},
	    {SBX_MSG_RUN, SBX_FRAME_MAX + 1, E2BIG},
	    {SBX_MSG_RUN, 0, EPROTO},
	    {SBX_MSG_STDOUT, SBX_DATA_MAX + 1, EPROTO},
	    {SBX_MSG_STDIN_CLOSE, 1, EPROTO},
	    {SBX_MSG_SIGNAL, 8, EPROTO},
	    {SBX_MSG_EXIT, 7, EPROTO},
	    {SBX_MSG_HELLO, 8, EPROTO},
	    {SBX_MSG_ERROR, 7, EPROTO},
	    {SBX_MSG_ERROR, 8 + SBX_ERR_MSG_MAX, EPROTO},
	    {0xffffffff, 0xffffffff, E2BIG},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t b[SBX_FRAME_HDR_SIZE];
		struct sbx_frame_hdr h;
		struct sbx_err err = {0};
		sbx_hdr_encode(b, bad[i].type, bad[i].len);
		ck_assert_int_eq(sbx_hdr_decode(b, &h, &err), -bad[i].code);
		ck_assert(err.msg[0]);
	}
}
END_TEST

/* ---- fixed payloads ---- */

START_TEST(fixed_round_trips)
{
	uint8_t b[12];
	int32_t code;
	uint32_t u, ver;
	uint16_t rows, cols;
	uint64_t ns;
	ck_assert_uint_eq(sbx_exit_encode(b, 143, 15), 8);
	ck_assert_int_eq(sbx_exit_decode(b, 8, &code, &u), 0);
	ck_assert_int_eq(code, 143);
	ck_assert_uint_eq(u, 15);
	ck_assert_uint_eq(sbx_u32_encode(b, 0xdeadbeef), 4);
	ck_assert_int_eq(sbx_u32_decode(b, 4, &u), 0);
	ck_assert_uint_eq(u, 0xdeadbeef);
	ck_assert_int_eq(b[0], 0xef);
	ck_assert_uint_eq(sbx_winsize_encode(b, 24, 80), 4);
	ck_assert_int_eq(sbx_winsize_decode(b, 4, &rows, &cols), 0);
	ck_assert_uint_eq(rows, 24);
	ck_assert_uint_eq(cols, 80);
	ck_assert_uint_eq(sbx_hello_encode(b, SBX_PROTO_VERSION, 0x0102030405060708ull), 12);
	ck_assert_int_eq(sbx_hello_decode(b, 12, &ver, &ns), 0);
	ck_assert_uint_eq(ver, SBX_PROTO_VERSION);
	ck_assert_uint_eq(ns, 0x0102030405060708ull);
	ck_assert_int_eq(b[4], 0x08);
}
END_TEST

START_TEST(fixed_rejects)
{
	uint8_t b[16] = {0};
	int32_t code;
	uint32_t u;
	uint16_t r, c;
	uint64_t ns;
	ck_assert_int_eq(sbx_exit_decode(b, 7, &code, &u), -EPROTO);
	ck_assert_int_eq(sbx_exit_decode(b, 9, &code, &u), -EPROTO);
	sbx_exit_encode(b, 256, 0);
	ck_assert_int_eq(sbx_exit_decode(b, 8, &code, &u), -EPROTO);
	sbx_exit_encode(b, -1, 0);
	ck_assert_int_eq(sbx_exit_decode(b, 8, &code, &u), -EPROTO);
	sbx_exit_encode(b, 0, 65);
	ck_assert_int_eq(sbx_exit_decode(b, 8, &code, &u), -EPROTO);
	ck_assert_int_eq(sbx_u32_decode(b, 3, &u), -EPROTO);
	ck_assert_int_eq(sbx_u32_decode(b, 5, &u), -EPROTO);
	ck_assert_int_eq(sbx_winsize_decode(b, 0, &r, &c), -EPROTO);
	ck_assert_int_eq(sbx_hello_decode(b, 11, &u, &ns), -EPROTO);
	ck_assert_int_eq(sbx_hello_decode(b, 13, &u, &ns), -EPROTO);
}
END_TEST

START_TEST(error_round_trip)
{
	uint8_t b[8 + SBX_ERR_MSG_MAX];
	char msg[SBX_ERR_MSG_MAX];
	int32_t e, code;
	size_t n = sbx_error_encode(b, sizeof(b), ENOENT, 127, "exec \"foo\": not found\n\x1b[2J");
	ck_assert_uint_eq(n, 8 + 26);
	ck_assert_int_eq(sbx_error_decode(b, n, &e, &code, msg, sizeof(msg)), 0);
	ck_assert_int_eq(e, ENOENT);
	ck_assert_int_eq(code, 127);
	ck_assert_str_eq(msg, "exec \"foo\": not found??[2J");
	/* small output buffer: cut, still NUL-terminated */
	ck_assert_int_eq(sbx_error_decode(b, n, &e, &code, msg, 5), 0);
	ck_assert_str_eq(msg, "exec");
	/* NULL message and a cap too small for the header */
	ck_assert_uint_eq(sbx_error_encode(b, sizeof(b), 1, 125, NULL), 8);
	ck_assert_uint_eq(sbx_error_encode(b, 7, 1, 125, "x"), 0);
	ck_assert_uint_eq(sbx_error_encode(b, 9, 1, 125, "xyz"), 9);
}
END_TEST

START_TEST(error_long_and_utf8)
{
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	uint8_t b[8 + SBX_ERR_MSG_MAX];
	size_t n = sbx_error_encode(b, sizeof(b), 5, 125, big);
	ck_assert_uint_eq(n, 8 + SBX_ERR_MSG_MAX - 1);
	/* "é" is two bytes: a cap that would split it drops it whole */
	n = sbx_error_encode(b, sizeof(b), 5, 125, "ab\xc3\xa9");
	char msg[4];
	int32_t e, c;
	ck_assert_int_eq(sbx_error_decode(b, n, &e, &c, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "ab");
	sbx_error_encode(b, sizeof(b), -1, 125, "x");
	ck_assert_int_eq(sbx_error_decode(b, 9, &e, &c, msg, sizeof(msg)), -EPROTO);
	sbx_error_encode(b, sizeof(b), 1, 300, "x");
	ck_assert_int_eq(sbx_error_decode(b, 9, &e, &c, msg, sizeof(msg)), -EPROTO);
}
END_TEST

/* ---- RUN ---- */

START_TEST(run_round_trip)
{
	char *argv[] = {"sh", "-c", "", NULL};
	char *envp[] = {"PATH=/bin", "EMPTY=", NULL};
	struct sbx_run_req in = {
	    .argv = argv,
	    .argc = 3,
	    .envp = envp,
	    .envc = 2,
	    .cwd = "/tmp",
	    .hostname = "box",
	    .domainname = "example.test",
	    .rootfs = "/dev/vda",
	    .rootfs_type = "erofs",
	    .uid = 1000,
	    .gid = 100,
	    .add_gids = {10, 20},
	    .n_add_gids = 2,
	    .terminal = true,
	    .open_stdin = true,
	    .rows = 50,
	    .cols = 132,
	    .time_ns = 1700000000123456789ull,
	};
	cleanup_free uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), 0);
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, &err), 0);
	ck_assert_uint_eq(out.argc, 3);
	ck_assert_str_eq(out.argv[0], "sh");
	ck_assert_str_eq(out.argv[2], "");
	ck_assert_ptr_null(out.argv[3]);
	ck_assert_uint_eq(out.envc, 2);
	ck_assert_str_eq(out.envp[1], "EMPTY=");
	ck_assert_ptr_null(out.envp[2]);
	ck_assert_str_eq(out.cwd, "/tmp");
	ck_assert_str_eq(out.hostname, "box");
	ck_assert_str_eq(out.domainname, "example.test");
	ck_assert_str_eq(out.rootfs, "/dev/vda");
	ck_assert_str_eq(out.rootfs_type, "erofs");
	ck_assert_uint_eq(out.uid, 1000);
	ck_assert_uint_eq(out.gid, 100);
	ck_assert_uint_eq(out.n_add_gids, 2);
	ck_assert_uint_eq(out.add_gids[1], 20);
	ck_assert(out.terminal && out.open_stdin);
	ck_assert_uint_eq(out.rows, 50);
	ck_assert_uint_eq(out.cols, 132);
	ck_assert_uint_eq(out.time_ns, 1700000000123456789ull);
	sbx_run_req_free(&out);
	ck_assert_ptr_null(out.argv);
	sbx_run_req_free(&out); /* idempotent */
}
END_TEST

/* SEED (templates): opaque bytes, 32..256 of them, carried exactly; absent means none. */
START_TEST(run_seed)
{
	char *argv[] = {"true", NULL};
	struct sbx_run_req in = {.argv = argv, .argc = 1, .seed_len = SBX_RUN_SEED_MAX};
	for (size_t i = 0; i < in.seed_len; i++)
		in.seed[i] = (uint8_t)(i * 7 + 1);
	cleanup_free uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), 0);
	struct sbx_run_req out;
	ck_assert_int_eq(sbx_run_decode(buf, len, &out, &err), 0);
	ck_assert_uint_eq(out.seed_len, SBX_RUN_SEED_MAX);
	ck_assert_mem_eq(out.seed, in.seed, SBX_RUN_SEED_MAX);
	sbx_run_req_free(&out);

	in.seed_len = SBX_RUN_SEED_MIN - 1; /* the encoder refuses what the decoder would */
	ck_assert_int_eq(sbx_run_encode(&in, &buf, &len, &err), -EINVAL);
	uint8_t big[SBX_RUN_SEED_MAX + 1] = {0};
	struct raw r = {0};
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_tlv_hdr(&r, SBX_RUN_SEED, 0, big, SBX_RUN_SEED_MIN - 1);
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_tlv_hdr(&r, SBX_RUN_SEED, 0, big, sizeof(big));
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_tlv_hdr(&r, SBX_RUN_SEED, 0, big, SBX_RUN_SEED_MIN);
	raw_tlv_hdr(&r, SBX_RUN_SEED, 0, big, SBX_RUN_SEED_MIN);
	expect_reject(&r, EPROTO); /* singular */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, SBX_RUN_SEED + 1, "y");
	expect_reject(&r, EPROTO); /* the first tag after SEED is still unknown */
}
END_TEST

START_TEST(run_minimal_defaults)
{
	struct raw r = {0};
	raw_str(&r, SBX_RUN_ARG, "true");
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_decode(r.b, r.n, &q, &err), 0);
	ck_assert_uint_eq(q.argc, 1);
	ck_assert_str_eq(q.cwd, "/");
	ck_assert_uint_eq(q.envc, 0);
	ck_assert_ptr_null(q.envp[0]);
	ck_assert_ptr_null(q.hostname);
	ck_assert_ptr_null(q.rootfs);
	ck_assert(!q.terminal && !q.open_stdin);
	ck_assert_uint_eq(q.uid, 0);
	sbx_run_req_free(&q);
}
END_TEST

START_TEST(run_encode_rejects)
{
	char *argv[] = {"x", NULL};
	char *bad_env[] = {"NOEQUALS", NULL};
	char *empty_key[] = {"=v", NULL};
	struct sbx_run_req q = {.argv = argv, .argc = 0};
	uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.argc = 1;
	q.cwd = "relative";
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.cwd = NULL;
	q.envp = bad_env, q.envc = 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.envp = empty_key;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -EINVAL);
	q.envc = 0;
	q.n_add_gids = SBX_RUN_MAX_GIDS + 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -E2BIG);
	q.n_add_gids = 0;
	q.argc = SBX_RUN_MAX_ARGS + 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -E2BIG);
	ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(run_encode_too_big)
{
	/* 20 args of 64 KiB - 1 exceed the 1 MiB frame limit */
	char *s = malloc(SBX_RUN_MAX_STR);
	memset(s, 'x', SBX_RUN_MAX_STR - 1);
	s[SBX_RUN_MAX_STR - 1] = '\0';
	char *argv[21];
	for (int i = 0; i < 20; i++)
		argv[i] = s;
	argv[20] = NULL;
	struct sbx_run_req q = {.argv = argv, .argc = 20};
	uint8_t *buf = NULL;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -E2BIG);
	ck_assert_ptr_null(buf);
	/* one string over the limit */
	char *longer = malloc(SBX_RUN_MAX_STR + 1);
	memset(longer, 'y', SBX_RUN_MAX_STR);
	longer[SBX_RUN_MAX_STR] = '\0';
	argv[0] = longer;
	q.argc = 1;
	ck_assert_int_eq(sbx_run_encode(&q, &buf, &len, &err), -E2BIG);
	free(s);
	free(longer);
}
END_TEST

START_TEST(run_decode_rejects_structure)
{
	struct raw r = {0};
	expect_reject(&r, EPROTO); /* no ARG */
	raw_str(&r, SBX_RUN_ENV, "A=b");
	expect_reject(&r, EPROTO); /* still no ARG */

	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, 99, "y");
	expect_reject(&r, EPROTO); /* unknown tag */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, 0, "y");
	expect_reject(&r, EPROTO); /* tag 0 */
	r.n = 0;
	raw_tlv_hdr(&r, SBX_RUN_ARG, 1, "x", 1);
	expect_reject(&r, EPROTO); /* reserved != 0 */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	r.n += 3; /* trailing bytes: a partial TLV header */
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "xyz");
	r.n -= 1; /* value overruns the payload */
	expect_reject(&r, EPROTO);
}
END_TEST

START_TEST(run_decode_rejects_values)
{
	struct raw r = {0};
	raw_tlv_hdr(&r, SBX_RUN_ARG, 0, "a\0b", 3);
	expect_reject(&r, EPROTO); /* NUL inside a string */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, SBX_RUN_CWD, "/a");
	raw_str(&r, SBX_RUN_CWD, "/b");
	expect_reject(&r, EPROTO); /* duplicate singular tag */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, SBX_RUN_CWD, "tmp");
	expect_reject(&r, EINVAL); /* relative cwd */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, SBX_RUN_CWD, "");
	expect_reject(&r, EINVAL);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_str(&r, SBX_RUN_ENV, "NOEQ");
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_tlv_hdr(&r, SBX_RUN_UID, 0, "\0\0\0", 3);
	expect_reject(&r, EPROTO); /* integer of the wrong size */
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_tlv_hdr(&r, SBX_RUN_TIME_NS, 0, "\0\0\0\0", 4);
	expect_reject(&r, EPROTO);
	r.n = 0;
	raw_str(&r, SBX_RUN_ARG, "x");
	raw_u32(&r, SBX_RUN_TERMINAL, 2);
	expect_reject(&r, EPROTO); /* boolean out of range */
}
END_TEST

START_TEST(run_decode_rejects_limits)
{
	static struct raw r;
	r.n = 0;
	for (unsigned i = 0; i <= SBX_RUN_MAX_GIDS; i++)
		raw_u32(&r, SBX_RUN_ADD_GID, i);
	raw_str(&r, SBX_RUN_ARG, "x");
	expect_reject(&r, E2BIG);
	r.n = 0;
	for (unsigned i = 0; i <= SBX_RUN_MAX_ARGS; i++)
		raw_str(&r, SBX_RUN_ARG, "");
	expect_reject(&r, E2BIG);
	r.n = 0;
	for (unsigned i = 0; i <= SBX_RUN_MAX_ENV; i++)
		raw_str(&r, SBX_RUN_ENV, "A=");
	raw_str(&r, SBX_RUN_ARG, "x");
	expect_reject(&r, E2BIG);
	r.n = 0;
	char *s = malloc(SBX_RUN_MAX_STR);
	memset(s, 'a', SBX_RUN_MAX_STR);
	raw_tlv_hdr(&r, SBX_RUN_ARG, 0, s, SBX_RUN_MAX_STR); /* no room for the NUL */
	expect_reject(&r, E2BIG);
	r.n = 0;
	raw_tlv_hdr(&r, SBX_RUN_ARG, 0, s, SBX_RUN_MAX_STR - 1); /* exactly at the limit: fine */
	struct sbx_run_req q;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_decode(r.b, r.n, &q, &err), 0);
	ck_assert_uint_eq(strlen(q.argv[0]), SBX_RUN_MAX_STR - 1);
	sbx_run_req_free(&q);
	free(s);
	ck_assert_int_eq(sbx_run_decode(r.b, SBX_FRAME_MAX + 1, &q, &err), -E2BIG);
}
END_TEST

/* ---- stream helpers ---- */

START_TEST(send_recv_socketpair)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(sv[0], SBX_MSG_STDOUT, "hello", 5, &err), 0);
	ck_assert_int_eq(sbx_frame_send(sv[0], SBX_MSG_STDIN_CLOSE, NULL, 0, &err), 0);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	ck_assert_int_eq(sbx_frame_recv(sv[1], &h, &p, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_STDOUT);
	ck_assert_uint_eq(h.len, 5);
	ck_assert_mem_eq(p, "hello", 5);
	free(p);
	ck_assert_int_eq(sbx_frame_recv(sv[1], &h, &p, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_STDIN_CLOSE);
	ck_assert_ptr_null(p);
	/* truncated payload then EOF */
	uint8_t hdr[8];
	sbx_hdr_encode(hdr, SBX_MSG_STDOUT, 10);
	ck_assert_int_eq(write(sv[0], hdr, 8), 8);
	ck_assert_int_eq(write(sv[0], "abc", 3), 3);
	close(sv[0]);
	ck_assert_int_eq(sbx_frame_recv(sv[1], &h, &p, &err), -EPROTO);
	ck_assert_int_eq(sbx_frame_recv(sv[1], &h, &p, &err), -ECONNRESET);
	ck_assert_int_eq(sbx_frame_send(sv[1], SBX_MSG_STDOUT, "x", 1, &err), -EPIPE);
	ck_assert_int_eq(sbx_frame_send(sv[1], SBX_MSG_RUN, "x", SBX_FRAME_MAX + 1, &err), -E2BIG);
	close(sv[1]);
}
END_TEST

START_TEST(recv_bad_header)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t hdr[8];
	sbx_hdr_encode(hdr, 0x42, 0);
	ck_assert_int_eq(write(sv[0], hdr, 5), 5);
	close(sv[0]);
	struct sbx_frame_hdr h;
	uint8_t *p;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_recv(sv[1], &h, &p, &err), -EPROTO); /* EOF inside header */
	close(sv[1]);
}
END_TEST

/* Builds a stream of three frames; feeds it `step` bytes at a time; checks every frame. */
static void reader_run(size_t step)
{
	uint8_t s[64];
	size_t n = 0;
	sbx_hdr_encode(s, SBX_MSG_STDIN, 3);
	memcpy(s + 8, "abc", 3);
	n = 11;
	sbx_hdr_encode(s + n, SBX_MSG_STDIN_CLOSE, 0);
	n += 8;
	sbx_hdr_encode(s + n, SBX_MSG_WINSIZE, 4);
	sbx_winsize_encode(s + n + 8, 1, 2);
	n += 12;
	struct sbx_frame_reader r = {0};
	struct sbx_err err = {0};
	uint32_t types[3];
	size_t got = 0, off = 0;
	while (off < n) {
		size_t len = n - off < step ? n - off : step, used;
		struct sbx_frame_hdr h;
		uint8_t *p;
		int rc = sbx_frame_reader_feed(&r, s + off, len, &used, &h, &p, &err);
		ck_assert_int_ge(rc, 0);
		ck_assert_uint_le(used, len);
		off += used;
		if (rc == 1) {
			ck_assert_uint_lt(got, 3);
			types[got++] = h.type;
			if (h.type == SBX_MSG_STDIN)
				ck_assert_mem_eq(p, "abc", 3);
			if (h.len == 0)
				ck_assert_ptr_null(p);
			free(p);
		} else {
			ck_assert_uint_eq(used, len); /* 0 means "more needed": all consumed */
		}
	}
	ck_assert_uint_eq(got, 3);
	ck_assert_uint_eq(types[0], SBX_MSG_STDIN);
	ck_assert_uint_eq(types[1], SBX_MSG_STDIN_CLOSE);
	ck_assert_uint_eq(types[2], SBX_MSG_WINSIZE);
	sbx_frame_reader_reset(&r);
}

START_TEST(reader_byte_by_byte)
{
	reader_run(1);
	reader_run(5);
	reader_run(64);
}
END_TEST

START_TEST(reader_rejects_and_reset)
{
	struct sbx_frame_reader r = {0};
	struct sbx_err err = {0};
	uint8_t s[8];
	size_t used;
	struct sbx_frame_hdr h;
	uint8_t *p;
	sbx_hdr_encode(s, SBX_MSG_STDOUT, 100);
	ck_assert_int_eq(sbx_frame_reader_feed(&r, s, 8, &used, &h, &p, &err), 0);
	sbx_frame_reader_reset(&r); /* frees the half-filled payload (checked under ASan) */
	sbx_hdr_encode(s, SBX_MSG_SIGNAL, 9);
	ck_assert_int_eq(sbx_frame_reader_feed(&r, s, 8, &used, &h, &p, &err), -EPROTO);
	sbx_frame_reader_reset(&r);
	sbx_hdr_encode(s, SBX_MSG_RUN, SBX_FRAME_MAX + 1);
	ck_assert_int_eq(sbx_frame_reader_feed(&r, s, 8, &used, &h, &p, &err), -E2BIG);
	sbx_frame_reader_reset(&r);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *c = tcase_create("codec");
	tcase_add_test(c, hdr_round_trip);
	tcase_add_test(c, hdr_rejects);
	tcase_add_test(c, fixed_round_trips);
	tcase_add_test(c, fixed_rejects);
	tcase_add_test(c, error_round_trip);
	tcase_add_test(c, error_long_and_utf8);
	tcase_add_test(c, run_round_trip);
	tcase_add_test(c, run_minimal_defaults);
	tcase_add_test(c, run_seed);
	tcase_add_test(c, run_encode_rejects);
	tcase_add_test(c, run_encode_too_big);
	tcase_add_test(c, run_decode_rejects_structure);
	tcase_add_test(c, run_decode_rejects_values);
	tcase_add_test(c, run_decode_rejects_limits);
	suite_add_tcase(s, c);
	TCase *io = tcase_create("stream");
	tcase_add_test(io, send_recv_socketpair);
	tcase_add_test(io, recv_bad_header);
	tcase_add_test(io, reader_byte_by_byte);
	tcase_add_test(io, reader_rejects_and_reset);
	suite_add_tcase(s, io);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
