/*
 * Host-mode tests of the agent (agent/) without a VM: the agent library runs in a forked
 * process with a busybox directory rootfs, and the test plays the host over a socketpair.
 */
#include "agent_harness.h"

static bool out_eq(const struct byteq *q, const char *s)
{
	return q->len == strlen(s) && memcmp(byteq_data(q), s, q->len) == 0;
}

START_TEST(echo_output)
{
	char *argv[] = {"echo", "hello", "world", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.hello && r.started && r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert_uint_eq(r.signo, 0);
	ck_assert_msg(out_eq(&r.out, "hello world\n"), "stdout %.*s", (int)r.out.len,
		      byteq_data(&r.out));
	ck_assert_uint_eq(r.err.len, 0);
	ck_assert_int_eq(r.frames_after_final, 0);
	ck_assert(WIFEXITED(r.agent_status) && WEXITSTATUS(r.agent_status) == 0);
	h_result_free(&r);
}
END_TEST

START_TEST(exit_code_and_stderr)
{
	char *argv[] = {"sh", "-c", "echo oops >&2; exit 7", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 7);
	ck_assert(out_eq(&r.err, "oops\n"));
	ck_assert_uint_eq(r.out.len, 0);
	h_result_free(&r);
}
END_TEST

START_TEST(stdin_through_cat)
{
	char *argv[] = {"cat", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1, .open_stdin = true};
	struct h_plan plan = {
	    .stdin_data = "line one\nline two\n", .stdin_len = 18, .close_stdin = true};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert(out_eq(&r.out, "line one\nline two\n"));
	h_result_free(&r);
}
END_TEST

START_TEST(stdin_closed_is_dev_null)
{
	char *argv[] = {"cat", NULL};
	struct h_result r;
	h_run_argv(argv, &r); /* would hang forever if stdin were anything but /dev/null */
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert_uint_eq(r.out.len, 0);
	h_result_free(&r);
}
END_TEST

START_TEST(sigterm_gives_143)
{
	char *argv[] = {"sleep", "100", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 2};
	struct h_plan plan = {.signal_on_start = SIGTERM};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 143);
	ck_assert_uint_eq(r.signo, SIGTERM);
	h_result_free(&r);
}
END_TEST

START_TEST(sigkill_gives_137)
{
	char *argv[] = {"sleep", "100", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 2};
	struct h_plan plan = {.signal_on_start = SIGKILL};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 137);
	h_result_free(&r);
}
END_TEST

START_TEST(missing_command_127)
{
	char *argv[] = {"no-such-command", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.failed && !r.exited && !r.started);
	ck_assert_int_eq(r.code, 127);
	ck_assert_int_eq(r.err_errno, ENOENT);
	ck_assert_str_eq(r.msg, "exec \"no-such-command\": No such file or directory");
	h_result_free(&r);
}
END_TEST

START_TEST(not_executable_126)
{
	char *argv[] = {"/bin", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.failed);
	ck_assert_int_eq(r.code, 126);
	ck_assert_int_eq(r.err_errno, EACCES);
	h_result_free(&r);
}
END_TEST

START_TEST(bad_cwd_125)
{
	char *argv[] = {"true", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1, .cwd = "/nonexistent"};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.failed);
	ck_assert_int_eq(r.code, 125);
	ck_assert_ptr_nonnull(strstr(r.msg, "/nonexistent"));
	h_result_free(&r);
}
END_TEST

START_TEST(terminal_mode)
{
	char *argv[] = {"sh", "-c", "test -t 0 && test -t 1 && echo tty-ok; stty size", NULL};
	struct sbx_run_req req = {
	    .argv = argv, .argc = 3, .terminal = true, .rows = 50, .cols = 132};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert_msg(out_eq(&r.out, "tty-ok\r\n50 132\r\n"), "pty output '%.*s'", (int)r.out.len,
		      byteq_data(&r.out));
	ck_assert_uint_eq(r.err.len, 0);
	h_result_free(&r);
}
END_TEST

START_TEST(identity_env_cwd_hostname)
{
	char *argv[] = {"sh", "-c", "echo $(id -u):$(id -g):$(id -G) $FOO $(pwd) $(hostname)",
			NULL};
	char *envp[] = {"FOO=bar", "PATH=/bin", NULL};
	struct sbx_run_req req = {.argv = argv,
				  .argc = 3,
				  .envp = envp,
				  .envc = 2,
				  .uid = 1000,
				  .gid = 100,
				  .add_gids = {100, 5},
				  .n_add_gids = 2,
				  .cwd = "/tmp",
				  .hostname = "box"};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_msg(out_eq(&r.out, "1000:100:100 5 bar /tmp box\n"), "got '%.*s'", (int)r.out.len,
		      byteq_data(&r.out));
	h_result_free(&r);
}
END_TEST

