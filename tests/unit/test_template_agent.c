/*
 * Guest side of VM templates (agent/template.c), in host mode: the command-line flag, the wait
 * for a disk that arrives after restore (against a fake /sys/block), the CID in the workload's
 * environment, and the RNG seed (needs root: RNDADDENTROPY wants CAP_SYS_ADMIN).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "../../common/cleanup.h"

static char tmp[64];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test-tmpl-agent.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static bool flag_in(const char *cmdline)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/cmdline", tmp);
	write_file(p, cmdline);
	return agent_template_requested(p);
}

START_TEST(cmdline_flag)
{
	ck_assert(flag_in("console=ttyS0 quiet sandbox.template=1\n"));
	ck_assert(flag_in("sandbox.template=1 quiet"));
	ck_assert(!flag_in("console=ttyS0 quiet\n"));
	ck_assert(!flag_in("sandbox.template=10"));
	ck_assert(!flag_in("xsandbox.template=1"));
	ck_assert(!flag_in("sandbox.template=0"));
	ck_assert(!agent_template_requested("/nonexistent/cmdline"));
}
END_TEST

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The slot exists with size 0 (the template's empty disk); the medium arrives 300 ms later. */
START_TEST(disk_arrives_late)
{
	char dir[128], size[160];
	snprintf(dir, sizeof(dir), "%s/vda", tmp);
	snprintf(size, sizeof(size), "%s/size", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	write_file(size, "0\n");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		usleep(300 * 1000);
		write_file(size, "4096\n");
		_exit(0);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct sbx_err err = {0};
	ck_assert_int_eq(agent_wait_disk(tmp, "/dev/vda", 5000, &err), 0);
	long ms = ms_since(&t0);
	ck_assert_msg(ms >= 250 && ms < 2000, "waited %ld ms", ms);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(agent_wait_disk(tmp, "/dev/vda", 0, &err), 0); /* present: no wait */
}
END_TEST

START_TEST(disk_never_arrives)
{
	char dir[128], size[160];
	snprintf(dir, sizeof(dir), "%s/vdb", tmp);
	snprintf(size, sizeof(size), "%s/size", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	write_file(size, "0\n");
	struct sbx_err err = {0};
	ck_assert_int_eq(agent_wait_disk(tmp, "/dev/vdb", 100, &err), -ENXIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "/dev/vdb"));
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(agent_wait_disk(tmp, "/dev/vdz", 50, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "never appeared"));
	ck_assert_int_eq(agent_wait_disk(tmp, "/dev/", 0, &err), -EINVAL);
}
END_TEST

START_TEST(cid_in_environment)
{
	char *envp[] = {"PATH=/bin", "A=b", NULL};
	struct sbx_run_req req = {.envp = envp, .envc = 2};
	cleanup_free char *storage = NULL;
	struct sbx_err err = {0};
	ck_assert_int_eq(agent_env_add_cid(&req, 1234567, &storage, &err), 0);
	ck_assert_ptr_nonnull(storage);
	ck_assert_uint_eq(req.envc, 3);
	ck_assert_str_eq(req.envp[0], "PATH=/bin");
	ck_assert_str_eq(req.envp[2], "SANDBOX_VSOCK_CID=1234567");
	ck_assert_ptr_null(req.envp[3]);

	char *user[] = {"SANDBOX_VSOCK_CID=mine", NULL};
	struct sbx_run_req req2 = {.envp = user, .envc = 1};
	cleanup_free char *storage2 = NULL;
	ck_assert_int_eq(agent_env_add_cid(&req2, 9, &storage2, &err), 0);
	ck_assert_ptr_null(storage2); /* the user's value stays */
	ck_assert_uint_eq(req2.envc, 1);
}
END_TEST

START_TEST(seed_rng)
{
	if (geteuid() != 0) {
		fprintf(stderr, "seed_rng: needs root, skipped\n");
		return;
	}
	uint8_t seed[SBX_RUN_SEED_MIN];
	FILE *f = fopen("/dev/urandom", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(seed, 1, sizeof(seed), f), sizeof(seed));
	fclose(f);
	struct sbx_err err = {0};
	int r = agent_seed_rng(seed, sizeof(seed), &err);
	ck_assert_msg(r == 0, "%s", err.msg);
	ck_assert_int_eq(agent_seed_rng(seed, SBX_RUN_SEED_MAX + 1, &err), -E2BIG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("template (agent)");
	TCase *c = tcase_create("agent");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, cmdline_flag);
	tcase_add_test(c, disk_arrives_late);
	tcase_add_test(c, disk_never_arrives);
	tcase_add_test(c, cid_in_environment);
	tcase_add_test(c, seed_rng);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
