/*
 * The VMM's isolation layers, observed from outside on a real run (docs/security.md):
 *  - jail: the running VMM is in its own mount/pid/ipc/uts namespaces, sees only its jail,
 *    runs as an unprivileged uid with no capabilities, no_new_privs, rlimits and a cgroup,
 *    and everything (cgroup, jail dir, run dir) is gone afterwards;
 *  - seccomp: every VMM thread is filtered, and a syscall outside the list made from a vCPU
 *    thread or the main thread kills the VMM with SIGSYS, which `sandbox` reports (exit 125)
 *    without leaving anything behind. The trigger lives only in sandbox-vmm-testhooks.
 * Three VM runs: one restored from the template, two cold boots that die at once.
 */
#include <limits.h>

#include "../../common/cleanup.h"

#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-iso.XXXXXX";

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_entries(run_root) == 0, "state left behind in %s", run_root);
}

static void read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Value of "Key:\t..." in a /proc status file, first field only. */
static unsigned long long status_field(const char *text, const char *key, int base)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n%s:", key);
	const char *p = strstr(text, pat);
	ck_assert_msg(p != NULL, "no %s in status", key);
	return strtoull(p + strlen(pat), NULL, base);
}

/* The sandbox-vmm child of `parent`, or 0. */
static pid_t find_vmm_child(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && (e = readdir(d)) && !found) {
		char p[300], comm[64];
		int pid = 0, ppid = 0;
		char state;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(p, "r") : NULL;
		if (f && fscanf(f, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid) == 4 &&
		    ppid == parent && !strcmp(comm, "sandbox-vmm"))
			found = pid;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

static void assert_other_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], pa[64], pb[64];
	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", pid, ns);
	snprintf(pb, sizeof(pb), "/proc/self/ns/%s", ns);
	ssize_t na = readlink(pa, a, sizeof(a) - 1), nb = readlink(pb, b, sizeof(b) - 1);
	ck_assert(na > 0 && nb > 0);
	a[na] = b[nb] = '\0';
	ck_assert_msg(strcmp(a, b), "the VMM shares our %s namespace (%s)", ns, a);
}

/* Every thread: filter mode 2 (SECCOMP_MODE_FILTER). */
static void assert_all_threads_filtered(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[300], text[4096];
		snprintf(p, sizeof(p), "%s/%s/status", dir, e->d_name);
		read_text(p, text, sizeof(text));
		ck_assert_msg(status_field(text, "Seccomp", 10) == 2, "VMM thread %s unfiltered",
			      e->d_name);
		n++;
	}
	closedir(d);
	ck_assert_int_ge(n, 3); /* main, vCPU, vsock I/O */
}

/* The jail's root holds only what the VMM needs (shim/jail_vmm.c). */
static void assert_jail_contents(pid_t pid)
{
	static const char *const allowed[] = {
	    "dev",	 "proc", "sock",   "sandbox-vmm", "snapshot", "vmlinux",
	    "initramfs", "disk", "serial", "sys" /* a cold boot on kvm_pvm: module/kvm_pvm */};
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/root", pid);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		bool ok = e->d_name[0] == '.';
		for (size_t i = 0; i < ARRAY_SIZE(allowed) && !ok; i++)
			ok = !strcmp(e->d_name, allowed[i]);
		ck_assert_msg(ok, "unexpected '/%s' in the VMM's jail", e->d_name);
	}
	closedir(d);
	snprintf(dir, sizeof(dir), "/proc/%d/root/dev", pid);
	ck_assert_int_eq(h_count_entries(dir), 1); /* kvm */
	char p[128];
	snprintf(p, sizeof(p), "/proc/%d/root/etc", pid);
	ck_assert_int_ne(access(p, F_OK), 0);
}

