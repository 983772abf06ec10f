/*
 * Every bad input to `sandbox`, command group by command group: exit 125 (docs/oci.md: the
 * sandbox's own failure code), exactly one line on stderr naming what was wrong, nothing on
 * stdout, and nothing left behind (state dirs, run dirs, templates, image store, processes,
 * mounts). No VM boots here: SANDBOX_VMM points nowhere, so an input that slipped past the
 * checks would fail late with the wrong message (and a template would appear) instead of
 * passing quietly. Containers in the created, running and stopped states are state
 * directories written by hand (a live `sleep` as the running one's monitor), enough for the
 * commands' state checks, which come before any contact with a monitor.
 */
#include <sys/wait.h>

#include "harness.h"

static char root[] = "/tmp/sandbox-test-cli.XXXXXX";
static char work[] = "/tmp/sandbox-test-cli-work.XXXXXX";
static char run_root[700], tpl_dir[700], img_root[700];

struct row {
	char *argv[16]; /* after the binary; NULL-ended */
	int status;
	const char *msg; /* the one stderr line contains it */
};

static char *wpath(const char *name)
{
	static char bufs[32][700];
	static int i;
	char *b = bufs[i++ % 32];
	snprintf(b, 700, "%s/%s", work, name);
	return b;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Runs one row; false (and what was wrong on stderr) unless the status, the single stderr
 * line and an empty stdout are as the row says.
 */
static bool check_row(const struct row *w)
{
	char *argv[20] = {h_path("sandbox")};
	size_t n = 1;
	for (; w->argv[n - 1]; n++)
		argv[n] = w->argv[n - 1];
	argv[n] = NULL;
	char what[1024] = "";
	for (size_t i = 1; i < n; i++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " %.60s", argv[i]);
	struct cmd_result r;
	h_run(argv, &r);
	const char *nl = strchr(r.err, '\n');
	/* `inspect` prints the array of what it found, "[]" for nothing, as docker's does. */
	bool out_ok = w->argv[0] && !strcmp(w->argv[0], "inspect");
	const char *bad = r.status != w->status		   ? "wrong status"
			  : !strstr(r.err, w->msg)	   ? "stderr lacks the message"
			  : !nl || nl[1]		   ? "stderr is not one line"
			  : strncmp(r.err, "sandbox: ", 9) ? "stderr does not start 'sandbox: '"
			  : !out_ok && r.out_len	   ? "stdout on error"
							   : NULL;
	if (bad)
		fprintf(stderr,
			"FAIL sandbox%s: %s (status %d, want %d; want '%s')\n  stderr: %s%s", what,
			bad, r.status, w->status, w->msg, r.err,
			r.err_len && r.err[r.err_len - 1] == '\n' ? "" : "\n");
	h_free(&r);
	return bad == NULL;
}

/* Every row is run (one report lists every wrong one), then the case fails if any was. */
static void check_rows(const struct row *rows, size_t n)
{
	size_t failed = 0;
	for (size_t i = 0; i < n; i++)
		failed += !check_row(&rows[i]);
	ck_assert_msg(failed == 0, "%zu of %zu rows failed (FAIL lines above)", failed, n);
}

/* Mount points whose path mentions ours (a bundle's or the state root's). */
static int count_our_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, root) || strstr(line, work);
	if (f)
		fclose(f);
	return n;
}

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_entries(root) == 0, "state left behind in %s", root);
	ck_assert_msg(h_count_entries(run_root) == 0, "run dir left behind in %s", run_root);
	ck_assert_msg(h_count_entries(tpl_dir) == 0, "a VM template was built in %s", tpl_dir);
	/* The store's empty layout may be made (as runc makes --root); nothing may go in it. */
	char blobs[800], tmp[800];
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", img_root);
	snprintf(tmp, sizeof(tmp), "%s/tmp", img_root);
	ck_assert_msg(h_count_entries(blobs) == 0 && h_count_entries(tmp) == 0,
		      "a blob or temp file was left in the image store %s", img_root);
	ck_assert_msg(access(wpath("images/index.json"), F_OK) != 0 &&
			  access(wpath("images/rootfs"), F_OK) != 0,
		      "an image was recorded in %s", img_root);
	ck_assert_msg(h_count_procs_mentioning("sandbox", root) == 0, "a monitor was left");
	ck_assert_msg(h_count_vmms_using(root) == 0, "a sandbox-vmm was left");
	ck_assert_msg(count_our_mounts() == 0, "a mount was left");
}

