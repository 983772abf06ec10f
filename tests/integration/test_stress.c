/*
 * Load (issue 5; docs/security.md "Stress"): N sequential run + cleanup cycles, then M
 * concurrent runs, all restoring one VM template; before/after leak counts (harness.h h_counts:
 * processes, fds, mounts, run/state dirs, taps, leases, jail cgroups, memory) must match.
 * Cycles alternate `sandbox run` with the OCI life cycle (create, start, wait, delete), so
 * both kinds of cleanup are exercised.
 *
 * In `make check`: STRESS_SEQ=20 cycles and STRESS_CONC=4 at once (the defaults here).
 * `make stress` runs the same program with 1000 and 20 (hours on emulated KVM).
 */
#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-stress-run.XXXXXX";
static char oci_root[] = "/tmp/sandbox-test-stress-oci.XXXXXX";
static char work[] = "/tmp/sandbox-test-stress-work.XXXXXX";
static char bundle[600];
static unsigned n_seq = 20, n_conc = 4;

/* Per VM run, generous: a restore takes ~8 s here, far more when the machine is loaded
 * (STRESS_RUN_BUDGET_S overrides: 2-4 minutes per run were seen at load 13, niced). */
#define RUN_BUDGET_S 120
static unsigned run_budget_s = RUN_BUDGET_S;

#define RUN(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "run", "--rootfs", h_path("rootfs-busybox"), __VA_ARGS__, NULL  \
	}

#define OCI(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "--root", oci_root, __VA_ARGS__, NULL                           \
	}

static unsigned env_count(const char *name, unsigned def)
{
	const char *e = getenv(name);
	int v = e ? atoi(e) : 0;
	return v > 0 ? (unsigned)v : def;
}

/* One `sandbox run`; its hostname is its run id, which names its tap and lease. */
static void cycle_run(unsigned i)
{
	struct cmd_result r;
	char tag[32];
	snprintf(tag, sizeof(tag), "cycle-%u", i);
	h_run(RUN("--", "sh", "-c", "hostname; echo ok"), &r);
	if (r.status != 0 || !strstr(r.out, "ok\n"))
		h_show(tag, &r);
	ck_assert_int_eq(r.status, 0);
	char id[16] = "";
	if (sscanf(r.out, "%15s", id) == 1)
		h_note_run_id(id);
	h_free(&r);
}

/* One OCI life cycle: create, start, the container exits, delete. */
static void cycle_oci(unsigned i)
{
	char id[32];
	snprintf(id, sizeof(id), "s%u", i);
	/* The monitor keeps create's stdout/stderr for the container: files, not pipes that
	 * would only reach EOF when the container is gone. */
	char out[700];
	snprintf(out, sizeof(out), "%s/create.out", work);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(h_path("sandbox"), OCI("create", "--bundle", bundle, id));
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "create %s: wait status %#x", id, st);
	struct cmd_result r;
	h_run(OCI("start", id), &r);
	if (r.status != 0)
		h_show("start", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	bool stopped = false;
	for (unsigned t = 0; t < run_budget_s * 10 && !stopped; t++) {
		h_run(OCI("state", id), &r);
		stopped = strstr(r.out, "\"stopped\"") != NULL;
		h_free(&r);
		if (!stopped)
			usleep(100000);
	}
	ck_assert_msg(stopped, "container %s never stopped", id);
	h_run(OCI("delete", id), &r);
	if (r.status != 0)
		h_show("delete", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
}

/* Every 4th cycle is an OCI one. */
static void cycle(unsigned i)
{
	if (i % 4 == 3)
		cycle_oci(i);
	else
		cycle_run(i);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Cycles [_i * CHUNK, ...) of n_seq. Each chunk is its own forked case and must leave the
 * counts as it found them: check reports a forked case's duration in a signed 32-bit count of
 * microseconds, so one case of 1000 cycles (~2 h) could not be reported; a chunk is ~15 min. */
#define CHUNK 100

START_TEST(sequential_cycles_leave_nothing)
{
	struct h_counts before, after;
	unsigned first = (unsigned)_i * CHUNK;
	unsigned end = first + CHUNK < n_seq ? first + CHUNK : n_seq;
	h_counts_take(&before);
	double t0 = now_s();
	for (unsigned i = first; i < end; i++) {
		cycle(i);
		if ((i + 1) % 10 == 0 || i + 1 == end)
			fprintf(stderr, "[sequential] %u/%u cycles, %.1f s each on average\n",
				i + 1, n_seq, (now_s() - t0) / (i + 1 - first));
	}
	h_counts_take(&after);
	char label[64];
	snprintf(label, sizeof(label), "after cycles %u-%u", first + 1, end);
	h_counts_print(label, &after);
	fprintf(stderr, "[sequential] cycles %u-%u in %.0f s; host MemAvailable %+ld MiB\n",
		first + 1, end, now_s() - t0, (after.mem_avail_kib - before.mem_avail_kib) / 1024);
	h_counts_assert_same(&before, &after, 64);
}
END_TEST

START_TEST(concurrent_runs_leave_nothing)
{
	struct h_counts before, after;
	h_counts_take(&before);
	double t0 = now_s();
	pid_t pids[256];
	unsigned n = n_conc < 256 ? n_conc : 256;
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			/* A child of ours: its failure is reported through its exit status. */
			char out[700];
			snprintf(out, sizeof(out), "%s/conc-%u.out", work, i);
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dup2(fd, 1);
			execv(h_path("sandbox"), RUN("--", "sh", "-c", "hostname; echo ok"));
			_exit(127);
		}
	}
	unsigned failed = 0;
	for (unsigned i = 0; i < n; i++) {
		int st;
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		char out[700], id[16] = "";
		snprintf(out, sizeof(out), "%s/conc-%u.out", work, i);
		FILE *f = fopen(out, "r");
		if (f && fscanf(f, "%15s", id) == 1)
			h_note_run_id(id);
		if (f)
			fclose(f);
		unlink(out);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "[concurrent] run %u: wait status %#x\n", i, st);
			failed++;
		}
	}
	h_counts_take(&after);
	fprintf(stderr, "[concurrent] %u runs at once in %.0f s; host MemAvailable %+ld MiB\n", n,
		now_s() - t0, (after.mem_avail_kib - before.mem_avail_kib) / 1024);
	ck_assert_msg(failed == 0, "%u of %u concurrent runs failed", failed, n);
	h_counts_assert_same(&before, &after, 64);
}
END_TEST

