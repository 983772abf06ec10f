/*
 * Faults (issue 5, "Tests that try to break it"; docs/security.md "Faults"): the VMM SIGKILLed
 * mid-run, a guest kernel panic, the OCI state dir on a full filesystem, SIGKILL of the OCI
 * monitor between create and start and of `sandbox create` itself, SIGKILL of `sandbox run`;
 * and, with the test agent's hooks, the guest's PID 1 crashing, the container init dying
 * before exec (plain and OCI run) and PID 1 hanging up on the host while the VM stays up, each
 * checked by its exact message and exit code. Each case compares leak counts (harness.h h_counts:
 * processes, fds, mounts, root entries, taps, leases, cgroups, memory) taken before the fault and
 * after its cleanup. The VMM is jailed (the default), so these also prove the harness finds jailed
 * VMMs (--id).
 *
 * One template store (SANDBOX_TEMPLATE_DIR) for every case; about 10 VM restores in all.
 */
#include <sys/mount.h>
#include <sys/prctl.h>

#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-faults-run.XXXXXX";
static char oci_root[] = "/tmp/sandbox-test-faults-oci.XXXXXX";
static char work[] = "/tmp/sandbox-test-faults-work.XXXXXX";

/* linux.resources.cpu of the test bundles: the VMM's cgroup must carry it (shim/jail.h). */
#define OCI_QUOTA_US 50000
#define OCI_PERIOD_US 100000

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

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* `sandbox run` of a guest that says READY and sleeps; returns once READY was printed. */
static void start_sleeper(struct h_bg *b, const char *name, char *const argv[])
{
	h_bg_start(b, work, name, argv);
	const char *e = getenv("SANDBOX_TEST_READY_TIMEOUT"); /* a loaded machine's override */
	bool ready = h_bg_wait_text(b, "READY", e && atoi(e) > 0 ? atoi(e) : READY_TIMEOUT_S);
	if (!ready) {
		fprintf(stderr, "[%s] stdout: %s\n", name, h_slurp(b->out));
		fprintf(stderr, "[%s] stderr: %s\n", name, h_slurp(b->err));
		if (b->pid > 0) { /* leave nothing running for the next case */
			kill(b->pid, SIGKILL);
			h_bg_wait(b, 30);
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
	struct h_bg b;
	start_sleeper(&b, "vmmkill", RUN("--", "sh", "-c", "echo READY; exec sleep 600"));
	ck_assert_msg(h_count_vmms_using(run_root) == 1,
		      "the harness does not see the running (jailed) VMM by its --id");
	pid_t vmm = h_vmm_pid_using(run_root);
	ck_assert_int_gt(vmm, 0);
	ck_assert_int_eq(kill(vmm, SIGKILL), 0);
	int st = h_bg_wait(&b, 60);
	char *err = h_slurp(b.err);
	fprintf(stderr, "[vmmkill] status %d, stderr: %s", st, err);
	ck_assert_int_eq(st, 125);
	/* After a template-build notice, before the guest console's and the VMM log's tails. */
	ck_assert_msg(strstr(err, "sandbox: the VMM was killed before the container exited\n"),
		      "no line naming the VMM's death: %s", err);
	h_wait_vmms_gone(run_root, 10);
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
	h_show("panic", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.err, "the guest kernel panicked"), "stderr: %s", r.err);
	h_free(&r);
	h_wait_vmms_gone(run_root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

/* SANDBOX_NO_JAIL=1 (debugging): no cgroup, so no quota to find. */
static bool jail_off(void)
{
	const char *e = getenv("SANDBOX_NO_JAIL");
	return e && !strcmp(e, "1");
}

/* env_extra: one more "K=V" for process.env, or NULL. */
static char *make_bundle(const char *name, const char *args_json, const char *env_extra)
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
	snprintf(spec, sizeof(spec), "%s", h_slurp(path));
	ck_assert_ptr_nonnull(realpath(h_path("rootfs-busybox"), rootfs));
	/* args, terminal off, root.path, a cpu quota: fields as `sandbox spec` writes them. */
	const char *from[] = {"\"args\": [\"sh\"]", "\"terminal\": true", "\"path\": \"rootfs\"",
			      "\"resources\": {", "\"TERM=xterm\""};
	char to[5][PATH_MAX + 64];
	snprintf(to[0], sizeof(to[0]), "\"args\": %s", args_json);
	snprintf(to[1], sizeof(to[1]), "\"terminal\": false");
	snprintf(to[2], sizeof(to[2]), "\"path\": \"%s\"", rootfs);
	/* Half a cpu: the VM keeps the default 1 vCPU (and template), its VMM gets the quota. */
	snprintf(to[3], sizeof(to[3]), "\"resources\": {\"cpu\": {\"quota\": %d, \"period\": %d}, ",
		 OCI_QUOTA_US, OCI_PERIOD_US);
	snprintf(to[4], sizeof(to[4]), "\"TERM=xterm\"%s%s%s", env_extra ? ", \"" : "",
		 env_extra ? env_extra : "", env_extra ? "\"" : "");
	for (int i = 0; i < 5; i++) {
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
	char *b = make_bundle("fullfs", "[\"true\"]", NULL);
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
		h_show("create on a full fs", &r);
		h_run(OCI("list"), &l);
		h_run(OCI("delete", "full1"), &d);
		h_wait_vmms_gone(oci_root, 10);
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
	char *b = make_bundle("killed", "[\"sleep\", \"600\"]", NULL);
	char pidfile[600];
	snprintf(pidfile, sizeof(pidfile), "%s/killed.pid", work);
	struct h_counts before, after;
	h_counts_take(&before);
	struct h_bg c;
	h_bg_start(&c, work, "create1", OCI("create", "--bundle", b, "--pid-file", pidfile, "k1"));
	ck_assert_int_eq(h_bg_wait(&c, READY_TIMEOUT_S), 0);
	pid_t monitor = atoi(h_slurp(pidfile));
	ck_assert_int_gt(monitor, 1);
	ck_assert_msg(h_count_vmms_using(oci_root) == 1, "no VMM of k1 seen");
	long long quota, period;
	h_vmm_cpu_quota(h_vmm_pid_using(oci_root), &quota, &period);
	fprintf(stderr, "[k1] the VMM's cpu quota %lld us per %lld us\n", quota, period);
	if (!jail_off()) {
		ck_assert_int_eq(quota, OCI_QUOTA_US);
		ck_assert_int_eq(period, OCI_PERIOD_US);
	}
	ck_assert_int_eq(kill(monitor, SIGKILL), 0);
	for (int i = 0; i < 100 && h_alive(monitor); i++)
		usleep(100000);
	waitpid(monitor, NULL, WNOHANG);
	h_wait_vmms_gone(oci_root, 10);
	ck_assert_msg(h_count_vmms_using(oci_root) == 0, "the VMM outlived its monitor");
	struct cmd_result r;
	h_run(OCI("list"), &r);
	h_show("list after SIGKILL", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "k1") && strstr(r.out, "stopped"), "list: %s", r.out);
	h_free(&r);
	h_run(OCI("start", "k1"), &r);
	ck_assert_int_eq(r.status, 125); /* a dead container cannot start */
	h_free(&r);
	h_run(OCI("delete", "k1"), &r);
	h_show("delete after SIGKILL", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);

	/* `sandbox create` itself killed while it creates (its state dir exists). */
	char state[600];
	snprintf(state, sizeof(state), "%s/k2", oci_root);
	h_bg_start(&c, work, "create2", OCI("create", "--bundle", b, "--pid-file", pidfile, "k2"));
	for (int i = 0; i < 600 && access(state, F_OK) != 0; i++)
		usleep(50000);
	ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
	ck_assert_int_eq(h_bg_wait(&c, 10), 128 + SIGKILL);
	h_run(OCI("list"), &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	h_run(OCI("delete", "--force", "k2"), &r);
	h_show("delete --force after killed create", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	/* Reap the monitors reparented to us (we are their subreaper) as they exit. */
	for (int i = 0; i < 100 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(100000);
	h_wait_vmms_gone(oci_root, 10);
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
	struct h_bg b;
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
	ck_assert_int_eq(h_bg_wait(&b, 10), 128 + SIGKILL);
	h_wait_vmms_gone(run_root, 10);
	ck_assert_msg(h_count_vmms_using(run_root) == 0, "the VMM outlived sandbox");
	for (int i = 0; i < 50 && h_count_procs_mentioning("virtiofsd", work); i++)
		usleep(100000);
	ck_assert_msg(h_count_procs_mentioning("virtiofsd", work) == 0,
		      "virtiofsd outlived sandbox");
	h_note_run_id(id);
	/* A dying process leaves the VMM count (its command line goes with its memory) before its
	 * fds are closed, and closing the tap unregisters the device only then: on a loaded
	 * machine that takes a moment. Wait for it (10 s at most), do not assume it. */
	struct h_counts now;
	h_counts_take(&now);
	for (int i = 0; i < 100 && now.taps != before.taps; i++) {
		usleep(100000);
		h_counts_take(&now);
	}
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
	h_show("next start", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	h_counts_take(&now);
	h_counts_print("after the next start", &now);
	ck_assert_int_le(now.cgroups, before.cgroups + 1);
	now.cgroups = before.cgroups;
	h_counts_assert_same(&before, &now, 512);
}
END_TEST

/* ---- the agent dying on its own: the test agent's hooks (agent/testhooks.c) ---- */

#define HOOK_ENV "SANDBOX_TEST_AGENT_DIE"

/* Lines of text that start with prefix and contain needle. */
static int count_lines(const char *text, const char *prefix, const char *needle)
{
	int n = 0;
	for (const char *l = text; l && *l;) {
		const char *end = strchrnul(l, '\n');
		size_t pl = strlen(prefix);
		if ((size_t)(end - l) >= pl && !strncmp(l, prefix, pl) &&
		    memmem(l, (size_t)(end - l), needle, strlen(needle)))
			n++;
		l = *end ? end + 1 : end;
	}
	return n;
}

/* Whether the text's last line is exactly line (followed by its newline). */
static bool ends_with_line(const char *text, const char *line)
{
	size_t t = strlen(text), l = strlen(line);
	return t >= l + 1 && text[t - 1] == '\n' && !strncmp(text + t - 1 - l, line, l) &&
	       (t == l + 1 || text[t - l - 2] == '\n');
}

/* Whether the file holds the string (a binary's text: `strings | grep`, without the tools). */
static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	static char buf[8 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, needle, strlen(needle)) != NULL;
}

/* The release agent has no hook (and the test agent has: the check is not blind). */
START_TEST(release_agent_has_no_hooks)
{
	ck_assert_msg(!file_contains(h_path("sandbox-agent"), HOOK_ENV),
		      "the release agent contains the test hook");
	ck_assert_msg(!file_contains(h_path("initramfs.cpio"), HOOK_ENV),
		      "the release initramfs contains the test hook");
	ck_assert_msg(file_contains(h_path("testhooks/sandbox-agent"), HOOK_ENV),
		      "the test agent has no hook: this check would be blind");
}
END_TEST

/*
 * The guest's PID 1 crashes (SIGSEGV) after STARTED, while the container runs: the guest kernel
 * panics ("Attempted to kill init!"), the VMM stops the VM, `sandbox` exits 125 with one line
 * saying so, and nothing is left.
 */
START_TEST(agent_pid1_dies_after_started)
{
	struct h_counts before, after;
	h_counts_take(&before);
	struct cmd_result r;
	/* The container's first line has gone out (so STARTED before it) when it makes the file
	 * the hook waits for. */
	h_run(RUN("--initrd", h_path("testhooks/initramfs.cpio"), "-e", HOOK_ENV "=pid1:die-now",
		  "--", "sh", "-c", "echo RUNNING; touch /die-now; exec sleep 600"),
	      &r);
	h_show("pid1 dies", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.out, "RUNNING"), "the container never ran: %s", r.out);
	/* Named for what it is, not as an anonymous panic; last, after the console's tail. */
	ck_assert_msg(ends_with_line(r.err, "sandbox: the guest agent (PID 1) died "
					    "(exitcode=0x0000000b) before the container exited"),
		      "stderr: %s", r.err);
	ck_assert_msg(!strstr(r.err, "the guest kernel panicked"), "stderr: %s", r.err);
	/* The evidence once: the console's panic line and the VMM's own line. */
	ck_assert_int_eq(count_lines(r.err, "sandbox: guest console: ", "Attempted to kill init"),
			 1);
	ck_assert_int_eq(count_lines(r.err, "sandbox: vmm: ", "Attempted to kill init"), 1);
	h_free(&r);
	h_wait_vmms_gone(run_root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

/*
 * The container init the agent forked (the helper that execs the workload) is SIGKILLed before
 * the execve: the workload never ran, so this is a failure to start, not the workload's status
 * (runc's way): one line naming the init's death, exit 125, the VM powers off normally, nothing
 * left. The same in the OCI path (`sandbox run --keep` of a bundle): the monitor fails with it,
 * the container is stopped without ever having run, `start` refuses it, `delete` works.
 */
START_TEST(agent_exec_helper_dies_mid_exec)
{
	static const char died[] = "sandbox: container init died before exec: signal 9 (Killed)\n";
	struct h_counts before, after;
	h_counts_take(&before);
	struct cmd_result r;
	h_run(RUN("--initrd", h_path("testhooks/initramfs.cpio"), "-e", HOOK_ENV "=helper", "--",
		  "echo", "NEVER"),
	      &r);
	h_show("exec helper dies", &r);
	ck_assert_msg(!strstr(r.out, "NEVER"), "the workload ran: %s", r.out);
	ck_assert_int_eq(r.status, 125);
	/* The agent reported it: one line, no console tail (that is for runs without a report). */
	ck_assert_str_eq(r.err, died);
	h_free(&r);

	char *b = make_bundle("helper", "[\"echo\", \"NEVER\"]", HOOK_ENV "=helper");
	setenv("SANDBOX_INITRAMFS", h_path("testhooks/initramfs.cpio"), 1);
	h_run(OCI("run", "--keep", "--bundle", b, "h1"), &r);
	unsetenv("SANDBOX_INITRAMFS");
	h_show("OCI run, exec helper dies", &r);
	ck_assert_msg(!strstr(r.out, "NEVER"), "the workload ran: %s", r.out);
	ck_assert_int_eq(r.status, 125);
	ck_assert_str_eq(r.err, died);
	h_free(&r);
	char state_file[600];
	snprintf(state_file, sizeof(state_file), "%s/h1/state.json", oci_root);
	const char *st = h_slurp(state_file);
	ck_assert_msg(strstr(st, "\"status\":\"stopped\"") && strstr(st, "\"exitCode\":125"),
		      "state.json: %s", st);
	h_run(OCI("state", "h1"), &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "\"status\": \"stopped\""), "state: %s", r.out);
	h_free(&r);
	h_run(OCI("start", "h1"), &r);
	ck_assert_int_eq(r.status, 125);
	h_free(&r);
	h_run(OCI("delete", "h1"), &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	h_wait_vmms_gone(run_root, 10);
	h_wait_vmms_gone(oci_root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

/*
 * The guest's PID 1 hangs up on the host while the container runs, and the VM stays up (the
 * agent neither crashes nor powers off): `sandbox` gives up on it, stops the VMM itself, and
 * still shows the guest console's tail (which holds the agent's last word) and then one line
 * saying what happened; exit 125, nothing left.
 */
START_TEST(agent_hangs_up_vm_stays_up)
{
	struct h_counts before, after;
	h_counts_take(&before);
	struct cmd_result r;
	h_run(RUN("--initrd", h_path("testhooks/initramfs.cpio"), "-e", HOOK_ENV "=hangup:hang-now",
		  "--", "sh", "-c", "echo RUNNING; touch /hang-now; exec sleep 600"),
	      &r);
	h_show("pid1 hangs up", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.out, "RUNNING"), "the container never ran: %s", r.out);
	ck_assert_int_eq(
	    count_lines(r.err, "sandbox: guest console: ", "testhook: PID 1 hung up on the host"),
	    1);
	ck_assert_msg(ends_with_line(r.err, "sandbox: the guest agent closed the connection "
					    "before the container exited"),
		      "stderr: %s", r.err);
	h_free(&r);
	h_wait_vmms_gone(run_root, 10);
	ck_assert_msg(h_count_vmms_using(run_root) == 0, "the VMM was left running");
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
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
	tcase_add_test(quick, release_agent_has_no_hooks);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 2 * READY_TIMEOUT_S); /* per test */
	tcase_add_test(vm, sigkill_of_sandbox_run);
	tcase_add_test(vm, vmm_sigkill_mid_run);
	tcase_add_test(vm, guest_kernel_panic);
	tcase_add_test(vm, sigkill_between_create_and_start);
	/* The test agent's own template: one more template build (a cold boot), two restores. */
	tcase_add_test(vm, agent_pid1_dies_after_started);
	tcase_add_test(vm, agent_exec_helper_dies_mid_exec);
	tcase_add_test(vm, agent_hangs_up_vm_stays_up);
	suite_add_tcase(s, vm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* After a failure something may remain: stop it. */
	umount2(oci_root, MNT_DETACH);
	const char *ids[] = {"k1", "k2", "full1", "h1"};
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