/* A state directory for id as a monitor writes it; pid 0: a monitor long gone. */
static void fake_container(const char *id, const char *status, pid_t pid)
{
	char dir[800], path[900], stat_path[64], buf[1024], json[2048];
	unsigned long long start = 1;
	if (pid > 0) {
		/* The start time the state file pins the monitor by (field 22 of stat). */
		snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)pid);
		char *s = h_slurp(stat_path);
		snprintf(buf, sizeof(buf), "%s", s);
		char *p = strrchr(buf, ')');
		ck_assert_ptr_nonnull(p);
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		ck_assert_ptr_nonnull(p);
		start = strtoull(p + 1, NULL, 10);
	}
	snprintf(dir, sizeof(dir), "%s/%s", root, id);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(json, sizeof(json),
		 "{\"ociVersion\":\"1.1.0\",\"id\":\"%s\",\"status\":\"%s\",\"pid\":%d,"
		 "\"bundle\":\"%s\",\"rootfs\":\"%s/rootfs\",\"created\":\"2026-01-01T00:00:00Z\","
		 "\"annotations\":{},\"pidStart\":%llu,\"exitCode\":0}",
		 id, status, pid > 0 ? (int)pid : 999999, wpath("ok"), wpath("ok"), start);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	write_file(path, json);
}

static void remove_fake(const char *id)
{
	char cmd[900];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", root, id);
	ck_assert_int_eq(system(cmd), 0);
}

#define R "--root", root

START_TEST(test_global)
{
	char log_bad[800];
	snprintf(log_bad, sizeof(log_bad), "%s/no-such-dir/log.json", work);
	const struct row rows[] = {
	    {{NULL}, 125, "no command given"},
	    {{"bogus"}, 125, "unknown command 'bogus'"},
	    {{"--bogus"}, 125, "unknown command '--bogus'"},
	    {{"--root"}, 125, "missing value for '--root'"},
	    {{"--root", ""}, 125, "--root: empty path"},
	    {{R}, 125, "no command given"},
	    {{"--log-format", "xml", "list"}, 125, "--log-format: 'xml' is not text or json"},
	    {{"--log-format"}, 125, "missing value for '--log-format'"},
	    {{"--log", log_bad, "state", "x"}, 125, "--log '"},
	    {{"--log", "", "state", "x"}, 125, "--log: empty path"},
	};
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
	assert_nothing_left();
}
END_TEST

