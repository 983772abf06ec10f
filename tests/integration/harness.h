/*
 * Helpers for integration tests that drive the real `sandbox` binary (real KVM, real guest).
 * Header-only so each test program stays one file.
 */
#ifndef SANDBOX_TEST_HARNESS_H
#define SANDBOX_TEST_HARNESS_H

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cmd_result {
	char *out; /* NUL-terminated, malloc'd */
	size_t out_len;
	char *err;
	size_t err_len;
	int status; /* exit code, or 128+N when killed by signal N */
};

static const char *h_build(void)
{
	const char *b = getenv("SANDBOX_BUILD");
	return b && b[0] ? b : "build";
}

static char *h_path(const char *name)
{
	static char bufs[64][4096];
	static int i;
	char *b = bufs[i++ % 64];
	snprintf(b, 4096, "%s/%s", h_build(), name);
	return b;
}

/*
 * The suite runs twice (Makefile, check-integration): restoring VM templates (the default) and
 * cold-booting (SANDBOX_TEST_NO_TEMPLATE=1). h_mode() is the flag for `sandbox run`: H_NOARG
 * (dropped by h_argv) or "--no-template".
 */
static char H_NOARG[] = "";

__attribute__((unused)) static bool h_cold(void)
{
	const char *e = getenv("SANDBOX_TEST_NO_TEMPLATE");
	return e && !strcmp(e, "1");
}

__attribute__((unused)) static char *h_mode(void)
{
	return h_cold() ? "--no-template" : H_NOARG;
}

/* A copy of argv without the H_NOARG entries (static storage, valid until the next call). */
__attribute__((unused)) static char *const *h_argv(char *const *argv)
{
	static char *out[256];
	size_t n = 0;
	for (; *argv && n < 255; argv++)
		if (*argv != H_NOARG)
			out[n++] = *argv;
	out[n] = NULL;
	return out;
}

/*
 * Templates go to $SANDBOX_TEMPLATE_DIR when the caller set one (the Makefile shares one
 * between the test programs, so the template is built once); otherwise to a temp dir that
 * h_template_dir_done() removes.
 */
static char h_tmpl_dir[64];

__attribute__((unused)) static void h_template_dir_init(void)
{
	const char *e = getenv("SANDBOX_TEMPLATE_DIR");
	if (e && e[0])
		return;
	snprintf(h_tmpl_dir, sizeof(h_tmpl_dir), "/tmp/sandbox-test-tmpl.XXXXXX");
	if (!mkdtemp(h_tmpl_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("SANDBOX_TEMPLATE_DIR", h_tmpl_dir, 1);
}

__attribute__((unused)) static void h_template_dir_done(void)
{
	char cmd[128];
	if (!h_tmpl_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h_tmpl_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h_tmpl_dir);
}

/* Fails loudly in CI (CI=true) when /dev/kvm is missing; elsewhere exits 77 (skipped). */
__attribute__((unused)) static void h_require_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && !strcmp(ci, "true")) {
		fprintf(stderr, "FATAL: /dev/kvm is not usable in CI: %s\n", strerror(errno));
		exit(1);
	}
	fprintf(stderr, "SKIP: /dev/kvm not usable (%s)\n", strerror(errno));
	exit(77);
}

static void h_append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	ck_assert_ptr_nonnull(*buf);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/*
 * Runs argv with stdin fed from in (NULL: /dev/null), collecting stdout and stderr. When
 * kill_after_marker is set, sends kill_sig to the child once that text appears on its stdout.
 */
