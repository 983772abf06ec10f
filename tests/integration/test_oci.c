/*
 * The runc-compatible CLI end to end (docs/oci.md): bundles made from `sandbox spec`, the busybox
 * rootfs, real VMs. Seven VM runs: one long-lived container carries the lifecycle checks (create,
 * duplicate, start, start twice, pause/resume, exec, ps, delete while running, kill by name and
 * number, exit status of the pid-file process, stopped, delete), then `run`, `delete --force` of
 * a running container and `delete` of a created one, and a terminal over --console-socket,
 * and a container whose child, then whose first process, the guest's OOM killer kills (the
 * `events` oom line while it runs), a container with createContainer and startContainer hooks (run
 * in the guest) and one whose createContainer hook fails its create. The lifecycle container
 * also carries linux.cgroupsPath (a
 * host cgroup holding the pid-file process and, nested, the jail's VMM group), an
 * exec that sees the container's guest cgroup, and an exec refused for a wrong exec secret.
 * Every error path is checked to leave nothing behind.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "harness.h"

static char root[] = "/tmp/sandbox-test-oci.XXXXXX";
static char work[] = "/tmp/sandbox-test-oci-work.XXXXXX";

#define OCI(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "--root", root, __VA_ARGS__, NULL                               \
	}

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_entries(root) == 0, "state left behind in %s", root);
	ck_assert_msg(h_count_vmms_using(root) == 0, "a sandbox-vmm of ours was left running");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Replaces the first `from` in s (a buffer of cap bytes) by `to`. */
static void replace(char *s, size_t cap, const char *from, const char *to)
{
	char *p = strstr(s, from);
	ck_assert_msg(p != NULL, "'%s' not in the spec", from);
	size_t fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
	ck_assert(strlen(s) - fl + tl < cap);
	memmove(p + tl, p + fl, rest + 1);
	memcpy(p, to, tl);
}

/*
 * A bundle <work>/<name> whose config.json is `sandbox spec` with args and terminal replaced
 * and root.path pointing at the busybox rootfs (rootfs NULL: keep "rootfs").
 */
static char *make_bundle(const char *name, const char *args_json, bool keep_terminal,
			 const char *rootfs)
{
	static char dirs[8][512];
	static int k;
	char *dir = dirs[k++ % 8], path[600], *spec;
	snprintf(dir, 512, "%s/%s", work, name);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	struct cmd_result r;
	h_run(OCI("spec", "--bundle", dir), &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	static char buf[16384];
	snprintf(buf, sizeof(buf), "%s", h_slurp(path));
	spec = buf;
	char args[1024], rootp[700];
	snprintf(args, sizeof(args), "\"args\": %s", args_json);
	replace(spec, sizeof(buf), "\"args\": [\"sh\"]", args);
	if (!keep_terminal)
		replace(spec, sizeof(buf), "\"terminal\": true", "\"terminal\": false");
	if (rootfs) {
		snprintf(rootp, sizeof(rootp), "\"path\": \"%s\"", rootfs);
		replace(spec, sizeof(buf), "\"path\": \"rootfs\"", rootp);
	}
	write_file(path, spec);
	return dir;
}

/* Adds `extra` (JSON members and a comma) at the start of config.json's "linux" object. */
static void add_linux(const char *dir, const char *extra)
{
	char path[600], with[1024];
	static char buf[16384];
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(buf, sizeof(buf), "%s", h_slurp(path));
	snprintf(with, sizeof(with), "\"linux\": {%s", extra);
	replace(buf, sizeof(buf), "\"linux\": {", with);
	write_file(path, buf);
}

/* The host cgroup of c1, unique per run (root's mkdtemp suffix): tests may run side by side. */
static char host_cg[128], host_cg_mem[256];

static void host_cg_names(void)
{
	snprintf(host_cg, sizeof(host_cg), "sandbox-test-oci-%s", strrchr(root, '.') + 1);
	snprintf(host_cg_mem, sizeof(host_cg_mem), "/sys/fs/cgroup/memory/%s", host_cg);
}

static char *host_cg_file(const char *name)
{
	static char p[400];
	snprintf(p, sizeof(p), "%s/%s", host_cg_mem, name);
	return p;
}

/* The jail's VMM groups (vmm-<uid>) nested in dir. */
static int count_vmm_groups(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, "vmm-", 4);
	if (d)
		closedir(d);
	return n;
}

