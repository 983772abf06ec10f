/*
 * containerd 1.6 runs containers through its runc shim (containerd-shim-runc-v2) with `sandbox`
 * as the runc binary (docs/oci.md "containerd"). A private containerd (own root, state, socket,
 * no CRI) is started for the test and killed at the end; the busybox rootfs becomes an OCI
 * archive that `ctr image import` loads. Three VMs: `ctr run --rm` with an exit status; a
 * detached container carrying exec (output, status), `task ps`, `events --stats`, `task metrics`
 * (the host cgroup at linux.cgroupsPath, whose usage includes the nested VMM group), and SIGKILL
 * (status 137); a detached one ended by ctr's default SIGTERM. After each: no monitor, VMM or
 * virtiofsd, no runtime state, and containerd knows of no container or task. Without a VM: the
 * new options' errors (events, --preserve-fds).
 */
#include <limits.h>
#include <stdarg.h>

#include "harness.h"

/* Per run, so two checks at once do not share containerd namespace or host cgroup. */
static char NS[32];
#define IMAGE "docker.io/library/sbxtest:latest"
#define STOP_WAIT_S 120

static char work[] = "/tmp/sandbox-test-ctrd.XXXXXX";
static char sock[PATH_MAX], runc_root[PATH_MAX], sandbox_bin[PATH_MAX], ctr_bin[PATH_MAX];
static pid_t containerd_pid = -1;

#define CTR(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		ctr_bin, "-a", sock, "-n", NS, __VA_ARGS__, NULL                                   \
	}
#define RUNC_OPTS "--runc-binary", sandbox_bin, "--runc-root", runc_root

/* Runs a command that must succeed; its result is freed. */
static void ok(const char *what, char *const argv[])
{
	struct cmd_result r;
	h_run(argv, &r);
	if (r.status != 0)
		h_show(what, &r);
	ck_assert_msg(r.status == 0, "%s failed", what);
	h_free(&r);
}

/* Whether containerd's `task ls` shows id with status (e.g. "STOPPED"). */
static bool task_is(const char *id, const char *status)
{
	struct cmd_result r;
	h_run(CTR("task", "ls"), &r);
	bool found = false;
	for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
		char tid[128], tst[32];
		if (sscanf(line, "%127s %*s %31s", tid, tst) == 2 && !strcmp(tid, id))
			found = !strcmp(tst, status);
	}
	h_free(&r);
	return found;
}

static void wait_stopped(const char *id)
{
	for (int i = 0; i < STOP_WAIT_S * 4 && !task_is(id, "STOPPED"); i++)
		usleep(250000);
	ck_assert_msg(task_is(id, "STOPPED"), "task %s did not stop in %d s", id, STOP_WAIT_S);
}

/* Nothing of id left: runtime state, monitor, VMM, and containerd's container and task. */
static void assert_clean(const char *id)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/%s", runc_root, NS);
	ck_assert_msg(h_count_entries(dir) == 0, "runtime state left in %s", dir);
	ck_assert_msg(h_count_vmms_using(runc_root) == 0, "a sandbox-vmm was left running");
	ck_assert_msg(h_count_procs_mentioning("sandbox", runc_root) == 0,
		      "a sandbox monitor was left running");
	ck_assert_msg(h_count_procs_mentioning("virtiofsd", work) == 0,
		      "a virtiofsd was left running");
	snprintf(dir, sizeof(dir), "%s/state/io.containerd.runtime.v2.task/%s", work, NS);
	ck_assert_msg(h_count_entries(dir) == 0, "containerd's task state left in %s", dir);
	struct cmd_result r;
	h_run(CTR("container", "ls", "-q"), &r);
	ck_assert_msg(r.status == 0 && !strstr(r.out, id), "containerd still knows %s: %s", id,
		      r.out);
	h_free(&r);
}

static long long read_ll(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];
	long long v = -1;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/* memory.usage_in_bytes of the jail's vmm-* group nested in dir, -1 without one. */
static long long nested_usage(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long long v = -1;
	while (d && (e = readdir(d))) {
		char sub[PATH_MAX];
		if (strncmp(e->d_name, "vmm-", 4))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		v = read_ll(sub, "memory.usage_in_bytes");
	}
	if (d)
		closedir(d);
	return v;
}