static void assert_limits(pid_t pid, unsigned long uid)
{
	char p[64], text[8192];
	snprintf(p, sizeof(p), "/proc/%d/limits", pid);
	read_text(p, text, sizeof(text));
	ck_assert_msg(strstr(text, "Max core file size        0"), "%s", text);
	ck_assert_msg(strstr(text, "Max open files            4096"), "%s", text);
	snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
	read_text(p, text, sizeof(text));
	char want[64];
	snprintf(want, sizeof(want), "/sandbox/vmm-%lu", uid);
	ck_assert_msg(strstr(text, want), "VMM not in its cgroup: %s", text);
}

/*
 * `--cpus 1`: a quota of one cpu per period in the VMM's own cpu cgroup, which weighs as one
 * busy thread; its parent weighs at least as much (shim/cgroup.c: the sum of its VMs), not as
 * one thread for all of them.
 */
static void assert_cpu_quota(pid_t pid)
{
	long long quota, period;
	h_vmm_cpu_quota(pid, &quota, &period);
	fprintf(stderr, "[jail] the VMM's cpu quota: %lld us per %lld us\n", quota, period);
	ck_assert_int_eq(quota, 100000);
	ck_assert_int_eq(period, 100000);
	char dir[4096], parent[4096];
	ck_assert(h_cpu_cgroup_dir(pid, dir, sizeof(dir)));
	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	bool v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
	const char *w = v2 ? "cpu.weight" : "cpu.shares";
	long long mine = h_cgroup_num(dir, w), all = h_cgroup_num(parent, w);
	fprintf(stderr, "[jail] %s: the VMM's %lld, its parent's %lld\n", w, mine, all);
	ck_assert_int_eq(mine, v2 ? 100 : 1024);
	ck_assert_int_ge(all, mine);
}

static void assert_cgroup_gone(unsigned long uid)
{
	char p[128];
	snprintf(p, sizeof(p), "/sys/fs/cgroup/cpu/sandbox/vmm-%lu", uid);
	ck_assert_msg(access(p, F_OK) != 0, "%s left behind", p);
	snprintf(p, sizeof(p), "/sys/fs/cgroup/memory/sandbox/vmm-%lu", uid);
	ck_assert_msg(access(p, F_OK) != 0, "%s left behind", p);
	snprintf(p, sizeof(p), "/sys/fs/cgroup/sandbox/vmm-%lu", uid);
	ck_assert_msg(access(p, F_OK) != 0, "%s left behind", p);
}