static char *busybox_rootfs(void)
{
	static char p[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(h_path("rootfs-busybox"), p));
	return p;
}

/* Runs a command that must fail: status 125, one line on stderr holding want, nothing left. */
static void expect_fail(char *const argv[], const char *want)
{
	struct cmd_result r;
	h_run(argv, &r);
	if (r.status != 125 || !strstr(r.err, want))
		h_show(want, &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_msg(strstr(r.err, want), "stderr '%s' lacks '%s'", r.err, want);
	ck_assert_msg(strchr(r.err, '\n') == r.err + r.err_len - 1, "not one line: '%s'", r.err);
	h_free(&r);
}

static void expect_ok(char *const argv[], struct cmd_result *r)
{
	h_run(argv, r);
	if (r->status != 0)
		h_show(argv[3], r);
	ck_assert_int_eq(r->status, 0);
}

static void expect_status(const char *id, const char *status)
{
	struct cmd_result r;
	char want[64];
	expect_ok(OCI("state", (char *)id), &r);
	snprintf(want, sizeof(want), "\"status\": \"%s\"", status);
	ck_assert_msg(strstr(r.out, want), "state of %s: %s (wanted %s)", id, r.out, status);
	h_free(&r);
}

START_TEST(test_errors_leave_nothing)
{
	char cfg[600], log[600];
	char *b = make_bundle("bad-json", "[\"true\"]", false, busybox_rootfs());
	snprintf(cfg, sizeof(cfg), "%s/config.json", b);
	write_file(cfg, "{\"ociVersion\": \"1.0.0\", \"process\": ");
	expect_fail(OCI("create", "--bundle", b, "x"), "config.json: invalid JSON");
	b = make_bundle("no-root", "[\"true\"]", false, "/nonexistent-rootfs");
	expect_fail(OCI("create", "--bundle", b, "x"),
		    "rootfs (/nonexistent-rootfs) does not exist");
	b = make_bundle("bad-type", "[\"echo\", 7]", false, busybox_rootfs());
	expect_fail(OCI("create", "--bundle", b, "x"),
		    "config.json: process.args[1]: expected string");
	b = make_bundle("tty", "[\"sh\"]", true, busybox_rootfs());
	expect_fail(OCI("create", "--bundle", b, "x"), "cannot allocate tty");
	expect_fail(OCI("create", "--bundle", b, "a/b"), "invalid container id 'a/b'");
	expect_fail(OCI("spec", "--bundle", b), "exists");
	expect_fail(OCI("state", "nope"), "container nope does not exist");
	expect_fail(OCI("start", "nope"), "container nope does not exist");
	expect_fail(OCI("kill", "nope", "KILL"), "container nope does not exist");
	expect_fail(OCI("kill", "nope", "SIGNOPE"), "invalid signal 'SIGNOPE'");
	expect_fail(OCI("delete", "nope"), "container nope does not exist");
	expect_fail(OCI("list", "--format", "yaml"), "--format");
	struct cmd_result r;
	expect_ok(OCI("delete", "--force", "nope"), &r); /* runc: -f of a missing one is fine */
	h_free(&r);
	expect_ok(OCI("features"), &r);
	ck_assert_ptr_nonnull(strstr(r.out, "\"ociVersionMax\""));
	h_free(&r);
	/* containerd/podman read the last error from --log in JSON. */
	snprintf(log, sizeof(log), "%s/log.json", work);
	h_run((char *const[]){h_path("sandbox"), "--root", root, "--log", log, "--log-format",
			      "json", "start", "nope", NULL},
	      &r);
	ck_assert_int_ne(r.status, 0);
	h_free(&r);
	ck_assert_ptr_nonnull(
	    strstr(h_slurp(log), "{\"level\":\"error\",\"msg\":\"container nope does not exist\""));
	assert_nothing_left();
}
END_TEST

/* `create` with stdout/stderr to files (the monitor keeps them); returns its status. */
static int create_to_files(const char *bundle, const char *id, const char *pidfile, const char *out,
			   const char *err)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(h_path("sandbox"), OCI("create", "--bundle", (char *)bundle, "--pid-file",
					     (char *)pidfile, (char *)id));
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits (as subreaper) for the monitor to exit; its status, or -1 after timeout_s. */
static int wait_monitor(pid_t pid, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(100000);
	}
	return -1;
}