START_TEST(run_rm_exit_status)
{
	struct cmd_result r;
	h_run(CTR("run", "--rm", RUNC_OPTS, IMAGE, "ctr-rm", "sh", "-c",
		  "echo hello-$((6*7)); exit 3"),
	      &r);
	if (r.status != 3)
		h_show("ctr run --rm", &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.out, "hello-42"));
	h_free(&r);
	assert_clean("ctr-rm");
}
END_TEST

START_TEST(detached_exec_ps_events_sigkill)
{
	ok("ctr run -d", CTR("run", "-d", RUNC_OPTS, IMAGE, "ctr-d", "sleep", "1000"));
	ck_assert(task_is("ctr-d", "RUNNING"));

	struct cmd_result r;
	h_run(CTR("task", "exec", "--exec-id", "e1", "ctr-d", "sh", "-c",
		  "echo out-$((6*7)); exit 5"),
	      &r);
	if (r.status != 5)
		h_show("ctr task exec", &r);
	ck_assert_int_eq(r.status, 5);
	ck_assert_ptr_nonnull(strstr(r.out, "out-42"));
	h_free(&r);

	/* The pids are the guest's: there are no host pids for them (docs/oci.md). */
	h_run(CTR("task", "ps", "ctr-d"), &r);
	if (r.status != 0)
		h_show("ctr task ps", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "PID"));
	h_free(&r);

	char root[PATH_MAX + 16];
	snprintf(root, sizeof(root), "%s/%s", runc_root, NS);
	h_run((char *const[]){sandbox_bin, "--root", root, "events", "--stats", "ctr-d", NULL}, &r);
	if (r.status != 0)
		h_show("sandbox events --stats", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "{\"type\":\"stats\",\"id\":\"ctr-d\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"cpu\":{\"usage\":{\"total\":"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"pids\":{\"current\":"));
	ck_assert_ptr_null(strstr(r.out, "\"usage\":{\"usage\":0,"));
	h_free(&r);

	/*
	 * The shim reads the cgroup of the pid-file process: linux.cgroupsPath (/NS/ID), made by
	 * sandbox with the VM's memory limit (256 MiB guest RAM + 128 MiB, shim/oci_cgroup.h).
	 */
	h_run(CTR("task", "metrics", "ctr-d"), &r);
	if (r.status != 0 || !strstr(r.out, "402653184"))
		h_show("ctr task metrics", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "memory.usage_in_bytes"));
	ck_assert_ptr_nonnull(strstr(r.out, "402653184"));
	h_free(&r);
	/* The jail's VMM group is nested in cgroupsPath (v1), so cgroupsPath's usage includes the
	 * VMM's (guest RAM it wrote, its own), not only the monitor's few MiB. */
	char cg[128];
	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory/%s/ctr-d", NS);
	long long usage = read_ll(cg, "memory.usage_in_bytes"), vmm = nested_usage(cg);
	fprintf(stderr, "cgroupsPath memory.usage_in_bytes: %lld MiB, nested VMM group %lld MiB\n",
		usage >> 20, vmm >> 20);
	if (!getenv("SANDBOX_NO_JAIL")) {
		ck_assert_msg(vmm > (16LL << 20), "no VMM group nested in %s (%lld B)", cg, vmm);
		ck_assert_msg(usage >= vmm, "cgroupsPath usage %lld B < its VMM's %lld B", usage,
			      vmm);
	}
	ck_assert_msg(usage > (16LL << 20), "cgroupsPath memory usage %lld B: no VMM in it", usage);

	ok("ctr task kill -s SIGKILL", CTR("task", "kill", "-s", "SIGKILL", "ctr-d"));
	wait_stopped("ctr-d");
	h_run(CTR("task", "delete", "ctr-d"), &r);
	if (r.status != 0 || !strstr(r.err, "137"))
		h_show("ctr task delete", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.err, "exit code 137") != NULL, "status of SIGKILL is not 137");
	h_free(&r);
	ok("ctr container rm", CTR("container", "rm", "ctr-d"));
	assert_clean("ctr-d");
	ck_assert_msg(access(cg, F_OK) < 0, "the container's host cgroup was left behind");
}
END_TEST