static void h_run_full(char *const argv[], const char *in, size_t in_len,
		       const char *kill_after_marker, int kill_sig, struct cmd_result *r)
{
	int ip[2], op[2], ep[2];
	ck_assert_int_eq(pipe(ip), 0);
	ck_assert_int_eq(pipe(op), 0);
	ck_assert_int_eq(pipe(ep), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(ip[0], 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		for (int fd = 3; fd < 64; fd++)
			close(fd);
		execv(argv[0], argv);
		_exit(126);
	}
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	memset(r, 0, sizeof(*r));
	h_append(&r->out, &r->out_len, "", 0);
	h_append(&r->err, &r->err_len, "", 0);
	size_t in_off = 0;
	if (!in)
		close(ip[1]), ip[1] = -1;
	else
		fcntl(ip[1], F_SETFL, O_NONBLOCK);
	bool killed = false, out_open = true, err_open = true;
	while (out_open || err_open) {
		struct pollfd p[3] = {{.fd = out_open ? op[0] : -1, .events = POLLIN},
				      {.fd = err_open ? ep[0] : -1, .events = POLLIN},
				      {.fd = ip[1], .events = POLLOUT}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		char buf[65536];
		if (p[0].revents) {
			ssize_t n = read(op[0], buf, sizeof(buf));
			if (n <= 0)
				out_open = false;
			else
				h_append(&r->out, &r->out_len, buf, (size_t)n);
		}
		if (p[1].revents) {
			ssize_t n = read(ep[0], buf, sizeof(buf));
			if (n <= 0)
				err_open = false;
			else
				h_append(&r->err, &r->err_len, buf, (size_t)n);
		}
		if (ip[1] >= 0 && p[2].revents) {
			ssize_t n =
			    in_off < in_len ? write(ip[1], in + in_off, in_len - in_off) : 0;
			if (n > 0)
				in_off += (size_t)n;
			if (n < 0 || in_off >= in_len)
				close(ip[1]), ip[1] = -1;
		}
		if (kill_after_marker && !killed && strstr(r->out, kill_after_marker)) {
			kill(pid, kill_sig);
			killed = true;
		}
	}
	if (ip[1] >= 0)
		close(ip[1]);
	close(op[0]);
	close(ep[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void h_run(char *const argv[], struct cmd_result *r)
{
	h_run_full(argv, NULL, 0, NULL, 0, r);
}

static void h_free(struct cmd_result *r)
{
	free(r->out);
	free(r->err);
}

/* A process's command line, arguments joined by spaces, in buf ("" when it is gone). */
static void h_cmdline(const char *pid, char *buf, size_t cap)
{
	char p[300];
	snprintf(p, sizeof(p), "/proc/%s/cmdline", pid);
	FILE *f = fopen(p, "r");
	size_t len = f ? fread(buf, 1, cap - 1, f) : 0;
	if (f)
		fclose(f);
	for (size_t i = 0; i < len; i++)
		buf[i] = buf[i] ? buf[i] : ' ';
	buf[len] = '\0';
}

/*
 * Live processes (zombies excluded) whose comm is comm_want (or, with prefix, starts with it)
 * and, when text is set, whose command line mentions text; *first (if set): the first one's pid.
 */
static int h_scan_procs(const char *comm_want, bool prefix, const char *text, pid_t *first)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[300], comm[64] = "", state = 0, args[8192];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(p, "r");
		bool match = f && fscanf(f, "%*d (%63[^)]) %c", comm, &state) == 2 &&
			     state != 'Z' &&
			     (prefix ? !strncmp(comm, comm_want, strlen(comm_want))
				     : !strcmp(comm, comm_want));
		if (f)
			fclose(f);
		if (match && text) {
			h_cmdline(e->d_name, args, sizeof(args));
			match = strstr(args, text) != NULL;
		}
		if (match && first && n == 0)
			*first = atoi(e->d_name);
		n += match;
	}
	if (d)
		closedir(d);
	return n;
}

/* Number of live processes whose comm is name (zombies excluded). */
__attribute__((unused)) static int h_count_procs(const char *name)
{
	return h_scan_procs(name, false, NULL, NULL);
}

/* Live processes named comm whose command line mentions text. */
__attribute__((unused)) static int h_count_procs_mentioning(const char *comm_want, const char *text)
{
	return h_scan_procs(comm_want, false, text, NULL);
}

/*
 * Live sandbox-vmm processes whose command line mentions path (our run root or template dir):
 * on a shared machine other people's VMMs are not ours to count. `sandbox` passes the VMM
 * `--id <host run dir>`, so a jailed VMM (whose other arguments are jail paths) is found too;
 * the test-hooks VMM's comm is truncated to 15 characters when it is not jailed.
 */
__attribute__((unused)) static int h_count_vmms_using(const char *path)
{
	return h_scan_procs("sandbox-vmm", true, path, NULL);
}

/* Entries in a directory (0 when it does not exist). */
__attribute__((unused)) static int h_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

/*
 * Leak accounting for fault and stress tests: what a run may leave behind, counted so that
 * other people's sandboxes on the same machine do not disturb it. "Ours" is: processes that
 * descend from this test or whose command line mentions one of our roots (daemonised OCI
 * monitors, VMMs by their --id), the fds of those and of this process, mounts under our
 * roots, entries in our roots, taps and network leases of the run ids seen under our roots
 * (h_note_run_ids), jail cgroups in the uid range h_jail_uid_range() set, and the memory our
 * processes and the files under our roots hold. Host MemAvailable is printed, not compared:
 * other VMs come and go.
 */
struct h_counts {
	int procs, fds, mounts, entries, taps, leases, cgroups;
	long ours_kib;	    /* RSS of our processes + file bytes under our roots */
	long mem_avail_kib; /* host-wide, informative */
};

#define H_MAX_ROOTS 4
#define H_MAX_IDS 4096
__attribute__((unused)) static const char *h_roots[H_MAX_ROOTS + 1];
__attribute__((unused)) static char h_ids[H_MAX_IDS][16];
__attribute__((unused)) static int h_nids;
__attribute__((unused)) static unsigned long h_uid_base;

/* The roots (run root, OCI root, template dir...) whose users count as ours; NULL-ended. */
__attribute__((unused)) static void h_set_roots(const char *const *roots)
{
	int n = 0;
	for (; roots[n] && n < H_MAX_ROOTS; n++)
		h_roots[n] = roots[n];
	h_roots[n] = NULL;
}

/* Our jailed VMMs get uids (and cgroups vmm-<uid>) from a range nobody else uses. */
__attribute__((unused)) static void h_jail_uid_range(void)
{
	char v[32];
	h_uid_base = 3000000ul + (unsigned long)(getpid() % 1000) * 65536ul;
	snprintf(v, sizeof(v), "%lu", h_uid_base);
	setenv("SANDBOX_JAIL_UID_BASE", v, 1);
}

__attribute__((unused)) static bool h_mentions_root(const char *text)
{
	for (int i = 0; h_roots[i]; i++)
		if (h_roots[i][0] && strstr(text, h_roots[i]))
			return true;
	return false;
}

/* Records the names of the (run) dirs now under root: their taps are sbx<id>. */
__attribute__((unused)) static void h_note_run_ids(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		bool known = e->d_name[0] == '.' || strlen(e->d_name) > 12;
		for (int i = 0; !known && i < h_nids; i++)
			known = !strcmp(h_ids[i], e->d_name);
		if (!known && h_nids < H_MAX_IDS)
			snprintf(h_ids[h_nids++], sizeof(h_ids[0]), "%s", e->d_name);
	}
	if (d)
		closedir(d);
}

/* Records one run id (e.g. a run's default hostname). */
__attribute__((unused)) static void h_note_run_id(const char *id)
{
	for (int i = 0; i < h_nids; i++)
		if (!strcmp(h_ids[i], id))
			return;
	if (h_nids < H_MAX_IDS && strlen(id) <= 12)
		snprintf(h_ids[h_nids++], sizeof(h_ids[0]), "%s", id);
}

__attribute__((unused)) static int h_count_fds(const char *pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%s/fd", pid);
	return h_count_entries(p);
}

__attribute__((unused)) static long h_status_kib(const char *pid, const char *field)
{
	char p[64], line[256];
	long v = 0;
	size_t fl = strlen(field);
	snprintf(p, sizeof(p), "/proc/%s/status", pid);
	FILE *f = fopen(p, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':')
			v = atol(line + fl + 1);
	if (f)
		fclose(f);
	return v;
}

/* Whether pid descends from us (walks ppid links; zombies count: they were not reaped). */
__attribute__((unused)) static bool h_descends_from_us(int pid)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		char p[64];
		int ppid = 0;
		snprintf(p, sizeof(p), "/proc/%d/stat", pid);
		FILE *f = fopen(p, "r");
		bool ok = f && fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) == 1;
		if (f)
			fclose(f);
		if (!ok)
			return false;
		if (ppid == getpid())
			return true;
		pid = ppid;
	}
	return false;
}