START_TEST(test_create_and_run_bundle)
{
	char long_id[1001];
	memset(long_id, 'x', 1000);
	long_id[1000] = '\0';
	char *ok = wpath("ok"), *tty = wpath("tty"), *file = wpath("afile");
	const struct row rows[] = {
	    {{R, "create", "--bogus", "c1"}, 125, "create: unknown option '--bogus'"},
	    {{R, "create", "--bundle"}, 125, "create: missing value for '--bundle'"},
	    {{R, "create", "--bundle", ok, "--pid-file"}, 125, "missing value for '--pid-file'"},
	    {{R, "create", "--bundle", ok}, 125, "requires exactly 1 argument"},
	    {{R, "create", "--bundle", ok, "c1", "c2"}, 125, "unexpected arguments"},
	    {{R, "create", "--bundle", ok, "a/b"}, 125, "invalid container id 'a/b'"},
	    {{R, "create", "--bundle", ok, ".."}, 125, "invalid container id '..'"},
	    {{R, "create", "--bundle", ok, long_id}, 125, "1000 characters (at most 128)"},
	    {{R, "create", "--bundle", wpath("missing"), "c1"}, 125, "No such file or directory"},
	    {{R, "create", "--bundle", file, "c1"}, 125, "is not a directory"},
	    {{R, "create", "--bundle", wpath("noconfig"), "c1"}, 125, "config.json"},
	    {{R, "create", "--bundle", wpath("empty"), "c1"}, 125, "config.json: invalid JSON"},
	    {{R, "create", "--bundle", wpath("notjson"), "c1"}, 125, "config.json: invalid JSON"},
	    {{R, "create", "--bundle", wpath("array"), "c1"}, 125, "expected a JSON object"},
	    {{R, "create", "--bundle", wpath("types"), "c1"},
	     125,
	     "process.terminal: expected boolean"},
	    {{R, "create", "--bundle", wpath("noroot"), "c1"}, 125, "rootfs ("},
	    {{R, "create", "--bundle", wpath("rootfile"), "c1"},
	     125,
	     "rootfs (/etc/passwd) is not a directory"},
	    {{R, "create", "--bundle", tty, "c1"}, 125, "cannot allocate tty"},
	    {{R, "create", "--bundle", ok, "--console-socket", file, "c1"},
	     125,
	     "cannot use console socket"},
	    {{R, "create", "--bundle", ok, "--preserve-fds", "abc", "c1"},
	     125,
	     "--preserve-fds 'abc'"},
	    {{R, "create", "--bundle", ok, "--pid-file", wpath("no-dir/pid"), "c1"},
	     125,
	     "--pid-file '"},
	    {{R, "create", "--bundle", ok, "--pid-file", work, "c1"}, 125, "is a directory"},
	    {{R, "run", "--bundle", wpath("notjson"), "c1"}, 125, "config.json: invalid JSON"},
	    {{R, "run", "--bundle", ok, "--pid-file", wpath("no-dir/pid"), "c1"},
	     125,
	     "--pid-file '"},
	    {{R, "run", "--bundle", ok, "--bogus", "c1"}, 125, "run: unknown option '--bogus'"},
	    {{R, "spec", "--bundle"}, 125, "spec: missing value for '--bundle'"},
	    {{R, "spec", "--bundle", ok}, 125, "exists"},
	    {{R, "spec", "extra"}, 125, "spec: unexpected argument 'extra'"},
	};
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
	assert_nothing_left();
}
END_TEST