/* Looks at the running VMM while the container sleeps, then lets the run finish. */
START_TEST(jailed_vmm_has_least_privilege)
{
	int op[2];
	ck_assert_int_eq(pipe(op), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(op[1], 1);
		close(op[0]);
		close(op[1]);
		/* --cpus: the VMM's cgroup gets a quota of one cpu (still the 1-vCPU template). */
		char *argv[] = {h_path("sandbox"),
				"run",
				h_mode(),
				"--cpus",
				"1",
				"--rootfs",
				h_path("rootfs-busybox"),
				"--",
				"sh",
				"-c",
				"echo ready; sleep 3",
				NULL};
		execv(argv[0], h_argv(argv));
		_exit(126);
	}
	close(op[1]);
	char out[256] = "";
	size_t len = 0;
	while (!strstr(out, "ready") && len < sizeof(out) - 1) {
		ssize_t n = read(op[0], out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
	}
	ck_assert_msg(strstr(out, "ready"), "no output from the container: '%s'", out);
	pid_t vmm = find_vmm_child(pid);
	ck_assert_msg(vmm > 0, "no sandbox-vmm child of sandbox %d", pid);

	char p[64], text[8192];
	snprintf(p, sizeof(p), "/proc/%d/status", vmm);
	read_text(p, text, sizeof(text));
	unsigned long uid = status_field(text, "Uid", 10), gid = status_field(text, "Gid", 10);
	ck_assert_uint_ge(uid, 900000);
	ck_assert_uint_eq(gid, uid);
	ck_assert_uint_eq(status_field(text, "CapEff", 16), 0);
	ck_assert_uint_eq(status_field(text, "CapPrm", 16), 0);
	ck_assert_uint_eq(status_field(text, "CapBnd", 16), 0);
	ck_assert_uint_eq(status_field(text, "CapAmb", 16), 0);
	ck_assert_uint_eq(status_field(text, "NoNewPrivs", 10), 1);
	ck_assert_uint_eq(status_field(text, "NSpid", 10), (unsigned long)vmm);
	ck_assert_msg(strstr(text, "NSpid:\t") && strstr(strstr(text, "NSpid:\t"), "\t1\n"),
		      "the VMM is not pid 1 of its own pid namespace");
	static const char *const nss[] = {"mnt", "pid", "ipc", "uts"};
	for (size_t i = 0; i < ARRAY_SIZE(nss); i++)
		assert_other_ns(vmm, nss[i]);
	assert_all_threads_filtered(vmm);
	assert_jail_contents(vmm);
	assert_limits(vmm, uid);
	assert_cpu_quota(vmm);

	while (read(op[0], out, sizeof(out)) > 0)
		;
	close(op[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sandbox status %#x", st);
	assert_cgroup_gone(uid);
	assert_nothing_left();
}
END_TEST

/* A forbidden syscall from the named thread kind kills the VMM; sandbox says so, cleans up. */
static void forbidden_syscall_kills(const char *thread)
{
	setenv("SANDBOX_VMM", h_path("sandbox-vmm-testhooks"), 1);
	setenv("SANDBOX_TEST_FORBIDDEN_SYSCALL", thread, 1);
	struct cmd_result r;
	h_run((char *const[]){h_path("sandbox"), "run", "--no-template", "--rootfs",
			      h_path("rootfs-busybox"), "--", "true", NULL},
	      &r);
	unsetenv("SANDBOX_TEST_FORBIDDEN_SYSCALL");
	unsetenv("SANDBOX_VMM");
	fprintf(stderr, "[%s]\n%s", thread, r.err);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.err, "seccomp") && strstr(r.err, "SIGSYS"), "no SIGSYS report: %s",
		      r.err);
	h_free(&r);
	assert_nothing_left();
}

START_TEST(forbidden_syscall_on_vcpu_thread_kills_vmm)
{
	forbidden_syscall_kills("vcpu");
}
END_TEST

START_TEST(forbidden_syscall_on_main_thread_kills_vmm)
{
	forbidden_syscall_kills("main");
}
END_TEST

/* The release VMM does not contain the trigger at all. */
START_TEST(release_vmm_has_no_test_hooks)
{
	FILE *f = fopen(h_path("sandbox-vmm"), "rb");
	ck_assert_ptr_nonnull(f);
	static char buf[1 << 16];
	const char *needle = "SANDBOX_TEST_FORBIDDEN_SYSCALL";
	size_t keep = 0, n;
	bool found = false;
	while (!found && (n = fread(buf + keep, 1, sizeof(buf) - keep, f)) > 0) {
		found = memmem(buf, keep + n, needle, strlen(needle)) != NULL;
		keep = strlen(needle);
		memmove(buf, buf + n, keep);
	}
	fclose(f);
	ck_assert_msg(!found, "the release sandbox-vmm contains the test trigger");
}
END_TEST

int main(void)
{
	h_require_kvm();
	if (!mkdtemp(run_root)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	setenv("SANDBOX_JAIL", "1", 1); /* whatever the default is */
	h_template_dir_init();
	Suite *s = suite_create("isolation");
	TCase *quick = tcase_create("static");
	tcase_add_test(quick, release_vmm_has_no_test_hooks);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 900);
	tcase_add_test(vm, jailed_vmm_has_least_privilege);
	tcase_add_test(vm, forbidden_syscall_on_vcpu_thread_kills_vmm);
	tcase_add_test(vm, forbidden_syscall_on_main_thread_kills_vmm);
	suite_add_tcase(s, vm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(run_root);
	h_template_dir_done();
	return failed ? 1 : 0;
}
