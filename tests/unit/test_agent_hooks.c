/*
 * The OCI hooks the agent runs in the guest (agent/hooks.c), in host mode (no VM): a
 * createContainer hook in the container init and a startContainer hook in the workload, each
 * with the state on stdin and its output on the container's stderr; then each way a hook fails
 * (exit status, signal, timeout, no such file) fails the container with one line naming it.
 */
#pragma GCC diagnostic ignored "-Wunused-function" /* the harness serves several programs */
#include "agent_harness.h"

#include <time.h>

#define CAPS_OF_SELF                                                                               \
	"while read k v; do case $k in CapEff:) echo $v;; esac; done </proc/self/status"

static char *env_path[] = {"PATH=/bin", "HOOKVAR=from-hook"};

static const char *out_str(struct byteq *q)
{
	byteq_push(q, "", 1); /* NUL-terminate */
	return (const char *)byteq_data(q);
}

START_TEST(hooks_run_in_order_with_state)
{
	char *create_args[] = {"sh", "-c",
			       "cat >/tmp/created.json; echo create-out; echo $HOOKVAR >/tmp/var; "
			       "hostname >/tmp/create.host; " CAPS_OF_SELF " >/tmp/create.caps"};
	char *start_args[] = {"sh", "-c",
			      "cat >/tmp/started.json; echo start-out; echo start-err >&2; "
			      "test -e /tmp/created.json && " CAPS_OF_SELF " >/tmp/start.caps"};
	char *argv[] = {"sh", "-c",
			"cat /tmp/created.json; echo; cat /tmp/started.json; echo; cat /tmp/var "
			"/tmp/create.host; echo ${HOOKVAR:-unset}",
			NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 3, .hostname = "hooked"};
	req.hooks[SBX_HOOK_CREATE_CONTAINER] =
	    (struct sbx_run_hooks){.n = 1,
				   .state = "{\"id\": \"c\", \"status\": \"creating\"}",
				   .v = {{.path = "/bin/sh",
					  .args = create_args,
					  .n_args = 3,
					  .env = env_path,
					  .n_env = 2,
					  .timeout_s = 30}}};
	req.hooks[SBX_HOOK_START_CONTAINER] =
	    (struct sbx_run_hooks){.n = 1,
				   .state = "{\"id\": \"c\", \"status\": \"created\"}",
				   .v = {{.path = "/bin/sh",
					  .args = start_args,
					  .n_args = 3,
					  .env = env_path,
					  .n_env = 1,
					  .timeout_s = 30}}};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert_msg(r.exited && !r.failed, "failed: %s", r.msg);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(out_str(&r.out), "{\"id\": \"c\", \"status\": \"creating\"}\n"
					  "{\"id\": \"c\", \"status\": \"created\"}\n"
					  "from-hook\nhooked\nunset\n");
	/* The hooks' stdout goes to the container's stderr, never into its stdout. */
	ck_assert_str_eq(out_str(&r.err), "create-out\nstart-out\nstart-err\n");
	h_result_free(&r);
}
END_TEST

/* The createContainer hook has the init's capabilities, the startContainer hook the
 * workload's (docker's default set here): it runs after the security settings. */
START_TEST(start_hook_has_the_workload_caps)
{
	char *create_args[] = {"sh", "-c", CAPS_OF_SELF " >/tmp/create.caps"};
	char *start_args[] = {"sh", "-c", CAPS_OF_SELF " >/tmp/start.caps"};
	char *argv[] = {"cat", "/tmp/create.caps", "/tmp/start.caps", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 3};
	req.hooks[SBX_HOOK_CREATE_CONTAINER] = (struct sbx_run_hooks){
	    .n = 1, .v = {{.path = "/bin/sh", .args = create_args, .n_args = 3, .timeout_s = 30}}};
	req.hooks[SBX_HOOK_START_CONTAINER] = (struct sbx_run_hooks){
	    .n = 1, .v = {{.path = "/bin/sh", .args = start_args, .n_args = 3, .timeout_s = 30}}};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert_msg(r.exited && !r.failed, "failed: %s", r.msg);
	const char *out = out_str(&r.out);
	const char *nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_str_eq(nl + 1, "00000000a80425fb\n");
	ck_assert_msg(strncmp(out, "00000000a80425fb", 16) != 0, "create hook caps: %s", out);
	h_result_free(&r);
}
END_TEST

/* As under runc, the createContainer hook comes before the read-only paths: it may write
 * /proc/sys (here the container's hostname), which the workload then cannot. */