/* start, state, kill, delete, pause, resume, events, exec, ps, list: ids and their states. */
START_TEST(test_container_commands)
{
	char long_id[1001];
	memset(long_id, 'y', 1000);
	long_id[1000] = '\0';
	pid_t sleeper = fork();
	ck_assert_int_ge(sleeper, 0);
	if (sleeper == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	usleep(100000); /* its stat shows sleep's start once it exists: it already does */
	fake_container("gone", "running", 0);	    /* its monitor died: stopped */
	fake_container("live", "running", sleeper); /* as if a monitor ran it */
	fake_container("made", "created", sleeper);
	/* A create killed before its monitor wrote state.json, and a damaged state.json. */
	char path[900];
	snprintf(path, sizeof(path), "%s/nostate", root);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/corrupt", root);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/corrupt/state.json", root);
	write_file(path, "");
	const struct row rows[] = {
	    {{R, "state"}, 125, "state: expected exactly 1 argument"},
	    {{R, "state", "a", "b"}, 125, "state: expected exactly 1 argument"},
	    {{R, "state", "nope"}, 125, "container nope does not exist"},
	    {{R, "state", "../x"}, 125, "invalid container id '../x'"},
	    {{R, "state", long_id}, 125, "1000 characters"},
	    {{R, "state", "-a", "live"}, 125, "state: unknown option '-a'"},
	    {{R, "start", "--force", "made"}, 125, "start: unknown option '--force'"},
	    {{R, "start", "gone"}, 125, "cannot start a container that has stopped"},
	    {{R, "start", "live"}, 125, "cannot start an already running container"},
	    {{R, "kill"}, 125, "kill: expected a container id"},
	    {{R, "kill", "nope"}, 125, "container nope does not exist"},
	    {{R, "kill", "live", "SIGFOO"}, 125, "invalid signal 'SIGFOO'"},
	    {{R, "kill", "live", "0"}, 125, "invalid signal '0'"},
	    {{R, "kill", "live", "99"}, 125, "invalid signal '99'"},
	    {{R, "kill", "live", ""}, 125, "invalid signal ''"},
	    {{R, "kill", "-f", "live", "KILL"}, 125, "kill: unknown option '-f'"},
	    {{R, "kill", "gone", "KILL"}, 125, "container not running"},
	    {{R, "delete", "--all", "gone"}, 125, "delete: unknown option '--all'"},
	    {{R, "delete", "live"}, 125, "cannot delete container live that is not stopped"},
	    {{R, "delete", "nope"}, 125, "container nope does not exist"},
	    {{R, "delete", "nostate"}, 125, "delete --force removes container nostate"},
	    {{R, "delete", "corrupt"}, 125, "delete --force removes container corrupt"},
	    {{R, "state", "corrupt"}, 125, "state.json"},
	    {{R, "pause", "gone"}, 125, "container not running"},
	    {{R, "pause", "--all", "live"}, 125, "pause: unknown option '--all'"},
	    {{R, "resume", "live"}, 125, "container not paused"},
	    {{R, "events", "gone"}, 125, "container gone is not running"},
	    {{R, "events", "--interval"}, 125, "events: missing value for '--interval'"},
	    {{R, "events", "--interval", "abc", "live"}, 125, "--interval 'abc'"},
	    {{R, "exec"}, 125, "exec: requires a container id"},
	    {{R, "exec", "live"}, 125, "exec: no command given"},
	    {{R, "exec", "--pid-file"}, 125, "exec: missing value for '--pid-file'"},
	    {{R, "exec", "-u"}, 125, "exec: missing value for '-u'"},
	    {{R, "exec", "-u", "-5", "live", "true"}, 125, "exec: --user '-5'"},
	    {{R, "exec", "-u", "4294967296", "live", "true"}, 125, "exec: --user '4294967296'"},
	    {{R, "exec", "-u", "1:x", "live", "true"}, 125, "exec: --user '1:x'"},
	    {{R, "exec", "--cwd", "rel", "live", "true"}, 125, "exec: --cwd 'rel' is not absolute"},
	    {{R, "exec", "-e", "NOEQ", "live", "true"}, 125, "exec: --env 'NOEQ'"},
	    {{R, "exec", "gone", "true"}, 125, "cannot exec in a stopped container"},
	    {{R, "exec", "nope", "true"}, 125, "container nope does not exist"},
	    {{R, "ps", "--format", "xml", "live"}, 125, "ps: --format: 'xml' is not table or json"},
	    {{R, "ps", "--format"}, 125, "ps: missing value for '--format'"},
	    {{R, "ps", "nope"}, 125, "container nope does not exist"},
	    {{R, "ps", "-f", "json", "gone"}, 125, "cannot exec in a stopped container"},
	    {{R, "list", "--format"}, 125, "list: missing value for '--format'"},
	    {{R, "list", "--format", "yaml"}, 125, "list: --format: 'yaml' is not table or json"},
	    {{R, "list", "--force"}, 125, "list: unknown option '--force'"},
	    {{R, "list", "extra"}, 125, "list: expected no arguments"},
	    {{R, "features", "extra"}, 125, "features: unexpected argument 'extra'"},
	};
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
	kill(sleeper, SIGKILL);
	ck_assert_int_eq(waitpid(sleeper, NULL, 0), sleeper);
	/* Each one still there (no error path removed or changed it); stopped ones delete. */
	struct cmd_result r;
	h_run((char *const[]){h_path("sandbox"), R, "delete", "gone", NULL}, &r);
	ck_assert_msg(r.status == 0, "delete gone: %d %s", r.status, r.err);
	h_free(&r);
	/* As runc: --force removes a container directory whose state cannot be read. */
	h_run((char *const[]){h_path("sandbox"), R, "delete", "--force", "nostate", NULL}, &r);
	ck_assert_msg(r.status == 0, "delete --force nostate: %d %s", r.status, r.err);
	h_free(&r);
	h_run((char *const[]){h_path("sandbox"), R, "delete", "--force", "corrupt", NULL}, &r);
	ck_assert_msg(r.status == 0, "delete --force corrupt: %d %s", r.status, r.err);
	h_free(&r);
	remove_fake("live");
	remove_fake("made");
	assert_nothing_left();
}
END_TEST