__attribute__((unused)) static void h_count_procs_ours(struct h_counts *c)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char args[8192];
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
			continue;
		h_cmdline(e->d_name, args, sizeof(args));
		if (!h_mentions_root(args) && !h_descends_from_us(atoi(e->d_name)))
			continue;
		if (getenv("H_COUNTS_VERBOSE"))
			fprintf(stderr, "  ours: pid %s: %.200s\n", e->d_name, args);
		c->procs++;
		c->fds += h_count_fds(e->d_name);
		c->ours_kib += h_status_kib(e->d_name, "VmRSS");
	}
	if (d)
		closedir(d);
}

__attribute__((unused)) static long h_du_kib(const char *dir)
{
	char cmd[600], out[64] = "";
	snprintf(cmd, sizeof(cmd), "du -sk '%s' 2>/dev/null", dir);
	FILE *f = popen(cmd, "r");
	if (f && !fgets(out, sizeof(out), f))
		out[0] = '\0';
	if (f)
		pclose(f);
	return atol(out);
}

__attribute__((unused)) static int h_count_cgroups_ours(void)
{
	static const char *const hier[] = {"/sys/fs/cgroup/memory/sandbox",
					   "/sys/fs/cgroup/pids/sandbox",
					   "/sys/fs/cgroup/cpu/sandbox", "/sys/fs/cgroup/sandbox"};
	int n = 0;
	for (size_t i = 0; h_uid_base && i < sizeof(hier) / sizeof(hier[0]); i++) {
		DIR *d = opendir(hier[i]);
		struct dirent *e;
		unsigned long uid;
		while (d && (e = readdir(d)))
			n += sscanf(e->d_name, "vmm-%lu", &uid) == 1 && uid >= h_uid_base &&
			     uid < h_uid_base + 65536;
		if (d)
			closedir(d);
	}
	return n;
}