/* The template is built (or found) before any count is taken: it is not a leak. */
static int warm_up(void)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "'%s' run --rootfs '%s' -- true >/dev/null", h_path("sandbox"),
		 h_path("rootfs-busybox"));
	return system(cmd);
}

static void make_bundle(void)
{
	char cmd[1600], rootfs[PATH_MAX];
	if (!realpath(h_path("rootfs-busybox"), rootfs)) {
		perror("rootfs-busybox");
		exit(1);
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", work);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && '%s' spec --bundle '%s' && sed -i "
		 "-e 's|\"args\": \\[\"sh\"\\]|\"args\": [\"true\"]|' "
		 "-e 's|\"terminal\": true|\"terminal\": false|' "
		 "-e 's|\"path\": \"rootfs\"|\"path\": \"%s\"|' '%s/config.json'",
		 bundle, h_path("sandbox"), bundle, rootfs, bundle);
	if (system(cmd) != 0) {
		fprintf(stderr, "could not make the bundle\n");
		exit(1);
	}
}

int main(void)
{
	h_require_kvm();
	n_seq = env_count("STRESS_SEQ", n_seq);
	n_conc = env_count("STRESS_CONC", n_conc);
	run_budget_s = env_count("STRESS_RUN_BUDGET_S", run_budget_s);
	if (!mkdtemp(run_root) || !mkdtemp(oci_root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	h_template_dir_init();
	h_jail_uid_range();
	h_set_roots((const char *const[]){run_root, oci_root, NULL});
	make_bundle();
	fprintf(stderr, "stress: %u sequential cycles, %u concurrent runs\n", n_seq, n_conc);
	if (warm_up() != 0) {
		fprintf(stderr, "the warm-up run failed\n");
		return 1;
	}
	Suite *s = suite_create("stress");
	TCase *seq = tcase_create("sequential");
	unsigned chunks = (n_seq + CHUNK - 1) / CHUNK;
	tcase_set_timeout(seq, (double)(60 + (n_seq < CHUNK ? n_seq : CHUNK) * run_budget_s));
	tcase_add_loop_test(seq, sequential_cycles_leave_nothing, 0, (int)chunks);
	suite_add_tcase(s, seq);
	TCase *conc = tcase_create("concurrent");
	tcase_set_timeout(conc, (double)(60 + n_conc * run_budget_s));
	tcase_add_test(conc, concurrent_runs_leave_nothing);
	suite_add_tcase(s, conc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", run_root, oci_root, work);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove the test dirs\n");
	h_template_dir_done();
	return failed ? 1 : 0;
}
