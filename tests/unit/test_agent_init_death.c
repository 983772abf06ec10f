/*
 * A container init that dies before its workload's execve (host mode, no VM): the agent reports
 * a failure to start (ERROR 125, "container init died before exec: ..."), never STARTED and
 * never the init's death as the workload's exit status. A SIGKILL the host itself sent stays an
 * EXIT (the container was killed on request), and a workload that ran still ends in STARTED and
 * EXIT even when its init is killed afterwards (agent/process.c, agent/channel.c).
 */
#pragma GCC diagnostic ignored "-Wunused-function" /* the harness serves several programs */
#include "agent_harness.h"

/* Next frame within 20 s; its payload is freed by the caller. */
static void recv_frame(int fd, struct sbx_frame_hdr *h, uint8_t **p)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
	struct sbx_err err = {0};
	ck_assert_msg(sbx_frame_recv(fd, h, p, &err) == 0, "recv: %s", err.msg);
}

/* Waits for a frame of this type; returns its u32 payload (pid) when it has one. */
static uint32_t expect(int fd, uint32_t type)
{
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	uint32_t v = 0;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == type, "got frame %#x, expected %#x", h.type, type);
	if (h.len == 4)
		ck_assert_int_eq(sbx_u32_decode(p, h.len, &v), 0);
	free(p);
	return v;
}

static int start_run(char **argv, bool hold, pid_t *agent)
{
	int fd = h_agent_start(agent);
	expect(fd, SBX_MSG_HELLO);
	size_t argc = 0;
	while (argv[argc])
		argc++;
	struct sbx_run_req req = {.argv = argv, .argc = argc, .hold = hold};
	uint8_t *buf;
	size_t len;
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_run_encode(&req, &buf, &len, &err), 0);
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_RUN, buf, len, &err), 0);
	free(buf);
	return fd;
}

static void finish(int fd, pid_t agent)
{
	close(fd);
	int st;
	ck_assert_int_eq(waitpid(agent, &st, 0), agent);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Killed from outside (no SIGNAL frame) while the workload is held before its execve. */
START_TEST(init_killed_while_held_is_a_start_failure)
{
	pid_t agent;
	char *argv[] = {"echo", "NEVER", NULL};
	int fd = start_run(argv, true, &agent);
	pid_t init = (pid_t)expect(fd, SBX_MSG_CREATED);
	ck_assert_int_gt(init, 1);
	ck_assert_int_eq(kill(init, SIGKILL), 0);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == SBX_MSG_ERROR, "got frame %#x, expected ERROR", h.type);
	int32_t e, code;
	char msg[SBX_ERR_MSG_MAX];
	ck_assert_int_eq(sbx_error_decode(p, h.len, &e, &code, msg, sizeof(msg)), 0);
	free(p);
	ck_assert_int_eq(code, 125);
	ck_assert_str_eq(msg, "container init died before exec: signal 9 (Killed)");
	finish(fd, agent);
}
END_TEST

/* The host's own SIGKILL of a held container: killed on request, EXIT 137 as before. */
START_TEST(host_sigkill_while_held_is_an_exit)
{
	pid_t agent;
	char *argv[] = {"echo", "NEVER", NULL};
	int fd = start_run(argv, true, &agent);
	expect(fd, SBX_MSG_CREATED);
	uint8_t b[4];
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, SIGKILL), &err),
			 0);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == SBX_MSG_EXIT, "got frame %#x, expected EXIT", h.type);
	int32_t code;
	uint32_t sig;
	ck_assert_int_eq(sbx_exit_decode(p, h.len, &code, &sig), 0);
	free(p);
	ck_assert_int_eq(code, 128 + SIGKILL);
	finish(fd, agent);
}
END_TEST

/* After a successful execve the init's death is the container's end: STARTED, then EXIT. */
START_TEST(init_killed_after_exec_is_an_exit)
{
	pid_t agent;
	char *argv[] = {"sh", "-c", "echo RUNNING; exec sleep 60", NULL};
	int fd = start_run(argv, false, &agent);
	pid_t init = (pid_t)expect(fd, SBX_MSG_STARTED);
	ck_assert_int_gt(init, 1);
	expect(fd, SBX_MSG_STDOUT);
	ck_assert_int_eq(kill(init, SIGKILL), 0);
	struct sbx_frame_hdr h;
	uint8_t *p = NULL;
	recv_frame(fd, &h, &p);
	ck_assert_msg(h.type == SBX_MSG_EXIT, "got frame %#x, expected EXIT", h.type);
	free(p);
	finish(fd, agent);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent_init_death");
	TCase *tc = tcase_create("init");
	tcase_add_unchecked_fixture(tc, h_setup, h_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, init_killed_while_held_is_a_start_failure);
	tcase_add_test(tc, host_sigkill_while_held_is_an_exit);
	tcase_add_test(tc, init_killed_after_exec_is_an_exit);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