__attribute__((unused)) static void h_counts_take(struct h_counts *c)
{
	memset(c, 0, sizeof(*c));
	h_count_procs_ours(c);
	c->fds += h_count_fds("self") - 1; /* minus the one reading the directory */
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && h_mentions_root(mnt))
			c->mounts++;
	}
	if (f)
		fclose(f);
	for (int i = 0; h_roots[i]; i++) {
		c->entries += h_count_entries(h_roots[i]);
		c->ours_kib += h_du_kib(h_roots[i]);
	}
	for (int i = 0; i < h_nids; i++) {
		char p[128];
		snprintf(p, sizeof(p), "/sys/class/net/sbx%s", h_ids[i]);
		c->taps += access(p, F_OK) == 0;
	}
	/* Leases are named by address and say "id <run id>" inside (shim/net_local.c). */
	DIR *ld = opendir("/run/sandbox-net");
	struct dirent *le;
	while (ld && (le = readdir(ld))) {
		char p[300], text[512] = "";
		if (strncmp(le->d_name, "lease-", 6))
			continue;
		snprintf(p, sizeof(p), "/run/sandbox-net/%s", le->d_name);
		FILE *lf = fopen(p, "r");
		size_t n = lf ? fread(text, 1, sizeof(text) - 1, lf) : 0;
		if (lf)
			fclose(lf);
		text[n] = '\0';
		for (int i = 0; i < h_nids; i++) {
			char want[32];
			snprintf(want, sizeof(want), "id %s\n", h_ids[i]);
			c->leases += strstr(text, want) != NULL;
		}
	}
	if (ld)
		closedir(ld);
	c->cgroups = h_count_cgroups_ours();
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "MemAvailable:", 13))
			c->mem_avail_kib = atol(line + 13);
	if (f)
		fclose(f);
}