/* Alive and not a zombie (a killed monitor not yet reaped by whoever inherited it). */
static bool running(pid_t pid)
{
	char p[64], state = 0;
	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	bool ok = f && fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && state != 'Z';
	if (f)
		fclose(f);
	return ok;
}

static bool wait_for_text(const char *path, const char *text, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		if (strstr(h_slurp(path), text))
			return true;
		usleep(100000);
	}
	return false;
}

START_TEST(test_lifecycle)
{
	/* containerd's shim and conmon are subreapers: the pid-file process becomes our child. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *b = make_bundle("life",
			      "[\"sh\", \"-c\", \"trap 'echo got-usr1' USR1; trap 'exit 42' TERM; "
			      "echo out-line; echo err-line >&2; while :; do sleep 1; done\"]",
			      false, busybox_rootfs());
	char pidfile[600], out[600], err[600];
	snprintf(pidfile, sizeof(pidfile), "%s/pid", work);
	snprintf(out, sizeof(out), "%s/out", work);
	snprintf(err, sizeof(err), "%s/err", work);
	char cgp[200];
	host_cg_names();
	snprintf(cgp, sizeof(cgp), "\"cgroupsPath\": \"/%s\",", host_cg);
	add_linux(b, cgp);
	int st = create_to_files(b, "c1", pidfile, out, err);
	ck_assert_msg(st == 0, "create: %d: %s", st, h_slurp(err));
	pid_t pid = atoi(h_slurp(pidfile));
	ck_assert_int_gt(pid, 1);
	expect_status("c1", "created");
	struct cmd_result r;
	expect_ok(OCI("state", "c1"), &r);
	char want[64];
	snprintf(want, sizeof(want), "\"pid\": %d", (int)pid);
	ck_assert_msg(strstr(r.out, want), "state: %s", r.out);
	h_free(&r);
	expect_ok(OCI("list", "-q"), &r);
	ck_assert_str_eq(r.out, "c1\n");
	h_free(&r);
	char out2[600], err2[600]; /* not out/err: the monitor is still writing those */
	snprintf(out2, sizeof(out2), "%s/out2", work);
	snprintf(err2, sizeof(err2), "%s/err2", work);
	ck_assert_int_eq(create_to_files(b, "c1", pidfile, out2, err2), 125);
	ck_assert_msg(strstr(h_slurp(err2), "container with id exists: c1"), "%s", h_slurp(err2));
	ck_assert_int_eq(atoi(h_slurp(pidfile)), pid);
	expect_ok(OCI("start", "c1"), &r);
	h_free(&r);
	expect_status("c1", "running");
	expect_fail(OCI("start", "c1"), "cannot start an already running container");
	expect_ok(OCI("pause", "c1"), &r);
	h_free(&r);
	expect_status("c1", "paused");
	expect_fail(OCI("pause", "c1"), "container not running");
	expect_ok(OCI("resume", "c1"), &r);
	h_free(&r);
	expect_status("c1", "running");
	expect_fail(OCI("resume", "c1"), "container not paused");
	/* exec: a second process in the same VM and namespaces, with its own options. */
	h_run(OCI("exec", "-e", "FOO=bar", "--cwd", "/tmp", "-u", "65534:65534", "c1", "sh", "-c",
		  "echo $FOO $(pwd) $(id -u); exit 5"),
	      &r);
	if (r.status != 5)
		h_show("exec", &r);
	ck_assert_int_eq(r.status, 5);
	ck_assert_str_eq(r.out, "bar /tmp 65534\n");
	h_free(&r);
	expect_ok(OCI("ps", "c1"), &r); /* sees the first process: same pid namespace */
	ck_assert_msg(strstr(r.out, "while :; do sleep 1; done"), "ps: %s", r.out);
	h_free(&r);
	expect_ok(OCI("ps", "--format", "json", "c1"), &r);
	ck_assert_msg(!strncmp(r.out, "[1,2,", 5), "ps json: %s", r.out);
	h_free(&r);
	/* The exec'd process is in the container's guest cgroup, as the first process is. */
	expect_ok(OCI("exec", "c1", "cat", "/proc/self/cgroup"), &r);
	ck_assert_str_eq(r.out, "0::/container\n");
	h_free(&r);
	/* linux.cgroupsPath is a host cgroup holding the pid-file process, sized to the VM. */
	if (access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0) {
		char procs[64];
		snprintf(procs, sizeof(procs), "%d\n", (int)pid);
		ck_assert_msg(strstr(h_slurp(host_cg_file("cgroup.procs")), procs),
			      "monitor %d not in %s: %s", (int)pid, host_cg_mem,
			      h_slurp(host_cg_file("cgroup.procs")));
		ck_assert_int_eq(atoll(h_slurp(host_cg_file("memory.limit_in_bytes"))),
				 (256LL + 128) << 20);
		/* The jail's VMM group is nested in it (v1), so its counters include the VMM. */
		long long usage = atoll(h_slurp(host_cg_file("memory.usage_in_bytes")));
		fprintf(stderr, "cgroupsPath memory.usage_in_bytes: %lld MiB\n", usage >> 20);
		/* Guest RAM the VMM wrote (pages it only read may be charged to the template's
		 * first reader) and its own: tens of MiB; the monitor alone has a few. */
		ck_assert_msg(usage > (16LL << 20), "cgroupsPath memory usage %lld B: no VMM in it",
			      usage);
		if (!getenv("SANDBOX_NO_JAIL"))
			ck_assert_msg(count_vmm_groups(host_cg_mem) == 1,
				      "no vmm-* group nested in %s", host_cg_mem);
	}
	/* A connection without the container's exec secret is refused. */
	char secret[600], saved[700], cmd[1500];
	snprintf(secret, sizeof(secret), "%s/c1/exec.secret", root);
	snprintf(saved, sizeof(saved), "%s/secret.saved", work);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && head -c 32 /dev/zero >'%s'", secret, saved,
		 secret);
	ck_assert_int_eq(system(cmd), 0);
	expect_fail(OCI("exec", "c1", "true"), "did not present the container's exec secret");
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", saved, secret);
	ck_assert_int_eq(system(cmd), 0);
	expect_fail(OCI("exec", "c1"), "no command given");
	/* exec --process: the process from a file, and that file's errors named after it. */
	char proc_ok[600], proc_bad[600];
	snprintf(proc_ok, sizeof(proc_ok), "%s/process-ok.json", work);
	snprintf(proc_bad, sizeof(proc_bad), "%s/process-bad.json", work);
	write_file(proc_ok, "{\"args\":[\"sh\",\"-c\",\"echo from-process-json $FOO\"],"
			    "\"env\":[\"FOO=pj\"],\"cwd\":\"/\"}");
	write_file(proc_bad, "{\"args\":[\"true\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":"
			     "\"RLIMIT_NOFILE\",\"soft\":9,\"hard\":8}]}");
	expect_ok(OCI("exec", "--process", proc_ok, "c1"), &r);
	ck_assert_str_eq(r.out, "from-process-json pj\n");
	h_free(&r);
	expect_fail(OCI("exec", "--process", proc_bad, "c1"),
		    "process.json: process.rlimits[0]: soft limit above hard limit");
	expect_fail(OCI("delete", "c1"), "cannot delete container c1 that is not stopped: running");
	/* The traps are set once out-line shows (the guest's shell starts slowly when emulated). */
	ck_assert_msg(wait_for_text(out, "out-line\n", 120), "no out-line in '%s'", h_slurp(out));
	expect_ok(OCI("kill", "c1", "SIGUSR1"), &r);
	h_free(&r);
	if (!wait_for_text(out, "got-usr1", 120))
		fprintf(stderr, "container stderr: %s\n", h_slurp(err));
	ck_assert_msg(wait_for_text(out, "got-usr1", 1), "no got-usr1 in '%s'", h_slurp(out));
	expect_ok(OCI("kill", "c1", "15"), &r);
	h_free(&r);
	ck_assert_int_eq(wait_monitor(pid, 120), 42);
	expect_status("c1", "stopped");
	expect_fail(OCI("kill", "c1", "KILL"), "container not running");
	expect_fail(OCI("start", "c1"), "cannot start a container that has stopped");
	ck_assert_ptr_nonnull(strstr(h_slurp(out), "out-line\n"));
	ck_assert_ptr_nonnull(strstr(h_slurp(err), "err-line\n"));
	expect_ok(OCI("delete", "c1"), &r);
	h_free(&r);
	expect_fail(OCI("state", "c1"), "container c1 does not exist");
	assert_nothing_left();
	ck_assert_msg(access(host_cg_mem, F_OK) < 0, "%s left behind", host_cg_mem);
	char pids_cg[300];
	snprintf(pids_cg, sizeof(pids_cg), "/sys/fs/cgroup/pids/%s", host_cg);
	ck_assert_msg(access(pids_cg, F_OK) < 0, "%s left behind", pids_cg);
}
END_TEST