/* `ctr task kill` without -s: SIGTERM reaches the container's process, which exits its way. */
START_TEST(detached_sigterm)
{
	/* The shim writes the process's output there: "ready" says the trap is in place. */
	char log[PATH_MAX + 16], uri[PATH_MAX + 32];
	snprintf(log, sizeof(log), "%s/ctr-t.log", work);
	snprintf(uri, sizeof(uri), "file://%s", log);
	ok("ctr run -d", CTR("run", "-d", "--log-uri", uri, RUNC_OPTS, IMAGE, "ctr-t", "sh", "-c",
			     "trap 'exit 7' TERM; echo ready; while :; do sleep 1; done"));
	bool ready = false;
	for (int i = 0; i < STOP_WAIT_S * 4 && !ready; i++) {
		FILE *f = fopen(log, "r");
		char line[64] = "";
		ready = f && fgets(line, sizeof(line), f) && !strncmp(line, "ready", 5);
		if (f)
			fclose(f);
		if (!ready)
			usleep(250000);
	}
	ck_assert_msg(ready, "the container did not print ready");
	ok("ctr task kill", CTR("task", "kill", "ctr-t"));
	wait_stopped("ctr-t");
	struct cmd_result r;
	h_run(CTR("task", "delete", "ctr-t"), &r);
	if (r.status != 0 || !strstr(r.err, "exit code 7"))
		h_show("ctr task delete", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "exit code 7"));
	h_free(&r);
	ok("ctr container rm", CTR("container", "rm", "ctr-t"));
	assert_clean("ctr-t");
}
END_TEST

/* No VM: the new options' bad input is a one-line error, status 125, nothing left behind. */
START_TEST(bad_options_leave_nothing)
{
	char root[PATH_MAX + 16];
	snprintf(root, sizeof(root), "%s/cli-root", work);
	struct {
		char *const *argv;
		const char *msg;
	} cases[] = {
	    {(char *const[]){sandbox_bin, "--root", root, "create", "--preserve-fds", "x",
			     "--bundle", work, "c1", NULL},
	     "--preserve-fds 'x': expected a number"},
	    {(char *const[]){sandbox_bin, "--root", root, "create", "--preserve-fds", "1",
			     "--bundle", work, "c1", NULL},
	     "--preserve-fds 1: fd 3 is not open"},
	    {(char *const[]){sandbox_bin, "--root", root, "events", "--stats", "nope", NULL},
	     "container nope does not exist"},
	    {(char *const[]){sandbox_bin, "--root", root, "events", "--interval", "5h", "nope",
			     NULL},
	     "--interval '5h'"},
	    {(char *const[]){sandbox_bin, "--root", root, "events", NULL}, "exactly 1 argument"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cmd_result r;
		h_run(cases[i].argv, &r); /* h_run leaves only fds 0-2 open: fd 3 is closed */
		if (r.status != 125 || !strstr(r.err, cases[i].msg))
			h_show(cases[i].msg, &r);
		ck_assert_int_eq(r.status, 125);
		ck_assert_ptr_nonnull(strstr(r.err, cases[i].msg));
		const char *nl = strchr(r.err, '\n');
		ck_assert_msg(nl && !strchr(nl + 1, '\n'), "not one line: %s", r.err);
		h_free(&r);
		ck_assert_int_eq(h_count_entries(root), 0);
	}
}
END_TEST

/* ---- the private containerd and its image ---- */

/* bin's absolute path into out (the harness runs programs by path). */
static bool need(const char *bin, char *out)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", d, bin);
		if (access(p, X_OK) == 0) {
			if (out)
				snprintf(out, PATH_MAX, "%s", p);
			return true;
		}
	}
	const char *ci = getenv("CI");
	if (ci && !strcmp(ci, "true")) {
		fprintf(stderr, "FATAL: %s is not installed (make deps)\n", bin);
		exit(1);
	}
	fprintf(stderr, "SKIP (the containerd cases): %s is not installed\n", bin);
	return false;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st != 0)
		fprintf(stderr, "failed (%d): %s\n", st, cmd);
	return st;
}