__attribute__((unused)) static void h_counts_print(const char *label, const struct h_counts *c)
{
	fprintf(stderr,
		"[%s] processes %d, fds %d, mounts %d, root entries %d, taps %d, leases %d, "
		"cgroups %d, our memory %ld KiB (host MemAvailable %ld MiB)\n",
		label, c->procs, c->fds, c->mounts, c->entries, c->taps, c->leases, c->cgroups,
		c->ours_kib, c->mem_avail_kib / 1024);
}

/*
 * Every count back where it was. Our memory may differ by slack_kib (du rounding, the test's
 * own heap is not counted; a leaked run dir or process is megabytes).
 */
__attribute__((unused)) static void
h_counts_assert_same(const struct h_counts *before, const struct h_counts *after, long slack_kib)
{
	h_counts_print("before", before);
	h_counts_print("after", after);
	if (after->procs != before->procs) { /* name them */
		struct h_counts again;
		setenv("H_COUNTS_VERBOSE", "1", 1);
		h_counts_take(&again);
		unsetenv("H_COUNTS_VERBOSE");
	}
	ck_assert_int_eq(after->procs, before->procs);
	ck_assert_int_eq(after->fds, before->fds);
	ck_assert_int_eq(after->mounts, before->mounts);
	ck_assert_int_eq(after->entries, before->entries);
	ck_assert_int_eq(after->taps, before->taps);
	ck_assert_int_eq(after->leases, before->leases);
	ck_assert_int_eq(after->cgroups, before->cgroups);
	ck_assert_msg(labs(after->ours_kib - before->ours_kib) <= slack_kib,
		      "our memory went from %ld to %ld KiB", before->ours_kib, after->ours_kib);
}

/* ---- fault and stress tests: commands in the background, VMMs by their run root ---- */

/* A failed command's status, stdout and stderr (truncated) on stderr. */
__attribute__((unused)) static void h_show(const char *what, const struct cmd_result *r)
{
	fprintf(stderr, "[%s] status=%d\n--- stdout ---\n%.2000s\n--- stderr ---\n%.2000s\n", what,
		r->status, r->out, r->err);
}

/* A file's text (at most 64 KiB; "" when missing), in a buffer the next call reuses. */
__attribute__((unused)) static char *h_slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A command in the background, stdin /dev/null, its stdout and stderr in files under dir. */
struct h_bg {
	pid_t pid; /* -1 once reaped */
	char out[600], err[600];
};

__attribute__((unused)) static void h_bg_start(struct h_bg *b, const char *dir, const char *name,
					       char *const argv[])
{
	snprintf(b->out, sizeof(b->out), "%s/%s.out", dir, name);
	snprintf(b->err, sizeof(b->err), "%s/%s.err", dir, name);
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

/* Whether text appeared in its stdout within timeout_s (false at once if it exited without). */
__attribute__((unused)) static bool h_bg_wait_text(struct h_bg *b, const char *text, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10; i++) {
		if (strstr(h_slurp(b->out), text))
			return true;
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = -1;
			return strstr(h_slurp(b->out), text) != NULL;
		}
		usleep(100000);
	}
	return false;
}

/* Exit status (128+N for signal N), or -1 when it is still running after timeout_s. */
__attribute__((unused)) static int h_bg_wait(struct h_bg *b, int timeout_s)
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