/*
 * memory.limit below what a child of the container's shell needs: the guest's OOM killer ends
 * the child while the shell lives on, and `events` prints the oom line while the container
 * runs (the agent reports each rise of the count, docs/oci.md). Then, on SIGUSR1, the shell
 * becomes the hog itself: killed too (137, as runc's container would), a second oom line.
 * The VM keeps the default size (annotation), so the template is shared with the other cases.
 */
START_TEST(test_oom_event)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	char *b =
	    make_bundle("oom",
			"[\"sh\", \"-c\", \"trap 'go=1' USR1; dd if=/dev/zero of=/dev/null "
			"bs=64M count=1; echo survived; while [ -z \\\"$go\\\" ]; do sleep 1; "
			"done; exec dd if=/dev/zero of=/dev/null bs=64M count=1\"]",
			false, busybox_rootfs());
	char path[600], *spec;
	static char buf[16384];
	snprintf(path, sizeof(path), "%s/config.json", b);
	snprintf(buf, sizeof(buf), "%s", h_slurp(path));
	spec = buf;
	replace(spec, sizeof(buf), "\"resources\": {",
		"\"resources\": {\"memory\": {\"limit\": 16777216}, ");
	replace(spec, sizeof(buf), "\"ociVersion\"",
		"\"annotations\": {\"io.sandbox.memory\": \"256\"}, \"ociVersion\"");
	write_file(path, spec);
	char pidfile[600], out[600], err[600], ev[600];
	snprintf(pidfile, sizeof(pidfile), "%s/pid6", work);
	snprintf(out, sizeof(out), "%s/out6", work);
	snprintf(err, sizeof(err), "%s/err6", work);
	snprintf(ev, sizeof(ev), "%s/events6", work);
	int st = create_to_files(b, "c6", pidfile, out, err);
	ck_assert_msg(st == 0, "create: %d: %s", st, h_slurp(err));
	pid_t pid = atoi(h_slurp(pidfile));
	struct cmd_result r;
	expect_ok(OCI("start", "c6"), &r);
	h_free(&r);
	/* Right away: `events` reports the kills after its first look (the hog needs ~1 min). */
	pid_t events = fork();
	ck_assert_int_ge(events, 0);
	if (events == 0) {
		int fd = open(ev, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		execv(h_path("sandbox"), OCI("events", "--interval", "1s", "c6"));
		_exit(127);
	}
	const char *oom = "{\"type\":\"oom\",\"id\":\"c6\"}";
	ck_assert_msg(wait_for_text(ev, oom, 300), "no oom line while running: %s / %s",
		      h_slurp(ev), h_slurp(err));
	ck_assert_msg(wait_for_text(out, "survived", 120), "shell gone: '%s'", h_slurp(out));
	expect_status("c6", "running");
	expect_ok(OCI("kill", "c6", "SIGUSR1"), &r);
	h_free(&r);
	ck_assert_int_eq(wait_monitor(pid, 300), 137);
	int est;
	ck_assert_int_eq(waitpid(events, &est, 0), events);
	const char *second = strstr(h_slurp(ev), oom);
	ck_assert_msg(second && strstr(second + 1, oom), "one oom line for two kills: %s",
		      h_slurp(ev));
	expect_ok(OCI("delete", "c6"), &r);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_run_attached_exit_code)
{
	char *b = make_bundle(
	    "run",
	    "[\"sh\", \"-c\", \"echo hi-$(hostname)-$(cat /proc/sys/kernel/domainname); exit 3\"]",
	    false, busybox_rootfs());
	char path[600];
	static char spec[16384];
	snprintf(path, sizeof(path), "%s/config.json", b);
	snprintf(spec, sizeof(spec), "%s", h_slurp(path));
	replace(spec, sizeof(spec), "\"hostname\": \"sandbox\",",
		"\"hostname\": \"sandbox\", \"domainname\": \"example.test\",");
	write_file(path, spec);
	struct cmd_result r;
	h_run(OCI("run", "--bundle", b, "c2"), &r);
	h_show("run", &r);
	ck_assert_int_eq(r.status, 3);
	/* hostname and domainname from the spec */
	ck_assert_str_eq(r.out, "hi-sandbox-example.test\n");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* Puts `hooks` (a JSON object) into dir's config.json and binds host directory tmp (made
 * 0777) over the container's /tmp: root.readonly is true, and the hooks' files land there. */
