/*
 * `events --stats` (shim/oci_stats.[ch], shim/oci_cmd_events.c): the numbers of a real process
 * (cpu it burnt, memory it touched, its threads), taken from its own memory cgroup when it has
 * one, runc's JSON shape of them, a gone pid, and the --interval durations.
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
#include <yajl/yajl_tree.h>

#include "../../shim/oci_stats.h"

int oci_parse_interval_ms(const char *s, long *ms);

#define BURN_MS 300
#define TOUCH_BYTES (32u << 20)

/* A child that burns BURN_MS of cpu, touches TOUCH_BYTES, tells us, then waits to be killed. */
static pid_t busy_child(void)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct timespec t0, t;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		do
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 <
		       BURN_MS);
		volatile char *mem = malloc(TOUCH_BYTES);
		for (size_t i = 0; mem && i < TOUCH_BYTES; i += 4096)
			mem[i] = 1;
		ssize_t w = write(p[1], "x", 1);
		(void)w;
		pause();
		_exit(0);
	}
	close(p[1]);
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static long long json_int(yajl_val root, const char *const *path)
{
	yajl_val v = yajl_tree_get(root, (const char **)path, yajl_t_number);
	ck_assert_msg(v != NULL, "missing %s.%s", path[0], path[1] ? path[1] : "");
	return YAJL_GET_INTEGER(v);
}

START_TEST(stats_of_a_real_process_in_runc_shape)
{
	pid_t pid = busy_child();
	struct oci_stats st;
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_stats_read(pid, &st, &err), 0);
	ck_assert_uint_ge(st.cpu_user_ns + st.cpu_kernel_ns, (BURN_MS - 50) * 1000000ull);
	ck_assert_uint_ge(st.mem_usage, TOUCH_BYTES);
	ck_assert_uint_ge(st.mem_max, st.mem_usage);
	ck_assert_uint_ge(st.pids_current, 1);

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	oci_stats_print(f, "c-1.x", &st);
	fclose(f);
	ck_assert_msg(len > 0 && strchr(text, '\n') == text + len - 1, "one line: %s", text);
	char ebuf[200];
	yajl_val root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	ck_assert_msg(root != NULL, "not JSON (%s): %s", ebuf, text);
	const char *type[] = {"type", NULL}, *id[] = {"id", NULL};
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(root, type, yajl_t_string)), "stats");
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(root, id, yajl_t_string)), "c-1.x");
	const char *total[] = {"data", "cpu", "usage", "total", NULL};
	const char *usage[] = {"data", "memory", "usage", "usage", NULL};
	const char *pids[] = {"data", "pids", "current", NULL};
	ck_assert_int_eq(json_int(root, total), (long long)(st.cpu_user_ns + st.cpu_kernel_ns));
	ck_assert_int_eq(json_int(root, usage), (long long)st.mem_usage);
	ck_assert_int_eq(json_int(root, pids), (long long)st.pids_current);
	yajl_tree_free(root);
	free(text);
	reap(pid);
}
END_TEST

/* The jail gives each VMM a memory cgroup of its own: its limit is the container's. */
START_TEST(memory_from_the_process_own_cgroup)
{
	const char *base = "/sys/fs/cgroup/memory";
	struct stat sb;
	if (stat(base, &sb) < 0 || getuid() != 0)
		return; /* cgroup v2 or unprivileged: the /proc path above is what runs */
	char dir[128], path[160];
	snprintf(dir, sizeof(dir), "%s/sbx-stats-test-%d", base, (int)getpid());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	pid_t pid = busy_child();
	FILE *f;
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "%u", 256u << 20);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "%d", (int)pid);
	ck_assert_int_eq(fclose(f), 0);
	struct oci_stats st;
	struct sbx_err err = {0};
	int r = oci_stats_read(pid, &st, &err);
	reap(pid);
	rmdir(dir);
	ck_assert_int_eq(r, 0);
	ck_assert(st.from_cgroup);
	ck_assert_uint_eq(st.mem_limit, 256u << 20);
}
END_TEST

START_TEST(gone_pid_is_an_error)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	struct oci_stats st;
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_stats_read(pid, &st, &err), -ESRCH);
	ck_assert_ptr_nonnull(strstr(err.msg, "/stat"));
}
END_TEST

START_TEST(interval_durations)
{
	long ms = 0;
	ck_assert_int_eq(oci_parse_interval_ms("5s", &ms), 0);
	ck_assert_int_eq(ms, 5000);
	ck_assert_int_eq(oci_parse_interval_ms("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(oci_parse_interval_ms("2m", &ms), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(oci_parse_interval_ms("3", &ms), 0);
	ck_assert_int_eq(ms, 3000);
	const char *bad[] = {"", "0s", "-1s", "5h", "s", "1.5s", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(oci_parse_interval_ms(bad[i], &ms) == -EINVAL, "'%s' accepted",
			      bad[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("oci_stats");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stats_of_a_real_process_in_runc_shape);
	tcase_add_test(tc, memory_from_the_process_own_cgroup);
	tcase_add_test(tc, gone_pid_is_an_error);
	tcase_add_test(tc, interval_durations);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