/* The pid of a live sandbox-vmm whose command line (its --id) mentions root, or 0. */
__attribute__((unused)) static pid_t h_vmm_pid_using(const char *root)
{
	pid_t found = 0;
	h_scan_procs("sandbox-vmm", true, root, &found);
	return found;
}

/* Waits up to timeout_s for the VMMs using root to be gone (SIGKILL and reaping are async). */
__attribute__((unused)) static void h_wait_vmms_gone(const char *root, int timeout_s)
{
	for (int i = 0; i < timeout_s * 10 && h_count_vmms_using(root); i++)
		usleep(100000);
}

/* Whether pid is alive and not a zombie. */
__attribute__((unused)) static bool h_alive(pid_t pid)
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
 * The cpu cgroup directory of a process (cgroup v1 "cpu" hierarchy or the v2 tree), from
 * /proc/PID/cgroup; false when it has none.
 */
__attribute__((unused)) static bool h_cpu_cgroup_dir(pid_t pid, char *dir, size_t cap)
{
	char p[64], line[1024];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	FILE *f = fopen(p, "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!path)
			continue;
		*path++ = '\0';
		ctl++;
		if (!ctl[0] && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
			snprintf(dir, cap, "/sys/fs/cgroup%s", path); /* v2 */
			found = true;
		}
		for (char *t = strtok(ctl, ","); t && !found; t = strtok(NULL, ","))
			if (!strcmp(t, "cpu")) {
				snprintf(dir, cap, "/sys/fs/cgroup/cpu%s", path);
				found = true;
			}
	}
	if (f)
		fclose(f);
	return found;
}

/* A cgroup file's first number, or -2 when unreadable ("max" reads as -1). */
__attribute__((unused)) static long long h_cgroup_num(const char *dir, const char *file)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	char *t = h_slurp(p);
	if (!t[0])
		return -2;
	return strncmp(t, "max", 3) ? atoll(t) : -1;
}

/* The cpu quota and period (us) of pid's cgroup; quota -1: none, -2: unreadable. */
__attribute__((unused)) static void h_vmm_cpu_quota(pid_t pid, long long *quota, long long *period)
{
	char dir[4096];
	*quota = *period = -2;
	if (!h_cpu_cgroup_dir(pid, dir, sizeof(dir)))
		return;
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		char p[4200];
		snprintf(p, sizeof(p), "%s/cpu.max", dir);
		char *t = h_slurp(p);
		if (t[0]) {
			*quota = strncmp(t, "max", 3) ? atoll(t) : -1;
			*period = strchr(t, ' ') ? atoll(strchr(t, ' ') + 1) : -2;
		}
		return;
	}
	*quota = h_cgroup_num(dir, "cpu.cfs_quota_us");
	*period = h_cgroup_num(dir, "cpu.cfs_period_us");
}

/* HTTP GET with retries (the guest is slow): the body, or "" on failure. */
__attribute__((unused)) static char *h_http_get(const char *host, unsigned port, int timeout_s)
{
	static char body[4096];
	time_t end = time(NULL) + timeout_s;
	body[0] = '\0';
	while (time(NULL) < end) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		inet_pton(AF_INET, host, &sa.sin_addr);
		struct timeval tv = {.tv_sec = 60};
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			const char req[] = "GET / HTTP/1.0\r\n\r\n";
			size_t n = 0;
			if (write(s, req, sizeof(req) - 1) == sizeof(req) - 1) {
				ssize_t r;
				while (n < sizeof(body) - 1 &&
				       (r = read(s, body + n, sizeof(body) - 1 - n)) > 0)
					n += (size_t)r;
			}
			body[n] = '\0';
			close(s);
			if (strstr(body, "\r\n\r\n"))
				return strstr(body, "\r\n\r\n") + 4;
		} else {
			close(s);
		}
		sleep(2);
	}
	return body;
}

#endif