START_TEST(create_hook_before_readonly_paths)
{
	char *create_args[] = {"sh", "-c", "echo hook-host >/proc/sys/kernel/hostname"};
	char *argv[] = {"sh", "-c",
			"hostname; echo x 2>/dev/null >/proc/sys/kernel/hostname || echo ro", NULL};
	char *ro[] = {"/proc/sys"};
	struct sbx_run_req req = {.argv = argv,
				  .argc = 3,
				  .hostname = "spec-host",
				  .readonly_paths = ro,
				  .n_readonly_paths = 1};
	req.hooks[SBX_HOOK_CREATE_CONTAINER] = (struct sbx_run_hooks){
	    .n = 1, .v = {{.path = "/bin/sh", .args = create_args, .n_args = 3, .timeout_s = 30}}};
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert_msg(r.exited && !r.failed, "failed: %s", r.msg);
	ck_assert_str_eq(out_str(&r.out), "hook-host\nro\n");
	h_result_free(&r);
}
END_TEST

/* Runs argv "true" with the hooks given; expects ERROR 125 holding want, no workload output. */
static void expect_hook_failure(enum sbx_hook_kind kind, const struct sbx_run_hook *hooks, size_t n,
				const char *state, const char *want)
{
	char *argv[] = {"echo", "workload-ran", NULL};
	struct sbx_run_req req = {.argv = argv, .argc = 2};
	req.hooks[kind].n = n;
	req.hooks[kind].state = (char *)state;
	memcpy(req.hooks[kind].v, hooks, n * sizeof(*hooks));
	struct h_plan plan = {0};
	struct h_result r;
	h_run(&req, &plan, &r);
	ck_assert_msg(r.failed, "no failure (exited %d)", r.code);
	ck_assert_int_eq(r.code, 125);
	ck_assert_msg(!strcmp(r.msg, want), "'%s', wanted '%s'", r.msg, want);
	ck_assert_uint_eq(r.out.len, 0);
	ck_assert(WIFEXITED(r.agent_status) && WEXITSTATUS(r.agent_status) == 0);
	h_result_free(&r);
}

START_TEST(create_hook_exit_status)
{
	char *args[] = {"sh", "-c", "exit 3"};
	struct sbx_run_hook h = {.path = "/bin/sh", .args = args, .n_args = 3, .timeout_s = 30};
	expect_hook_failure(SBX_HOOK_CREATE_CONTAINER, &h, 1, NULL,
			    "createContainer hook '/bin/sh' exited with status 3");
}
END_TEST

START_TEST(start_hook_signal)
{
	char *args[] = {"sh", "-c", "kill -9 $$"};
	struct sbx_run_hook h = {.path = "/bin/sh", .args = args, .n_args = 3, .timeout_s = 30};
	expect_hook_failure(SBX_HOOK_START_CONTAINER, &h, 1, NULL,
			    "startContainer hook '/bin/sh' killed by signal 9");
}
END_TEST

START_TEST(hook_timeout_kills_it)
{
	char *args[] = {"sleep", "30"};
	struct sbx_run_hook h = {.path = "/bin/sleep", .args = args, .n_args = 2, .timeout_s = 1};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_hook_failure(SBX_HOOK_CREATE_CONTAINER, &h, 1, NULL,
			    "createContainer hook '/bin/sleep' timed out after 1 s");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
}
END_TEST

/* The list runs in order and stops at the first failure. A hook without args gets {path}
 * (busybox picks its applet from it), and one that never reads a big state does not block. */
START_TEST(hook_missing_after_one_that_ran)
{
	static char state[60000];
	memset(state, 'x', sizeof(state) - 1);
	struct sbx_run_hook h[2] = {{.path = "/bin/true", .timeout_s = 30},
				    {.path = "/nope/hook", .timeout_s = 30}};
	expect_hook_failure(SBX_HOOK_START_CONTAINER, h, 2, state,
			    "startContainer hook '/nope/hook': exec: No such file or directory");
}
END_TEST

static Suite *hooks_suite(void)
{
	Suite *s = suite_create("agent_hooks");
	TCase *c = tcase_create("hooks");
	tcase_add_unchecked_fixture(c, h_setup, h_teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, hooks_run_in_order_with_state);
	tcase_add_test(c, start_hook_has_the_workload_caps);
	tcase_add_test(c, create_hook_before_readonly_paths);
	tcase_add_test(c, create_hook_exit_status);
	tcase_add_test(c, start_hook_signal);
	tcase_add_test(c, hook_timeout_kills_it);
	tcase_add_test(c, hook_missing_after_one_that_ran);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hooks_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
