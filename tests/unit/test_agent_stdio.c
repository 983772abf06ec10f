/* Unit tests for the agent's small pieces: byte queues, stdio channels, exit-code mapping. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/agent.h"

START_TEST(byteq_fifo)
{
	struct byteq q = {0};
	char big[10000];
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(byteq_push(&q, "abc", 3), 0);
	ck_assert_int_eq(byteq_push(&q, big, sizeof(big)), 0);
	ck_assert_uint_eq(q.len, 3 + sizeof(big));
	ck_assert_mem_eq(byteq_data(&q), "abcx", 4);
	byteq_pop(&q, 2);
	ck_assert_mem_eq(byteq_data(&q), "cx", 2);
	byteq_pop(&q, q.len);
	ck_assert_uint_eq(q.len, 0);
	ck_assert_uint_eq(q.head, 0);
	/* consumed front space is reused, not grown into */
	size_t cap = q.cap;
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(byteq_push(&q, big, 100), 0);
		byteq_pop(&q, 100);
	}
	ck_assert_uint_eq(q.cap, cap);
	byteq_free(&q);
	ck_assert_ptr_null(q.buf);
}
END_TEST

START_TEST(byteq_frames)
{
	struct byteq q = {0};
	ck_assert_int_eq(byteq_push_frame(&q, SBX_MSG_STDOUT, "hi", 2), 0);
	ck_assert_int_eq(byteq_push_frame(&q, SBX_MSG_STDIN_CLOSE, NULL, 0), 0);
	ck_assert_uint_eq(q.len, 8 + 2 + 8);
	struct sbx_frame_hdr h;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_hdr_decode(byteq_data(&q), &h, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_STDOUT);
	ck_assert_uint_eq(h.len, 2);
	ck_assert_mem_eq(byteq_data(&q) + 8, "hi", 2);
	byteq_free(&q);
}
END_TEST

START_TEST(exit_codes)
{
	ck_assert_int_eq(exec_errno_to_code(ENOENT), 127);
	ck_assert_int_eq(exec_errno_to_code(EACCES), 126);
	ck_assert_int_eq(exec_errno_to_code(ENOEXEC), 126);
	ck_assert_int_eq(exec_errno_to_code(EISDIR), 126);
}
END_TEST

START_TEST(stdio_pipes)
{
	char *argv[] = {"x", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1, .open_stdin = true};
	struct agent_stdio s;
	struct sbx_err err = {0};
	ck_assert_int_eq(stdio_create(&s, &req, &err), 0);
	ck_assert(!s.tty);
	ck_assert(s.in_w >= 0 && s.out_r >= 0 && s.err_r >= 0);
	ck_assert(fcntl(s.out_r, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(s.out_r, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(write(s.child[1], "o", 1), 1);
	char c;
	ck_assert_int_eq(read(s.out_r, &c, 1), 1);
	stdio_close_child(&s);
	ck_assert_int_eq(read(s.out_r, &c, 1), 0); /* agent holds no writer: EOF */
	stdio_destroy(&s);
	req.open_stdin = false;
	ck_assert_int_eq(stdio_create(&s, &req, &err), 0);
	ck_assert_int_eq(s.in_w, -1);
	ck_assert_int_eq(read(s.child[0], &c, 1), 0); /* /dev/null */
	stdio_destroy(&s);
}
END_TEST

START_TEST(stdio_pty)
{
	char *argv[] = {"x", NULL};
	struct sbx_run_req req = {
	    .argv = argv, .argc = 1, .terminal = true, .rows = 30, .cols = 90};
	struct agent_stdio s;
	struct sbx_err err = {0};
	if (stdio_create(&s, &req, &err) < 0) {
		fprintf(stderr, "skipping: %s\n", err.msg);
		return;
	}
	ck_assert(s.tty);
	ck_assert_int_eq(s.in_w, s.out_r);
	ck_assert_int_eq(s.err_r, -1);
	ck_assert(isatty(s.child[0]) && s.child[0] == s.child[2]);
	ck_assert_int_eq(write(s.child[1], "z", 1), 1);
	char c;
	ck_assert_int_eq(read(s.out_r, &c, 1), 1);
	stdio_close_child(&s);
	ck_assert_int_eq(read(s.out_r, &c, 1), -1);
	ck_assert_int_eq(errno, EIO); /* how the agent sees "all slave ends closed" */
	stdio_destroy(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_stdio");
	TCase *c = tcase_create("stdio");
	tcase_add_test(c, byteq_fifo);
	tcase_add_test(c, byteq_frames);
	tcase_add_test(c, exit_codes);
	tcase_add_test(c, stdio_pipes);
	tcase_add_test(c, stdio_pty);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