/* The container sees its rootfs plus /dev /proc /sys, nothing of the agent's tree. */
static void check_root_view(void)
{
	char *argv[] = {"sh", "-c", "echo $(ls /); echo $(ls /dev); cat /proc/1/status | head -1",
			NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	const char *want =
	    "bin dev proc sys tmp\n"
	    "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom "
	    "zero\n";
	ck_assert_msg(r.out.len > strlen(want) &&
			  memcmp(byteq_data(&r.out), want, strlen(want)) == 0,
		      "got '%.*s'", (int)r.out.len, byteq_data(&r.out));
	h_result_free(&r);
}

START_TEST(root_view_pivot)
{
	check_root_view();
}
END_TEST

START_TEST(root_view_move_chroot)
{
	h_force_move = true;
	check_root_view();
}
END_TEST

#define BIG (10u * 1024u * 1024u)

/* 10 MiB out while 10 MiB goes in: the agent must never deadlock nor lose a byte. */
START_TEST(big_stream_both_ways)
{
	char *data = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (char)('a' + (i * 7 + i / 4099) % 26);
	char *argv[] = {"cat", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 1, .open_stdin = true};
	struct h_plan plan = {.stdin_data = data, .stdin_len = BIG, .close_stdin = true};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert_uint_eq(r.out.len, BIG);
	ck_assert(memcmp(byteq_data(&r.out), data, BIG) == 0);
	free(data);
	h_result_free(&r);
}
END_TEST

START_TEST(big_output)
{
	char *argv[] = {"sh", "-c", "yes 0123456789abcde | head -c 10485760", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert_uint_eq(r.out.len, BIG);
	const uint8_t *d = byteq_data(&r.out);
	for (size_t i = 0; i < BIG; i += 16)
		ck_assert(memcmp(d + i, "0123456789abcde\n", i + 16 <= BIG ? 16 : BIG - i) == 0);
	h_result_free(&r);
}
END_TEST

/* Output of a background child that outlives the workload is cut, not waited for. */
START_TEST(orphans_do_not_hang)
{
	char *argv[] = {"sh", "-c", "sleep 100 & echo done", NULL};
	struct h_result r;
	h_run_argv(argv, &r);
	ck_assert(r.exited);
	ck_assert_int_eq(r.code, 0);
	ck_assert(out_eq(&r.out, "done\n"));
	h_result_free(&r);
}
END_TEST

START_TEST(host_drop_kills_container)
{
	char *argv[] = {"sleep", "100", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 2};
	struct h_plan plan = {.drop_on_start = true};
	struct h_result r;
	h_run(&req, &plan, &r); /* returns once the agent exited: it must not wait for sleep */
	ck_assert(WIFEXITED(r.agent_status) && WEXITSTATUS(r.agent_status) == 1);
	h_result_free(&r);
}
END_TEST

/* A second RUN after the container started: ERROR 125, and the container is killed. */
START_TEST(protocol_error_after_run)
{
	char *argv[] = {"sleep", "100", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 2};
	struct h_plan plan = {.bogus_on_start = true};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert(r.failed && !r.exited);
	ck_assert_int_eq(r.code, 125);
	ck_assert_ptr_nonnull(strstr(r.msg, "unexpected frame type 0x1"));
	h_result_free(&r);
}
END_TEST

/* A frame other than RUN first is answered with ERROR 125. */
START_TEST(protocol_error_before_run)
{
	pid_t pid;
	int fd = h_agent_start(&pid);
	struct sbx_err err = {0};
	struct sbx_frame_hdr h;
	uint8_t *p;
	ck_assert_int_eq(sbx_frame_recv(fd, &h, &p, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_HELLO);
	free(p);
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_STDIN, "x", 1, &err), 0);
	ck_assert_int_eq(sbx_frame_recv(fd, &h, &p, &err), 0);
	ck_assert_uint_eq(h.type, SBX_MSG_ERROR);
	int32_t e, code;
	char msg[256];
	ck_assert_int_eq(sbx_error_decode(p, h.len, &e, &code, msg, sizeof(msg)), 0);
	ck_assert_int_eq(code, 125);
	ck_assert_ptr_nonnull(strstr(msg, "expected RUN"));
	free(p);
	ck_assert_int_eq(sbx_frame_recv(fd, &h, &p, &err), -ECONNRESET);
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}
END_TEST

static Suite *agent_suite(void)
{
	Suite *s = suite_create("agent");
	TCase *c = tcase_create("run");
	tcase_add_unchecked_fixture(c, h_setup, h_teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, echo_output);
	tcase_add_test(c, exit_code_and_stderr);
	tcase_add_test(c, stdin_through_cat);
	tcase_add_test(c, stdin_closed_is_dev_null);
	tcase_add_test(c, sigterm_gives_143);
	tcase_add_test(c, sigkill_gives_137);
	tcase_add_test(c, missing_command_127);
	tcase_add_test(c, not_executable_126);
	tcase_add_test(c, bad_cwd_125);
	tcase_add_test(c, terminal_mode);
	tcase_add_test(c, identity_env_cwd_hostname);
	tcase_add_test(c, root_view_pivot);
	tcase_add_test(c, root_view_move_chroot);
	tcase_add_test(c, big_stream_both_ways);
	tcase_add_test(c, big_output);
	tcase_add_test(c, orphans_do_not_hang);
	tcase_add_test(c, host_drop_kills_container);
	tcase_add_test(c, protocol_error_before_run);
	tcase_add_test(c, protocol_error_after_run);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(agent_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