static void add_hooks(const char *dir, const char *hooks, const char *tmp)
{
	char path[600], with[4096];
	static char buf[16384];
	ck_assert_int_eq(mkdir(tmp, 0777), 0);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	snprintf(buf, sizeof(buf), "%s", h_slurp(path));
	snprintf(with, sizeof(with), "\"hostname\": \"sandbox\", \"hooks\": %s,", hooks);
	replace(buf, sizeof(buf), "\"hostname\": \"sandbox\",", with);
	snprintf(with, sizeof(with),
		 "\"mounts\": [{\"destination\": \"/tmp\", \"type\": \"bind\", \"source\": "
		 "\"%s\", \"options\": [\"rbind\", \"rw\"]},",
		 tmp);
	replace(buf, sizeof(buf), "\"mounts\": [", with);
	write_file(path, buf);
}

#define CAPS_OF_SELF                                                                               \
	"while read k v; do case $k in CapEff:) echo $v;; esac; done </proc/self/status"
#define HOOK_ENV "\"env\": [\"PATH=/bin:/usr/bin\"]"

/*
 * createContainer and startContainer hooks run in the guest, in the container's namespaces and
 * root, each with the state JSON on stdin (status creating, then created) and its output on the
 * container's stderr. The startContainer hook runs with the workload's capabilities (after its
 * security settings), the createContainer hook with the init's (all).
 */