/*
 * The docker-like `run` and the detached containers' commands. `run` resolves the VMM before
 * it looks at --rootfs and --user: the real one is needed for those checks to be reached (they
 * all come before a VM; assert_nothing_left shows none was made).
 */
START_TEST(test_run_and_detached)
{
	unsetenv("SANDBOX_VMM"); /* this case's own process (check forks each case) */
	char *busybox = h_path("rootfs-busybox"), *file = wpath("afile");
	const struct row rows[] = {
	    {{"run"}, 125, "run: no image given"},
	    {{"run", "--rootfs", busybox}, 125, "run: no command given"},
	    {{"run", "--bogus", "--rootfs", busybox, "--", "true"},
	     125,
	     "unknown option '--bogus'"},
	    {{"run", "-m"}, 125, "run: missing value for '-m'"},
	    {{"run", "-m", "0", "--rootfs", busybox, "--", "true"}, 125, "memory size '0'"},
	    {{"run", "-m", "64x", "--rootfs", busybox, "--", "true"}, 125, "memory size '64x'"},
	    {{"run", "--cpus", "-1", "--rootfs", busybox, "--", "true"}, 125, "--cpus '-1'"},
	    {{"run", "--cpus", "abc", "--rootfs", busybox, "--", "true"}, 125, "--cpus 'abc'"},
	    {{"run", "-p", "99999:80", "--rootfs", busybox, "--", "true"}, 125, "-p '99999:80'"},
	    {{"run", "-p", "80", "--rootfs", busybox, "--", "true"}, 125, "-p '80'"},
	    {{"run", "-e", "NOEQ", "--rootfs", busybox, "--", "true"}, 125, "--env 'NOEQ'"},
	    {{"run", "-u", "nobody:x", "--rootfs", busybox, "--", "true"}, 125, "no group 'x'"},
	    {{"run", "-w", "rel", "--rootfs", busybox, "--", "true"}, 125, "--workdir 'rel'"},
	    {{"run", "--network", "bogus", "--rootfs", busybox, "--", "true"},
	     125,
	     "--network 'bogus'"},
	    {{"run", "-v", "rel:/data", "--rootfs", busybox, "--", "true"}, 125, "absolute"},
	    {{"run", "-v", "/nonexistent-dir:/data", "--rootfs", busybox, "--", "true"},
	     125,
	     "host directory '/nonexistent-dir'"},
	    {{"run", "--rootfs", file, "--", "true"}, 125, "is not a directory"},
	    {{"run", "--rootfs", "/nonexistent-dir", "--", "true"}, 125, "No such file"},
	    {{"run", "nosuchimage"}, 125, "image 'nosuchimage' not found"},
	    {{"run", "BAD-REF"}, 125, "invalid image reference 'BAD-REF'"},
	    {{"logs"}, 125, "logs: requires exactly 1 argument"},
	    {{"logs", "nope"}, 125, "no such container: nope"},
	    {{"logs", "a/b"}, 125, "invalid container id 'a/b'"},
	    {{"stop", "-t"}, 125, "stop: missing value for '-t'"},
	    {{"stop", "-t", "abc", "x"}, 125, "stop: invalid -t 'abc'"},
	    {{"stop", "nope"}, 125, "no such container: nope"},
	    {{"rm"}, 125, "rm: requires at least 1 argument"},
	    {{"rm", "-x", "nope"}, 125, "rm: unknown option '-x'"},
	    {{"ps", "-x"}, 125, "ps: unknown option '-x'"},
	};
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
	assert_nothing_left();
}
END_TEST

