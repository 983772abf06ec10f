/*
 * The host side of the agent's dial (shim/session.c): a connection that ends before HELLO is a
 * dial the guest abandoned (its vsock connect timed out while a starved VMM answered), so the
 * session waits for the agent's next dial; once HELLO has come, a closed connection is still an
 * error. A thread plays the agent over a real unix socket; no VM.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/proto.h"
#include "../../shim/session.h"

struct agent_play {
	char path[108];
	int abandoned_dials; /* connections closed before HELLO */
	bool close_after_hello;
};

static int dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void *play_agent(void *arg)
{
	const struct agent_play *ap = arg;
	for (int i = 0; i < ap->abandoned_dials; i++)
		close(dial(ap->path));
	int fd = dial(ap->path);
	uint8_t hello[12], ex[8];
	struct sbx_err err = {0};
	ck_assert_int_eq(sbx_frame_send(fd, SBX_MSG_HELLO, hello,
					sbx_hello_encode(hello, SBX_PROTO_VERSION, 1), &err),
			 0);
	struct sbx_frame_hdr h;
	uint8_t *payload = NULL;
	ck_assert_msg(sbx_frame_recv(fd, &h, &payload, &err) == 0, "agent: %s", err.msg);
	ck_assert_uint_eq(h.type, SBX_MSG_RUN);
	free(payload);
	if (!ap->close_after_hello)
		ck_assert_int_eq(
		    sbx_frame_send(fd, SBX_MSG_EXIT, ex, sbx_exit_encode(ex, 7, 0), &err), 0);
	close(fd);
	return NULL;
}

/* Runs a session against play_agent; returns session_run's result. */
static int run_session(struct agent_play *ap, struct session_result *res, struct sbx_err *err)
{
	snprintf(ap->path, sizeof(ap->path), "/tmp/session-redial.%d.sock", getpid());
	unlink(ap->path);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ap->path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	int quiet[2]; /* stands for the signalfd: never readable */
	ck_assert_int_eq(pipe(quiet), 0);
	static const uint8_t run[8] = {0}; /* the smallest RUN the framing accepts */
	struct session_cfg cfg = {.listen_fd = lfd,
				  .sigfd = quiet[0],
				  .run_payload = run,
				  .run_len = sizeof(run),
				  .boot_timeout_ms = 30000};
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, play_agent, ap), 0);
	int r = session_run(&cfg, res, err);
	pthread_join(t, NULL);
	close(quiet[0]);
	close(quiet[1]);
	close(lfd);
	unlink(ap->path);
	return r;
}

START_TEST(abandoned_dials_are_waited_out)
{
	struct agent_play ap = {.abandoned_dials = 2};
	struct session_result res;
	struct sbx_err err = {0};
	int r = run_session(&ap, &res, &err);
	ck_assert_msg(r == 0, "session failed: %s", err.msg);
	ck_assert(res.hello);
	ck_assert(res.completed);
	ck_assert_int_eq(res.exit_code, 7);
}
END_TEST

START_TEST(close_after_hello_is_an_error)
{
	struct agent_play ap = {.close_after_hello = true};
	struct session_result res;
	struct sbx_err err = {0};
	ck_assert_int_eq(run_session(&ap, &res, &err), -ECONNRESET);
	ck_assert(!res.completed);
	ck_assert_ptr_nonnull(strstr(err.msg, "closed the connection"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session_redial");
	TCase *tc = tcase_create("dial");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, abandoned_dials_are_waited_out);
	tcase_add_test(tc, close_after_hello_is_an_error);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