START_TEST(test_guest_hooks)
{
	char *b = make_bundle(
	    "hooks",
	    "[\"sh\", \"-c\", \"echo workload; readlink /proc/self/ns/pid; " CAPS_OF_SELF "\"]",
	    false, busybox_rootfs());
	char tmp[600], file[700];
	snprintf(tmp, sizeof(tmp), "%s/hooks-tmp", work);
	add_hooks(
	    b,
	    "{\"createContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", "
	    "\"cat >/tmp/created.json; hostname >/tmp/create.host; readlink /proc/self/ns/pid "
	    ">/tmp/create.pidns; " CAPS_OF_SELF
	    " >/tmp/create.caps; echo create-hook-out\"], " HOOK_ENV
	    "}], \"startContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", "
	    "\"cat >/tmp/started.json; readlink /proc/self/ns/pid >/tmp/start.pidns; " CAPS_OF_SELF
	    " >/tmp/start.caps; echo start-hook-out\"], \"timeout\": 120, " HOOK_ENV "}]}",
	    tmp);
	struct cmd_result r;
	h_run(OCI("run", "--bundle", b, "c7"), &r);
	h_show("run", &r);
	ck_assert_int_eq(r.status, 0);
	/* The hooks' stdout went to the container's stderr, not into its stdout. */
	ck_assert_msg(strstr(r.err, "create-hook-out\n") && strstr(r.err, "start-hook-out\n"),
		      "stderr: %s", r.err);
	char pidns[64], caps[64];
	ck_assert_int_eq(sscanf(r.out, "workload\n%63s\n%63s\n", pidns, caps), 2);
	char want[700];
	snprintf(file, sizeof(file), "%s/created.json", tmp);
	ck_assert_msg(strstr(h_slurp(file), "\"id\": \"c7\""), "created.json: %s", h_slurp(file));
	ck_assert_msg(strstr(h_slurp(file), "\"status\": \"creating\""), "%s", h_slurp(file));
	snprintf(want, sizeof(want), "\"bundle\": \"%s\"", b);
	ck_assert_msg(strstr(h_slurp(file), want), "created.json: %s", h_slurp(file));
	snprintf(file, sizeof(file), "%s/started.json", tmp);
	ck_assert_msg(strstr(h_slurp(file), "\"id\": \"c7\""), "started.json: %s", h_slurp(file));
	ck_assert_msg(strstr(h_slurp(file), "\"status\": \"created\""), "%s", h_slurp(file));
	snprintf(file, sizeof(file), "%s/create.host", tmp);
	ck_assert_str_eq(h_slurp(file), "sandbox\n"); /* the container's UTS namespace */
	snprintf(want, sizeof(want), "%s\n", pidns);
	snprintf(file, sizeof(file), "%s/create.pidns", tmp);
	ck_assert_str_eq(h_slurp(file), want);
	snprintf(file, sizeof(file), "%s/start.pidns", tmp);
	ck_assert_str_eq(h_slurp(file), want);
	snprintf(want, sizeof(want), "%s\n", caps);
	snprintf(file, sizeof(file), "%s/start.caps", tmp);
	ck_assert_str_eq(h_slurp(file), want);
	snprintf(file, sizeof(file), "%s/create.caps", tmp);
	ck_assert_msg(strcmp(h_slurp(file), want) != 0, "create hook caps %s", h_slurp(file));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* A createContainer hook that exits 3 fails `create`: one line naming it, 125, nothing left. */
START_TEST(test_guest_hook_fails_create)
{
	struct h_counts before, after;
	h_counts_take(&before);
	char *b = make_bundle("hookfail", "[\"true\"]", false, busybox_rootfs());
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s/hookfail-tmp", work);
	add_hooks(b,
		  "{\"createContainer\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", "
		  "\"exit 3\"]}]}",
		  tmp);
	expect_fail(OCI("create", "--bundle", b, "c8"),
		    "createContainer hook '/bin/sh' exited with status 3");
	struct cmd_result r;
	expect_ok(OCI("list", "-q"), &r);
	ck_assert_str_eq(r.out, "");
	h_free(&r);
	assert_nothing_left();
	h_wait_vmms_gone(root, 10);
	h_counts_take(&after);
	h_counts_assert_same(&before, &after, 512);
}
END_TEST

START_TEST(test_delete_force_running_and_created)
{
	char *b = make_bundle("force", "[\"sleep\", \"1000\"]", false, busybox_rootfs());
	char pidfile[600], out[600], err[600];
	snprintf(pidfile, sizeof(pidfile), "%s/pid3", work);
	snprintf(out, sizeof(out), "%s/out3", work);
	snprintf(err, sizeof(err), "%s/err3", work);
	ck_assert_int_eq(create_to_files(b, "c3", pidfile, out, err), 0);
	pid_t pid = atoi(h_slurp(pidfile));
	struct cmd_result r;
	expect_ok(OCI("start", "c3"), &r);
	h_free(&r);
	expect_ok(OCI("delete", "--force", "c3"), &r);
	h_free(&r);
	ck_assert(!running(pid));
	assert_nothing_left();
	/* A created container may be deleted without --force (runc does the same). */
	ck_assert_int_eq(create_to_files(b, "c4", pidfile, out, err), 0);
	pid = atoi(h_slurp(pidfile));
	expect_ok(OCI("list", "--format", "json"), &r);
	ck_assert_msg(strstr(r.out, "\"id\": \"c4\"") && strstr(r.out, "\"status\": \"created\""),
		      "%s", r.out);
	h_free(&r);
	expect_ok(OCI("delete", "c4"), &r);
	h_free(&r);
	ck_assert(!running(pid));
	assert_nothing_left();
}
END_TEST

/* --console-socket: the pty master arrives over the socket (SCM_RIGHTS) and is the terminal. */
START_TEST(test_console_socket)
{
	char sock[600], pidfile[600], out[600], err[600];
	snprintf(sock, sizeof(sock), "%s/console.sock", work);
	snprintf(pidfile, sizeof(pidfile), "%s/pid5", work);
	snprintf(out, sizeof(out), "%s/out5", work);
	snprintf(err, sizeof(err), "%s/err5", work);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	char *b = make_bundle("console", "[\"sh\", \"-c\", \"tty; stty size; echo tty-ok\"]", true,
			      busybox_rootfs());
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(e, 2);
		execv(h_path("sandbox"), OCI("create", "--bundle", b, "--console-socket", sock,
					     "--pid-file", pidfile, "c5"));
		_exit(127);
	}
	struct pollfd p = {.fd = l, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 300000), 1);
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	char name[128] = "", cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ck_assert_int_gt(recvmsg(c, &msg, 0), 0);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ck_assert(cm && cm->cmsg_type == SCM_RIGHTS);
	int master;
	memcpy(&master, CMSG_DATA(cm), sizeof(int));
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "create: %s", h_slurp(err));
	struct cmd_result r;
	expect_ok(OCI("start", "c5"), &r);
	h_free(&r);
	char buf[4096] = "";
	size_t n = 0;
	for (int i = 0; i < 1200 && !strstr(buf, "tty-ok"); i++) {
		struct pollfd mp = {.fd = master, .events = POLLIN};
		if (poll(&mp, 1, 100) == 1) {
			ssize_t k = read(master, buf + n, sizeof(buf) - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
			buf[n] = '\0';
		}
	}
	ck_assert_msg(strstr(buf, "/dev/pts/") && strstr(buf, "24 80") && strstr(buf, "tty-ok"),
		      "console: '%s'", buf);
	close(master);
	close(c);
	close(l);
	for (int i = 0; i < 600; i++) {
		struct cmd_result q;
		h_run(OCI("state", "c5"), &q);
		bool stopped = strstr(q.out, "\"stopped\"") != NULL;
		h_free(&q);
		if (stopped)
			break;
		usleep(100000);
	}
	expect_ok(OCI("delete", "c5"), &r);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

int main(void)
{
	h_require_kvm();
	if (!mkdtemp(root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	rmdir(root); /* created by the first create: checks that this works too */
	h_template_dir_init();
	Suite *s = suite_create("oci");
	TCase *quick = tcase_create("errors");
	tcase_add_test(quick, test_errors_leave_nothing);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 900);
	tcase_add_test(vm, test_lifecycle);
	tcase_add_test(vm, test_run_attached_exit_code);
	tcase_add_test(vm, test_delete_force_running_and_created);
	tcase_add_test(vm, test_console_socket);
	tcase_add_test(vm, test_oom_event);
	tcase_add_test(vm, test_guest_hooks);
	tcase_add_test(vm, test_guest_hook_fails_create);
	suite_add_tcase(s, vm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* After a failure, containers may remain: stop them. */
	const char *ids[] = {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "'%s' --root '%s' delete --force %s >/dev/null 2>&1",
			 h_path("sandbox"), root, ids[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", ids[i]);
	}
	rmdir(root);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", work);
	h_template_dir_done();
	return failed ? 1 : 0;
}
