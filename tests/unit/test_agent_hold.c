/*
 * OCI create/start in the agent (host mode, no VM): a RUN with HOLD builds the container and
 * answers CREATED while the workload waits before execve; START lets it run; a signal or a
 * dropped host ends a held container without it ever running.
 */
#pragma GCC diagnostic ignored "-Wunused-function" /* the harness serves several programs */
#include "agent_harness.h"

#include <sys/un.h>

/* Next frame within timeout_ms; its payload is freed by the caller. */
static void recv_frame(int fd, struct sbx_frame_hdr *h, uint8_t **p)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
	struct sbx_err err = {0};
	ck_assert_msg(sbx_frame_recv(fd, h, p, &err) == 0, "recv: %s", err.msg);
}

static void expect(int fd, uint32_t type)
{
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == type, "got frame %#x, expected %#x", h.type, type);
	free(p);
}

/* HELLO, then RUN with HOLD for argv; returns after CREATED. */
static int start_held(char **argv, pid_t *pid)
{
	int fd = h_agent_start(pid);
	expect(fd, SBX_MSG_HELLO);
	size_t argc = 0;
	while (argv[argc])
		argc++;
	struct sbx_run_req req = {.argv = argv, .argc = argc, .hold = true};
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_RUN, buf, len, &err), 0);
	free(buf);
	expect(fd, SBX_MSG_CREATED);
	return fd;
}

static void expect_exit(int fd, int32_t want)
{
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == SBX_MSG_EXIT, "got frame %#x, expected EXIT", h.type);
	int32_t code;
	uint32_t sig;
	ck_assert_int_eq(sbx_exit_decode(p, h.len, &code, &sig), 0);
	ck_assert_int_eq(code, want);
	free(p);
}

START_TEST(held_until_start)
{
	pid_t pid;
	char *argv[] = {"sh", "-c", "echo ran", NULL};
	int fd = start_held(argv, &pid);
	/* Held: nothing may come until START. */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 500), 0);
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_START, NULL, 0, &err), 0);
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_START, NULL, 0, &err), 0); /* twice: no-op */
	expect(fd, SBX_MSG_STARTED);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_uint_eq(h.type, SBX_MSG_STDOUT);
	ck_assert(h.len == 4 && !memcmp(p, "ran\n", 4));
	free(p);
	expect_exit(fd, 0);
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(signal_while_held)
{
	pid_t pid;
	char *argv[] = {"sh", "-c", "echo must-not-run", NULL};
	int fd = start_held(argv, &pid);
	uint8_t b[4];
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, SIGTERM), &err),
			 0);
	expect_exit(fd, 128 + SIGTERM); /* no STARTED, no output: it never ran */
	close(fd);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

START_TEST(host_drop_while_held)
{
	pid_t pid;
	char *argv[] = {"sleep", "100", NULL};
	int fd = start_held(argv, &pid);
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid); /* the agent ends: nothing waits forever */
}
END_TEST

START_TEST(exec_failure_after_start)
{
	pid_t pid;
	char *argv[] = {"no-such-command", NULL};
	int fd = start_held(argv, &pid);
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_START, NULL, 0, &err), 0);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_uint_eq(h.type, SBX_MSG_ERROR);
	int32_t e, code;
	char msg[SBX_ERR_MSG_MAX];
	ck_assert_int_eq(sbx_error_decode(p, h.len, &e, &code, msg, sizeof(msg)), 0);
	ck_assert_int_eq(code, 127);
	free(p);
	close(fd);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* ---- exec: a second process joins the running container ---- */

static char exec_sock[108];

static int test_dial(struct sbx_err *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", exec_sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return sbx_err_set(err, errno, "connect %s", exec_sock);
	return fd;
}

/* Frames until EXIT: stdout appended to out; returns the exit code. */
static int32_t collect(int fd, char *out, size_t cap)
{
	for (;;) {
		struct sbx_frame_hdr h;
		uint8_t *p = NULL;
		recv_frame(fd, &h, &p);
		if (h.type == SBX_MSG_STDOUT)
			strncat(out, (const char *)p, h.len < cap - strlen(out) ? h.len : 0);
		int32_t code = -1;
		uint32_t sig;
		bool end = h.type == SBX_MSG_EXIT && sbx_exit_decode(p, h.len, &code, &sig) == 0;
		ck_assert_msg(h.type != SBX_MSG_ERROR, "exec failed");
		free(p);
		if (end)
			return code;
	}
}

START_TEST(exec_joins_container)
{
	/* Not under h_rundir: the agent mounts its own run dir there. */
	snprintf(exec_sock, sizeof(exec_sock), "/tmp/test-agent-exec-%d.sock", (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", exec_sock);
	unlink(exec_sock);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	agent_exec_dial = test_dial; /* inherited by the forked agent */
	pid_t pid;
	char *argv[] = {"sh", "-c", "echo hi > /tmp/f; echo ready; sleep 100", NULL};
	int fd = start_held(argv, &pid);
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_START, NULL, 0, &err), 0);
	expect(fd, SBX_MSG_STARTED);
	expect(fd, SBX_MSG_STDOUT); /* "ready": /tmp/f exists */
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_EXEC, NULL, 0, &err), 0);
	struct pollfd p = {.fd = l, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 20000), 1);
	int x = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(x, 0);
	expect(x, SBX_MSG_HELLO);
	/* Same root (the file the first process wrote), same pid namespace (a small pid). */
	char *xargv[] = {"sh", "-c", "cat /tmp/f; echo $$", NULL};
	struct sbx_run_req req = {.argv = xargv, .argc = 3};
	uint8_t *buf;
	size_t len;
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	ck_assert_int_eq(sbx_frame_send(x, SBX_MSG_RUN, buf, len, &err), 0);
	free(buf);
	expect(x, SBX_MSG_STARTED);
	char out[256] = "";
	ck_assert_int_eq(collect(x, out, sizeof(out)), 0);
	ck_assert_msg(!strncmp(out, "hi\n", 3) && atoi(out + 3) > 1 && atoi(out + 3) < 20,
		      "exec saw '%s'", out);
	close(x);
	uint8_t b[4];
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, SIGKILL), &err),
			 0);
	expect_exit(fd, 128 + SIGKILL);
	close(fd);
	close(l);
	unlink(exec_sock);
	agent_exec_dial = NULL;
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_hold");
	TCase *c = tcase_create("hold");
	tcase_add_unchecked_fixture(c, h_setup, h_teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, held_until_start);
	tcase_add_test(c, signal_while_held);
	tcase_add_test(c, host_drop_while_held);
	tcase_add_test(c, exec_failure_after_start);
	tcase_add_test(c, exec_joins_container);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
