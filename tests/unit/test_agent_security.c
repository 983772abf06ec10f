/*
 * Unit tests for agent/container_security.c's workload part, run on this host's kernel in a
 * forked child (it changes the calling process for good): the decoded RUN's settings are in
 * force afterwards, and AF_VSOCK is refused even when the RUN carries no seccomp profile.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/agent.h"

/* "CapEff:\t0000000000000020" from /proc/self/status. */
static unsigned long long status_hex(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long v = ~0ull;
	size_t k = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = strtoull(line + k + 1, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

/* Runs check() in a child after container_security_exec(req); returns its exit status. */
static int in_child(const struct sbx_run_req *req, int (*check)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sbx_err err = {0};
		if (container_security_exec(req, &err) < 0) {
			fprintf(stderr, "container_security_exec: %s\n", err.msg);
			_exit(100);
		}
		_exit(check());
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int vsock_denied(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd >= 0 || errno != EPERM)
		return 1;
	fd = socket(AF_UNIX, SOCK_STREAM, 0); /* other families are untouched */
	return fd >= 0 ? 0 : 2;
}

static int docker_defaults(void)
{
	if (status_hex("CapEff") != 0xa80425fbull || status_hex("CapBnd") != 0xa80425fbull)
		return 1;
	if (status_hex("CapInh") != 0 || status_hex("CapAmb") != 0)
		return 2;
	return vsock_denied() ? 3 : 0;
}

START_TEST(defaults_without_settings)
{
	struct sbx_run_req req = {0};
	ck_assert_int_eq(in_child(&req, docker_defaults), 0);
}
END_TEST

static int spec_applied(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur != 42 || rl.rlim_max != 43)
		return 1;
	mode_t old = umask(0);
	if (old != 027)
		return 2;
	if (status_hex("CapEff") != (1ull << 5) || status_hex("CapPrm") != ((1ull << 5) | 1) ||
	    status_hex("CapBnd") != ((1ull << 5) | 1) || status_hex("CapAmb") != (1ull << 5))
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	if (mkdir("/nonexistent-dir/x", 0755) == 0 || errno != EPERM) /* the profile's errno */
		return 5;
	FILE *f = fopen("/proc/self/oom_score_adj", "re");
	int adj = 0;
	if (!f || fscanf(f, "%d", &adj) != 1 || adj != 333)
		return 6;
	fclose(f);
	return vsock_denied() ? 7 : 0;
}

/* ld nr; jeq mkdir -> ERRNO(EPERM); allow (x86-64 only: the test host's arch). */
static const struct sbx_bpf_insn deny_mkdir[] = {
    {0x20, 0, 0, 0},	      /* ld [0] (nr) */
    {0x15, 0, 1, 83},	      /* jeq #__NR_mkdir */
    {0x06, 0, 0, 0x00050001}, /* ret ERRNO(EPERM) */
    {0x06, 0, 0, 0x7fff0000}, /* ret ALLOW */
};

START_TEST(spec_settings_applied)
{
	struct sbx_run_req req = {
	    .rlimits = {{RLIMIT_NOFILE, 42, 43}},
	    .n_rlimits = 1,
	    .has_umask = true,
	    .umask = 027,
	    .has_oom_score_adj = true,
	    .oom_score_adj = 333,
	    .has_caps = true,
	    .caps = {.bounding = (1ull << 5) | 1,
		     .effective = 1ull << 5,
		     .inheritable = 1ull << 5,
		     .permitted = (1ull << 5) | 1,
		     .ambient = 1ull << 5},
	    .no_new_privs = true,
	    .seccomp = deny_mkdir,
	    .seccomp_len = 4,
	};
	ck_assert_int_eq(in_child(&req, spec_applied), 0);
}
END_TEST

static int never_runs(void)
{
	return 0;
}

START_TEST(bad_settings_fail)
{
	/* effective outside permitted: capset refuses, and the error says so */
	struct sbx_run_req req = {.has_caps = true,
				  .caps = {.bounding = 3, .effective = 2, .permitted = 1}};
	ck_assert_int_eq(in_child(&req, never_runs), 100);
	/* a program the kernel rejects (returns without a RET) */
	static const struct sbx_bpf_insn bad[] = {{0x20, 0, 0, 0}};
	struct sbx_run_req req2 = {.seccomp = bad, .seccomp_len = 1, .no_new_privs = true};
	ck_assert_int_eq(in_child(&req2, never_runs), 100);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("agent_security");
	TCase *c = tcase_create("exec");
	tcase_add_test(c, defaults_without_settings);
	tcase_add_test(c, spec_settings_applied);
	tcase_add_test(c, bad_settings_fail);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_agent_security: needs root (capabilities), skipped\n");
		return 77;
	}
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