START_TEST(test_images_and_templates)
{
	char long_ref[301];
	memset(long_ref, 'z', 300);
	long_ref[300] = '\0';
	const struct row rows[] = {
	    {{"pull"}, 125, "pull: expected one image reference"},
	    {{"pull", "-x"}, 125, "pull: unknown option '-x'"},
	    {{"pull", "UPPER/x"}, 125, "invalid image reference 'UPPER/x'"},
	    {{"pull", "x@sha256:abc"}, 125, "bad digest"},
	    {{"pull", "x:"}, 125, "bad tag"},
	    {{"pull", "host:99999/x"}, 125, "bad registry host 'host:99999'"},
	    {{"pull", long_ref}, 125, "name too long"},
	    {{"images", "extra"}, 125, "images: unexpected argument 'extra'"},
	    {{"rmi"}, 125, "rmi: which image?"},
	    {{"rmi", "nosuch:latest"}, 125, "image 'nosuch:latest' not found"},
	    {{"inspect", "nosuch"}, 125, "image 'nosuch' not found"},
	    {{"inspect", "UPPER"}, 125, "invalid image reference 'UPPER'"},
	    {{"rmi", "A B"}, 125, "invalid image reference 'A B'"},
	    {{"load"}, 125, "load: which archive?"},
	    {{"load", "-i"}, 125, "load: missing value for '-i'"},
	    {{"load", "-i", "/nonexistent-archive"}, 125, "No such file or directory"},
	    {{"load", "-i", wpath("afile")}, 125, "not a readable archive"},
	    {{"prune", "extra"}, 125, "prune: unexpected argument 'extra'"},
	    {{"template"}, 125, "template: no command given"},
	    {{"template", "bogus"}, 125, "template: unknown command 'bogus'"},
	    {{"template", "ls", "extra"}, 125, "ls: unexpected argument 'extra'"},
	    {{"template", "rm"}, 125, "rm: expected one KEY or --all"},
	    {{"template", "rm", "../x"}, 125, "'../x' is not a template key"},
	    {{"template", "rm", "0123456789abcdef"}, 125, "no template '0123456789abcdef'"},
	    {{"template", "build", "-m"}, 125, "build: missing value for '-m'"},
	    {{"template", "build", "-m", "0"}, 125, "memory size '0' out of range"},
	    {{"template", "build", "extra"}, 125, "build: unexpected argument 'extra'"},
	};
	check_rows(rows, sizeof(rows) / sizeof(rows[0]));
	assert_nothing_left();
}
END_TEST

/* containerd and podman read the last {"level":"error"} line of --log to explain a failure. */
START_TEST(test_errors_reach_the_json_log)
{
	char *log = wpath("log.json");
	const struct {
		char *argv[12];
		const char *msg;
	} rows[] = {
	    {{R, "state", "nope"}, "container nope does not exist"},
	    {{R, "create", "--bundle"}, "create: missing value for '--bundle'"},
	    {{R, "ps", "nope"}, "container nope does not exist"}, /* said by ps's exec child */
	    {{R, "bogus"}, "unknown command 'bogus' (see 'sandbox --help')"},
	    {{"run", "-m", "0", "--rootfs", "/x", "--", "true"}, "memory size '0'"},
	    {{"template", "rm", "x"}, "template: rm: 'x' is not a template key"},
	    {{"pull", "UPPER/x"}, "pull: invalid image reference 'UPPER/x'"},
	};
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *argv[20] = {h_path("sandbox"), "--log", log, "--log-format", "json"};
		size_t n = 5;
		for (size_t k = 0; rows[i].argv[k]; k++)
			argv[n++] = rows[i].argv[k];
		argv[n] = NULL;
		unlink(log);
		struct cmd_result r;
		h_run(argv, &r);
		char want[600];
		snprintf(want, sizeof(want), "{\"level\":\"error\",\"msg\":\"%s", rows[i].msg);
		const char *text = access(log, F_OK) == 0 ? h_slurp(log) : "(no log file)";
		const char *bad =
		    r.status != 125				     ? "wrong status"
		    : !strchr(r.err, '\n') || strchr(r.err, '\n')[1] ? "stderr not one line"
		    : strncmp(text, want, strlen(want))		     ? "log line wrong"
		    : !strchr(text, '\n') || strchr(text, '\n')[1]   ? "log not one line"
								     : NULL;
		if (bad)
			fprintf(stderr, "FAIL log of '%s': %s (status %d)\n  stderr: %s  log: %s\n",
				rows[i].msg, bad, r.status, r.err, text);
		failed += bad != NULL;
		h_free(&r);
	}
	ck_assert_msg(failed == 0, "%zu rows failed (FAIL lines above)", failed);
	unlink(log);
	assert_nothing_left();
}
END_TEST