static int start_containerd(void)
{
	char cfg[PATH_MAX + 16], log[PATH_MAX + 16];
	snprintf(cfg, sizeof(cfg), "%s/config.toml", work);
	snprintf(log, sizeof(log), "%s/containerd.log", work);
	FILE *f = fopen(cfg, "w");
	if (!f)
		return -1;
	fprintf(f,
		"version = 2\nroot = \"%s/root\"\nstate = \"%s/state\"\n"
		"plugin_dir = \"%s/plugins\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
		"[grpc]\n  address = \"%s\"\n[ttrpc]\n  address = \"%s.ttrpc\"\n",
		work, work, work, sock, sock);
	if (fclose(f) != 0)
		return -1;
	containerd_pid = fork();
	if (containerd_pid < 0)
		return -1;
	if (containerd_pid == 0) {
		setsid();
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("containerd", "containerd", "--config", cfg, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 120; i++) {
		char cmd[PATH_MAX + 64];
		snprintf(cmd, sizeof(cmd), "ctr -a '%s' version >/dev/null 2>&1", sock);
		if (system(cmd) == 0)
			return 0;
		usleep(250000);
	}
	fprintf(stderr, "containerd did not come up; see %s\n", log);
	return -1;
}

static void stop_containerd(void)
{
	if (containerd_pid <= 0)
		return;
	kill(containerd_pid, SIGTERM);
	for (int i = 0; i < 40 && waitpid(containerd_pid, NULL, WNOHANG) == 0; i++)
		usleep(250000);
	kill(containerd_pid, SIGKILL);
	waitpid(containerd_pid, NULL, 0);
}

/* After a failure, tasks may remain: end them through containerd, then their shims go. */
static void cleanup_containers(void)
{
	const char *ids[] = {"ctr-rm", "ctr-d", "ctr-t"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char cmd[2 * PATH_MAX];
		snprintf(cmd, sizeof(cmd),
			 "ctr -a '%s' -n %s task delete --force %s >/dev/null 2>&1; "
			 "ctr -a '%s' -n %s container rm %s >/dev/null 2>&1",
			 sock, NS, ids[i], sock, NS, ids[i]);
		if (system(cmd) < 0)
			fprintf(stderr, "cleanup of %s failed\n", ids[i]);
	}
}

static int import_image(void)
{
	return sh("rootfs/build-oci-image.sh --cmd '[\"sh\"]' '%s' '%s/oci' >/dev/null && "
		  "tar -C '%s/oci' -cf '%s/image.tar' . && "
		  "ctr -a '%s' -n %s image import --base-name docker.io/library/sbxtest "
		  "'%s/image.tar' >/dev/null",
		  h_path("rootfs-busybox"), work, work, work, sock, NS, work);
}

int main(void)
{
	h_require_kvm();
	snprintf(NS, sizeof(NS), "sbxtest-%d", (int)getpid());
	bool have = need("containerd", NULL) && need("ctr", ctr_bin) &&
		    need("containerd-shim-runc-v2", NULL);
	if (!mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/containerd.sock", work);
	snprintf(runc_root, sizeof(runc_root), "%s/runc", work);
	if (!realpath(h_path("sandbox"), sandbox_bin)) {
		perror(h_path("sandbox"));
		return 1;
	}
	h_template_dir_init(); /* containerd, its shims and so sandbox inherit the template dir */
	Suite *s = suite_create("containerd");
	TCase *cli = tcase_create("cli");
	tcase_add_test(cli, bad_options_leave_nothing);
	suite_add_tcase(s, cli);
	bool up = have && start_containerd() == 0 && import_image() == 0;
	if (up) {
		TCase *tc = tcase_create("vm");
		tcase_set_timeout(tc, 900);
		tcase_add_test(tc, run_rm_exit_status);
		tcase_add_test(tc, detached_exec_ps_events_sigkill);
		tcase_add_test(tc, detached_sigterm);
		suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (up)
		cleanup_containers();
	stop_containerd();
	/* containerd's snapshots are overlay mounts under work: none may outlive it. */
	sh("grep -o ' %s/[^ ]*' /proc/self/mounts | xargs -r -n1 umount -l", work);
	sh("rm -rf '%s'", work);
	/* linux.cgroupsPath's parent (/NS), made as runc makes it and, as under runc, not removed
	 */
	sh("rmdir /sys/fs/cgroup/*/%s 2>/dev/null || true", NS);
	h_template_dir_done();
	return failed || (have && !up) ? 1 : 0;
}
