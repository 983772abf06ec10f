/*
 * Faults (issue 5, "Tests that try to break it"; docs/security.md "Faults"): the VMM SIGKILLed
 * mid-run, a guest kernel panic, the OCI state dir on a full filesystem, SIGKILL of the OCI
 * monitor between create and start and of `sandbox create` itself, SIGKILL of `sandbox run`.
 * Each case compares leak counts (harness.h h_counts: processes, fds, mounts, root entries,
 * taps, leases, cgroups, memory) taken before the fault and after its cleanup. The VMM is
 * jailed (the default), so these also prove the harness finds jailed VMMs (--id).
 *
 * One template store (SANDBOX_TEMPLATE_DIR) for every case; about 8 VM restores in all.
 */
#include <sys/mount.h>
#include <sys/prctl.h>

#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-faults-run.XXXXXX";
static char oci_root[] = "/tmp/sandbox-test-faults-oci.XXXXXX";
static char work[] = "/tmp/sandbox-test-faults-work.XXXXXX";

/* Generous: a restore takes ~8 s, but minutes when other VMs load the machine's 2 cores. */
#define READY_TIMEOUT_S 600

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

static void show(const char *what, const struct cmd_result *r)
{
	fprintf(stderr, "[%s] status=%d\n--- stdout ---\n%.600s\n--- stderr ---\n%.2000s\n", what,
		r->status, r->out, r->err);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A command in the background, its stdout and stderr in files under work. */
struct bg {
	pid_t pid;
	char out[600], err[600];
};

static void bg_start(struct bg *b, const char *name, char *const argv[])
{
	snprintf(b->out, sizeof(b->out), "%s/%s.out", work, name);
	snprintf(b->err, sizeof(b->err), "%s/%s.err", work, name);
	b->pid = fork();
	ck_assert_int_ge(b->pid, 0);
	if (b->pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(b->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		for (int fd = 3; fd < 64; fd++)
			close(fd);
		execv(argv[0], argv);
		_exit(127);
	}
}

static bool bg_wait_text(struct bg *b, const char *text, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		if (strstr(slurp(b->out), text))
			return true;
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = -1;
			return strstr(slurp(b->out), text) != NULL;
		}
		usleep(100000);
	}
	return false;
}

/* Exit status (128+N for signal N), or -1 when it is still running after timeout_s. */
static int bg_wait(struct bg *b, int timeout_s)
{
	for (int i = 0; b->pid > 0 && i < timeout_s * 10; i++) {
		int st;
		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			b->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(100000);
	}
	return -1;
}

/* The pid of our VMM (the one whose --id is under run_root), or 0. */
static pid_t our_vmm(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && (e = readdir(d))) {
		char p[300], comm[64] = "", args[8192];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		bool vmm = f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "sandbox-vmm", 11);
		if (f)
			fclose(f);
		snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
		f = vmm ? fopen(p, "r") : NULL;
		size_t len = f ? fread(args, 1, sizeof(args) - 1, f) : 0;
		if (f)
			fclose(f);
		for (size_t i = 0; i < len; i++)
			args[i] = args[i] ? args[i] : ' ';
		args[len] = '\0';
		if (vmm && strstr(args, run_root))
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* Waits up to timeout_s for our VMMs to be gone (SIGKILL and reaping are asynchronous). */
static void wait_vmms_gone(const char *root, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10 && h_count_vmms_using(root); i++)
		usleep(100000);
}

/* `sandbox run` of a guest that says READY and sleeps; returns once READY was printed. */
static void start_sleeper(struct bg *b, const char *name, char *const argv[])
{
	bg_start(b, name, argv);
	const char *e = getenv("SANDBOX_TEST_READY_TIMEOUT"); /* a loaded machine's override */
	bool ready = bg_wait_text(b, "READY", e && atoi(e) > 0 ? atoi(e) : READY_TIMEOUT_S);
	if (!ready) {
		fprintf(stderr, "[%s] stdout: %s\n", name, slurp(b->out));
		fprintf(stderr, "[%s] stderr: %s\n", name, slurp(b->err));
		if (b->pid > 0) { /* leave nothing running for the next case */
			kill(b->pid, SIGKILL);
			bg_wait(b, 30);
		}
	}
	ck_assert_msg(ready, "%s: the guest never said READY", name);
	h_note_run_ids(run_root);
}

/*
 * The harness sees the jailed VMM (its --id) while it runs, so the "nothing left" checks of
 * every test are not blind under the jail; SIGKILL it: sandbox says so, exits 125, cleans up.
 */