/* Bundles for every way config.json can be wrong, from `sandbox spec`'s default. */
static void make_fixtures(void)
{
	char path[800];
	const char *dirs[] = {"ok",    "tty",	"noconfig", "empty",   "notjson",
			      "array", "types", "noroot",   "rootfile"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ck_assert_int_eq(mkdir(wpath(dirs[i]), 0755), 0);
	struct cmd_result r;
	h_run((char *const[]){h_path("sandbox"), "spec", "--bundle", wpath("tty"), NULL}, &r);
	ck_assert_msg(r.status == 0, "spec: %s", r.err);
	h_free(&r);
	snprintf(path, sizeof(path), "%s/config.json", wpath("tty"));
	static char spec[16384], edited[16384];
	snprintf(spec, sizeof(spec), "%s", h_slurp(path));
	char *t = strstr(spec, "\"terminal\": true");
	ck_assert_ptr_nonnull(t);
	snprintf(edited, sizeof(edited), "%.*s\"terminal\": false%s", (int)(t - spec), spec,
		 t + strlen("\"terminal\": true"));
	snprintf(path, sizeof(path), "%s/config.json", wpath("ok"));
	write_file(path, edited);
	snprintf(path, sizeof(path), "%s/config.json", wpath("noroot"));
	write_file(path, edited);
	char *rp = strstr(edited, "\"path\": \"rootfs\"");
	ck_assert_ptr_nonnull(rp);
	snprintf(path, sizeof(path), "%s/config.json", wpath("rootfile"));
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%.*s\"path\": \"/etc/passwd\"%s", (int)(rp - edited), edited,
		rp + strlen("\"path\": \"rootfs\""));
	ck_assert_int_eq(fclose(f), 0);
	snprintf(edited, sizeof(edited), "%.*s\"terminal\": \"yes\"%s", (int)(t - spec), spec,
		 t + strlen("\"terminal\": true"));
	snprintf(path, sizeof(path), "%s/config.json", wpath("types"));
	write_file(path, edited);
	ck_assert_int_eq(mkdir(wpath("ok/rootfs"), 0755), 0);
	ck_assert_int_eq(mkdir(wpath("tty/rootfs"), 0755), 0);
	ck_assert_int_eq(mkdir(wpath("types/rootfs"), 0755), 0);
	snprintf(path, sizeof(path), "%s/config.json", wpath("empty"));
	write_file(path, "");
	snprintf(path, sizeof(path), "%s/config.json", wpath("notjson"));
	write_file(path, "not json");
	snprintf(path, sizeof(path), "%s/config.json", wpath("array"));
	write_file(path, "[1, 2]");
	write_file(wpath("afile"), "a file, not a directory\n");
}

int main(void)
{
	if (!mkdtemp(root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(run_root, sizeof(run_root), "%s/run", work);
	snprintf(tpl_dir, sizeof(tpl_dir), "%s/templates", work);
	snprintf(img_root, sizeof(img_root), "%s/images", work);
	if (mkdir(run_root, 0700) < 0 || mkdir(tpl_dir, 0700) < 0 || mkdir(img_root, 0700) < 0) {
		perror("mkdir");
		return 1;
	}
	/* Nothing here may boot a VM: one that tried would fail at once, visibly. */
	setenv("SANDBOX_VMM", "/nonexistent/no-vm-in-test_cli_errors", 1);
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	setenv("SANDBOX_TEMPLATE_DIR", tpl_dir, 1);
	setenv("SANDBOX_IMAGE_ROOT", img_root, 1);
	Suite *s = suite_create("cli_errors");
	TCase *tc = tcase_create("errors");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, make_fixtures, NULL);
	tcase_add_test(tc, test_global);
	tcase_add_test(tc, test_create_and_run_bundle);
	tcase_add_test(tc, test_container_commands);
	tcase_add_test(tc, test_run_and_detached);
	tcase_add_test(tc, test_images_and_templates);
	tcase_add_test(tc, test_errors_reach_the_json_log);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[1600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", work, root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s, %s\n", work, root);
	return failed ? 1 : 0;
}