START_TEST(vmm_sigkill_mid_run)
{
	struct h_counts before, after;
	h_counts_take(&before);
	struct bg b;
	start_sleeper(&b, "vmmkill", RUN("--", "sh", "-c", "echo READY; exec sleep 600"));
	ck_assert_msg(h_count_vmms_using(run_root) == 1,
		      "the harness does not see the running (jailed) VMM by its --id");
	pid_t vmm = our_vmm();
	ck_assert_int_gt(vmm, 0);
	ck_assert_int_eq(kill(vmm, SIGKILL), 0);
	int st = bg_wait(&b, 60);
	char *err = slurp(b.err);
	fprintf(stderr, "[vmmkill] status %d, stderr: %s", st, err);
	ck_assert_int_eq(st, 125);
	/* After a template-build notice, before the guest console's and the VMM log's tails. */
	ck_assert_msg(strstr(err, "sandbox: the VMM was killed before the container exited\n"),
		      "no line naming the VMM's death: %s", err);
	wait_vmms_gone(run_root, 10);
	ck_assert_msg(h_count_vmms_using(run_root) == 0, "a VMM of ours was left");
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

/*
 * A guest kernel panic, as the host sees one: "Kernel panic - not syncing: ..." on the guest
 * console at KERN_EMERG, which is what the VMM watches for (microvm/serial.c). The container's
 * root writes it to /dev/kmsg, so the line goes through the guest kernel's printk and console
 * driver like a real panic's (no test hook in any release binary). The VMM stops the VM with
 * status 3; sandbox reports the panic, exits 125 and leaves nothing.
 */
START_TEST(guest_kernel_panic)
{
	struct h_counts before, after;
	h_counts_take(&before);
	struct cmd_result r;
	h_run(RUN("--", "sh", "-c",
		  "mknod /dev/kmsg c 1 11 && "
		  "echo '<0>Kernel panic - not syncing: sandbox fault test' >/dev/kmsg; sleep 120"),
	      &r);
	show("panic", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.err, "the guest kernel panicked"), "stderr: %s", r.err);
	h_free(&r);
	wait_vmms_gone(run_root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

static char *make_bundle(const char *name, const char *args_json)
{
	static char dirs[4][512];
	static int k;
	char *dir = dirs[k++ % 4], path[600], rootfs[PATH_MAX];
	snprintf(dir, 512, "%s/%s", work, name);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	struct cmd_result r;
	h_run(OCI("spec", "--bundle", dir), &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	static char spec[65536];
	snprintf(spec, sizeof(spec), "%s", slurp(path));
	ck_assert_ptr_nonnull(realpath(h_path("rootfs-busybox"), rootfs));
	/* args, terminal off, root.path: three fields as `sandbox spec` writes them. */
	const char *from[] = {"\"args\": [\"sh\"]", "\"terminal\": true", "\"path\": \"rootfs\""};
	char to[3][PATH_MAX + 64];
	snprintf(to[0], sizeof(to[0]), "\"args\": %s", args_json);
	snprintf(to[1], sizeof(to[1]), "\"terminal\": false");
	snprintf(to[2], sizeof(to[2]), "\"path\": \"%s\"", rootfs);
	for (int i = 0; i < 3; i++) {
		char *p = strstr(spec, from[i]);
		ck_assert_msg(p != NULL, "'%s' not in the spec", from[i]);
		size_t fl = strlen(from[i]), tl = strlen(to[i]), rest = strlen(p + fl);
		ck_assert(strlen(spec) - fl + tl < sizeof(spec));
		memmove(p + tl, p + fl, rest + 1);
		memcpy(p, to[i], tl);
	}
	write_file(path, spec);
	return dir;
}

/* Fills the filesystem holding dir (ENOSPC) with one file, leaving `leave` bytes free. */
static void fill_fs(const char *dir, size_t leave)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/filler", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	static char chunk[4096];
	while (write(fd, chunk, sizeof(chunk)) == sizeof(chunk))
		;
	close(fd);
	if (leave) {
		struct stat st;
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(
		    truncate(path, st.st_size > (off_t)leave ? st.st_size - (off_t)leave : 0), 0);
	}
}

/*
 * The OCI state dir on a full filesystem: `create` fails with one clear line naming the
 * problem, exits 125 and leaves nothing (no state dir, no monitor, no VMM); `list` and
 * `delete` still work. No VM is booted.
 */
START_TEST(state_dir_on_full_filesystem)
{
	char *b = make_bundle("fullfs", "[\"true\"]");
	/* Full to the last page. With 64 KiB free, create gets as far as booting the VM (its
	 * rootfs is not copied into the state dir), so that is no failure case. */
	static const size_t leave[] = {0};
	char *not_one_line = NULL;
	for (size_t i = 0; i < sizeof(leave) / sizeof(leave[0]); i++) {
		ck_assert_int_eq(mount("tmpfs", oci_root, "tmpfs", 0, "size=1m,mode=0700"), 0);
		fill_fs(oci_root, leave[i]);
		struct h_counts before, after;
		h_counts_take(&before);
		struct cmd_result r, l, d;
		h_run(OCI("create", "--bundle", b, "full1"), &r);
		show("create on a full fs", &r);
		h_run(OCI("list"), &l);
		h_run(OCI("delete", "full1"), &d);
		wait_vmms_gone(oci_root, 10);
		h_counts_take(&after);
		int left = h_count_entries(oci_root);
		/* Unmounted before any check fails: the next cases use the same root. */
		ck_assert_int_eq(umount(oci_root), 0);
		ck_assert_int_eq(r.status, 125);
		ck_assert_msg(strstr(r.err, "No space left on device"), "stderr: %s", r.err);
		if (strchr(r.err, '\n') != r.err + r.err_len - 1 && !not_one_line)
			not_one_line = strdup(r.err);
		ck_assert_int_eq(l.status, 0);
		ck_assert_msg(!strstr(l.out, "full1"), "list: %s", l.out);
		ck_assert_int_eq(d.status, 125);
		ck_assert_msg(strstr(d.err, "does not exist"), "delete: %s", d.err);
		h_free(&r);
		h_free(&l);
		h_free(&d);
		h_counts_assert_same(&before, &after, 64);
		ck_assert_int_eq(left, 1); /* the filler only */
	}
	ck_assert_msg(!not_one_line, "the error is not one line: %s", not_one_line);
}
END_TEST

static bool process_alive(pid_t pid)
{
	char p[64], state = 0;
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	bool ok = f && fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && state != 'Z';
	if (f)
		fclose(f);
	return ok;
}

/*
 * SIGKILL between create and start: of the container's monitor (the `sandbox` process that
 * holds the VM; a shim would see its container die), then of `sandbox create` while it is
 * creating. Afterwards list shows the first one stopped, delete works for both and nothing
 * is left.
 */
START_TEST(sigkill_between_create_and_start)
{
	/* Like containerd's shim: the monitor becomes our child, so we can reap it. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *b = make_bundle("killed", "[\"sleep\", \"600\"]");
	char pidfile[600];
	snprintf(pidfile, sizeof(pidfile), "%s/killed.pid", work);
	struct h_counts before, after;
	h_counts_take(&before);
	struct bg c;
	bg_start(&c, "create1", OCI("create", "--bundle", b, "--pid-file", pidfile, "k1"));
	ck_assert_int_eq(bg_wait(&c, READY_TIMEOUT_S), 0);
	pid_t monitor = atoi(slurp(pidfile));
	ck_assert_int_gt(monitor, 1);
	ck_assert_msg(h_count_vmms_using(oci_root) == 1, "no VMM of k1 seen");
	ck_assert_int_eq(kill(monitor, SIGKILL), 0);
	for (int i = 0; i < 100 && process_alive(monitor); i++)
		usleep(100000);
	waitpid(monitor, NULL, WNOHANG);
	wait_vmms_gone(oci_root, 10);
	ck_assert_msg(h_count_vmms_using(oci_root) == 0, "the VMM outlived its monitor");
	struct cmd_result r;
	h_run(OCI("list"), &r);
	show("list after SIGKILL", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "k1") && strstr(r.out, "stopped"), "list: %s", r.out);
	h_free(&r);
	h_run(OCI("start", "k1"), &r);
	ck_assert_int_eq(r.status, 125); /* a dead container cannot start */
	h_free(&r);
	h_run(OCI("delete", "k1"), &r);
	show("delete after SIGKILL", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);

	/* `sandbox create` itself killed while it creates (its state dir exists). */
	char state[600];
	snprintf(state, sizeof(state), "%s/k2", oci_root);
	bg_start(&c, "create2", OCI("create", "--bundle", b, "--pid-file", pidfile, "k2"));
	for (int i = 0; i < 600 && access(state, F_OK) != 0; i++)
		usleep(50000);
	ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
	ck_assert_int_eq(bg_wait(&c, 10), 128 + SIGKILL);
	h_run(OCI("list"), &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	h_run(OCI("delete", "--force", "k2"), &r);
	show("delete --force after killed create", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	/* Reap the monitors reparented to us (we are their subreaper) as they exit. */
	for (int i = 0; i < 100 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(100000);
	wait_vmms_gone(oci_root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

/*
 * SIGKILL of `sandbox run` itself, with a tap (default network) and a virtio-fs share: the VMM
 * and virtiofsd die with it at once (PR_SET_PDEATHSIG) and the tap with the VMM; the run dir,
 * network lease (and jail cgroup) stay until the next start, which sweeps them.
 */
START_TEST(sigkill_of_sandbox_run)
{
	struct h_counts before;
	h_counts_take(&before);
	char vol[700];
	snprintf(vol, sizeof(vol), "%s:/data", work);
	struct bg b;
	start_sleeper(&b, "runkill",
		      RUN("-v", vol, "--", "sh", "-c", "echo READY; exec sleep 600"));
	ck_assert_int_eq(h_count_vmms_using(run_root), 1);
	/* virtiofsd runs as a parent and its sandboxed child. */
	ck_assert_int_ge(h_count_procs_mentioning("virtiofsd", work), 1);
	DIR *d = opendir(run_root);
	struct dirent *e;
	char id[64] = "";
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(id, sizeof(id), "%s", e->d_name);
	if (d)
		closedir(d);
	ck_assert_int_eq(strlen(id), 12);
	ck_assert_int_eq(kill(b.pid, SIGKILL), 0);
	ck_assert_int_eq(bg_wait(&b, 10), 128 + SIGKILL);
	wait_vmms_gone(run_root, 10);
	ck_assert_msg(h_count_vmms_using(run_root) == 0, "the VMM outlived sandbox");
	for (int i = 0; i < 50 && h_count_procs_mentioning("virtiofsd", work); i++)
		usleep(100000);
	ck_assert_msg(h_count_procs_mentioning("virtiofsd", work) == 0,
		      "virtiofsd outlived sandbox");
	h_note_run_id(id);
	struct h_counts now;
	h_counts_take(&now);
	h_counts_print("right after SIGKILL", &now);
	ck_assert_int_eq(now.procs, before.procs);
	ck_assert_int_eq(now.taps, before.taps);
	ck_assert_int_eq(now.mounts, before.mounts);
	ck_assert_int_eq(now.entries, before.entries + 1); /* the run dir, until the next start */
	ck_assert_int_eq(now.leases, before.leases + 1);   /* the network lease, likewise */

	/* The next start sweeps them: the run dir (owner dead, shim/rundir.c), the lease
	 * (shim/net_local.c). A jail cgroup is swept by a jailed start once it is over a minute
	 * old (shim/cgroup.c), which this test does not wait for. */
	struct cmd_result r;
	h_run(RUN("--", "true"), &r);
	show("next start", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	h_counts_take(&now);
	h_counts_print("after the next start", &now);
	ck_assert_int_le(now.cgroups, before.cgroups + 1);
	now.cgroups = before.cgroups;
	h_counts_assert_same(&before, &now, 512);
}
END_TEST

int main(void)
{
	h_require_kvm();
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: the fault tests mount a tmpfs (root needed)\n");
		return 77;
	}
	if (!mkdtemp(run_root) || !mkdtemp(oci_root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	h_template_dir_init();
	h_jail_uid_range();
	h_set_roots((const char *const[]){run_root, oci_root, NULL});
	Suite *s = suite_create("faults");
	TCase *quick = tcase_create("fs");
	tcase_set_timeout(quick, 300);
	tcase_add_test(quick, state_dir_on_full_filesystem);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 2 * READY_TIMEOUT_S); /* per test */
	tcase_add_test(vm, sigkill_of_sandbox_run);
	tcase_add_test(vm, vmm_sigkill_mid_run);
	tcase_add_test(vm, guest_kernel_panic);
	tcase_add_test(vm, sigkill_between_create_and_start);
	suite_add_tcase(s, vm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* After a failure something may remain: stop it. */
	umount2(oci_root, MNT_DETACH);
	const char *ids[] = {"k1", "k2", "full1"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char cmd[800];
		snprintf(cmd, sizeof(cmd), "'%s' --root '%s' delete --force %s >/dev/null 2>&1",
			 h_path("sandbox"), oci_root, ids[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", ids[i]);
	}
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", run_root, oci_root, work);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove the test dirs\n");
	h_template_dir_done();
	return failed ? 1 : 0;
}
