/* `create` and `run`: check everything that can be checked, then hand over to the monitor. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "jail.h"
#include "monitor.h"
#include "oci_cgroup.h"
#include "oci_cmd.h"
#include "oci_hooks.h"
#include "oci_log.h"
#include "oci_spec.h"
#include "oci_state.h"
#include "run.h"
#include "rundir.h"

struct create_opts {
	const char *bundle, *pid_file, *console_socket, *id;
	bool detach, keep;
	int preserve_fds;
};

/*
 * runc hands fds 3..3+N-1 to the container process. A VM cannot receive a host fd (docs/oci.md
 * says what that means), but a caller's mistake is still one: N must be a number and each of
 * those fds open, as runc's exec of the process would otherwise fail with EBADF.
 */
#define PRESERVE_FDS_MAX 1024

static int parse_preserve_fds(const char *s, int *n)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < 0 || v > PRESERVE_FDS_MAX)
		return oci_fail("--preserve-fds '%s': expected a number of fds from 0 to %d", s,
				PRESERVE_FDS_MAX),
		       -1;
	for (long fd = 3; fd < 3 + v; fd++)
		if (fcntl((int)fd, F_GETFD) < 0)
			return oci_fail("--preserve-fds %ld: fd %ld is not open", v, fd), -1;
	*n = (int)v;
	return 0;
}

static int parse_create(int argc, char **argv, bool is_run, struct create_opts *o)
{
	static const struct option longopts[] = {
	    {"bundle", required_argument, NULL, 'b'},
	    {"pid-file", required_argument, NULL, 'p'},
	    {"console-socket", required_argument, NULL, 'c'},
	    {"no-pivot", no_argument, NULL, 'P'},
	    {"no-new-keyring", no_argument, NULL, 'K'},
	    {"preserve-fds", required_argument, NULL, 'f'},
	    {"detach", no_argument, NULL, 'd'},
	    {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	*o = (struct create_opts){.bundle = "."};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "+:b:d", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bundle = optarg;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'c':
			o->console_socket = optarg;
			break;
		case 'P': /* the VM's rootfs is never the host's: no pivot_root question */
		case 'K': /* no session keyring: the guest kernel's keyrings are the VM's own */
			break;
		case 'f':
			if (parse_preserve_fds(optarg, &o->preserve_fds) < 0)
				return -1;
			break;
		case 'd':
			o->detach = true;
			break;
		case 'k':
			o->keep = true;
			break;
		case 'h':
			printf("Usage: sandbox %s [--bundle DIR] [--pid-file F] [--console-socket "
			       "S]%s ID\n",
			       argv[0], is_run ? " [--detach] [--keep]" : "");
			return 1;
		default:
			return oci_opt_fail(argv[0], c, argv), -1;
		}
	}
	if ((!is_run && o->detach) || optind != argc - 1)
		return oci_fail("%s: %s", argv[0],
				optind >= argc ? "requires exactly 1 argument (the container id)"
					       : "unexpected arguments after the container id"),
		       -1;
	o->id = argv[optind];
	if (o->preserve_fds)
		oci_warn("--preserve-fds %d: host fds cannot cross into the VM; the container does "
			 "not get fds 3..%d",
			 o->preserve_fds, 2 + o->preserve_fds);
	return 0;
}

/*
 * The pid file is written last, once the VM runs: a directory that is not there is found now,
 * before a VM is started for nothing.
 */
static int check_pid_file(const char *path)
{
	char dir[PATH_MAX];
	struct stat sb;
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return oci_fail("--pid-file '%.64s...': %s", path, strerror(ENAMETOOLONG));
	char *slash = strrchr(dir, '/');
	const char *d = !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
	if (stat(d, &sb) < 0)
		return oci_fail("--pid-file '%s': directory '%s': %s", path, d, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return oci_fail("--pid-file '%s': '%s' is not a directory", path, d);
	if (access(d, W_OK) < 0)
		return oci_fail("--pid-file '%s': directory '%s': %s", path, d, strerror(errno));
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return oci_fail("--pid-file '%s' is a directory", path);
	return 0;
}

/* Everything the monitor would fail on later, checked while nothing exists yet. */
static int check_inputs(const struct create_opts *o, bool attached, char *bundle,
			struct oci_spec *spec)
{
	struct sbx_err err = {0};
	if (oci_id_check(o->id, &err) < 0)
		return oci_fail("%s", err.msg);
	if (o->pid_file && check_pid_file(o->pid_file) != 0)
		return OCI_EXIT_FAILED;
	struct stat bs;
	if (!realpath(o->bundle, bundle))
		return oci_fail("bundle '%s': %s", o->bundle, strerror(errno));
	if (stat(bundle, &bs) < 0 || !S_ISDIR(bs.st_mode))
		return oci_fail("bundle '%s' is not a directory", o->bundle);
	if (oci_spec_load(bundle, spec, &err) < 0)
		return oci_fail("%s", err.msg);
	char cg[PATH_MAX];
	if (oci_cgroup_path(spec->cgroups_path, oci_g.systemd_cgroup, cg, sizeof(cg), &err) < 0)
		return oci_fail("config.json: linux.%s", err.msg);
	char rootfs[PATH_MAX];
	struct stat sb;
	snprintf(rootfs, sizeof(rootfs), "%s%s%s", spec->root_path[0] == '/' ? "" : bundle,
		 spec->root_path[0] == '/' ? "" : "/", spec->root_path);
	if (stat(rootfs, &sb) < 0)
		return oci_fail("rootfs (%s) does not exist", rootfs);
	if (!S_ISDIR(sb.st_mode))
		return oci_fail("rootfs (%s) is not a directory", rootfs);
	if (spec->process.terminal && !o->console_socket && !attached)
		return oci_fail(
		    "cannot allocate tty if sandbox will detach without setting console "
		    "socket");
	if (!spec->process.terminal && o->console_socket)
		return oci_fail("cannot use console socket if sandbox will not detach or allocate "
				"tty");
	return 0;
}

/* runc creates --root with its parents: containerd passes <runc-root>/<namespace>. */
static int make_root(const char *root)
{
	char tmp[PATH_MAX];
	if (!root[0])
		return -EINVAL;
	if (snprintf(tmp, sizeof(tmp), "%s", root) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*p = c;
	}
}

static int make_state_dir(const char *id)
{
	char dir[PATH_MAX];
	int r = make_root(oci_g.root);
	if (r < 0)
		return oci_fail("create state root '%s': %s", oci_g.root, strerror(-r));
	oci_state_dir(id, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return oci_fail("container with id exists: %s", id);
		return oci_fail("create '%s': %s", dir, strerror(errno));
	}
	return 0;
}

static void remove_state_dir(const char *id)
{
	char dir[PATH_MAX];
	oci_state_dir(id, dir, sizeof(dir));
	rmtree(dir);
}

/* Written atomically: callers poll for the file and read it as soon as it appears. */
static int write_pid_file(const char *path, pid_t pid)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f)
		return oci_fail("write pid file '%s': %s", path, strerror(errno));
	fprintf(f, "%d", (int)pid);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return oci_fail("write pid file '%s': %s", path, strerror(e));
	}
	return 0;
}

/*
 * Reads the monitor's verdict into buf until it closes the pipe; a signal in `stop` (the
 * caller's Ctrl-C, timeout's TERM) ends the wait early: returns that signal, else 0.
 */
static int read_verdict(int fd, int sfd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		if (poll(pf, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		struct signalfd_siginfo si;
		if (sfd >= 0 && (pf[1].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			buf[n] = '\0';
			return (int)si.ssi_signo;
		}
		if (!pf[0].revents)
			continue;
		ssize_t k = n + 1 < cap ? read(fd, buf + n, cap - 1 - n) : 0;
		if (k <= 0 && !(k < 0 && errno == EINTR))
			break;
		n += k > 0 ? (size_t)k : 0;
	}
	buf[n] = '\0';
	return 0;
}

/* Forks the monitor and waits for its verdict: created (exit 0) or an error (nothing left). */
static int create_detached(const struct create_opts *o, const char *bundle,
			   const struct oci_spec *spec, bool start)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return oci_fail("pipe: %s", strerror(errno));
	/* The monitor has its own session: a signal that ends this wait is handled here, or the
	 * monitor would go on making a container nobody waits for. */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid_t pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return oci_fail("fork the monitor: %s", strerror(errno));
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(p[0]);
		setsid(); /* a terminal's signals are for the caller, not the container */
		struct monitor_cfg cfg = {.id = o->id,
					  .bundle = bundle,
					  .spec = spec,
					  .notify_fd = p[1],
					  .auto_start = start,
					  .console_socket = o->console_socket};
		_exit(monitor_run(&cfg));
	}
	close(p[1]);
	char buf[1200];
	int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
	int sig = read_verdict(p[0], sfd, buf, sizeof(buf));
	if (sfd >= 0)
		close(sfd);
	close(p[0]);
	buf[strcspn(buf, "\n")] = '\0';
	bool created = !sig && !strcmp(buf, "ok");
	if (created && (!o->pid_file || write_pid_file(o->pid_file, pid) == 0)) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	/* A failed create leaves nothing: not the monitor, its VM (which dies with it), its
	 * jail's cgroup, the host cgroup, nor the state directory. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	char vm_dir[PATH_MAX];
	oci_state_file(o->id, "vm", vm_dir, sizeof(vm_dir));
	jail_release_dead(vm_dir);
	oci_cgroup_remove(o->id);
	remove_state_dir(o->id);
	if (sig) {
		oci_fail("create of %s interrupted by %s: removed", o->id, strsignal(sig));
		signal(sig, SIG_DFL); /* the caller sees the death it asked for */
		sigprocmask(SIG_SETMASK, &old, NULL);
		raise(sig);
		return 128 + sig;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (created)
		return OCI_EXIT_FAILED; /* write_pid_file said why */
	return oci_fail("%s", !strncmp(buf, "error: ", 7) ? buf + 7 : "the monitor died");
}

int cmd_oci_create(int argc, char **argv)
{
	struct create_opts o;
	int r = parse_create(argc, argv, false, &o);
	if (r != 0)
		return r == 1 ? 0 : OCI_EXIT_FAILED;
	char bundle[PATH_MAX];
	struct oci_spec spec = {0};
	if ((r = check_inputs(&o, false, bundle, &spec)) != 0 || (r = make_state_dir(o.id)) != 0) {
		oci_spec_free(&spec);
		return r;
	}
	r = create_detached(&o, bundle, &spec, false);
	oci_spec_free(&spec);
	return r;
}

/* runc run without --detach: the monitor is this process; the container is deleted after. */
static int run_attached(const struct create_opts *o, const char *bundle,
			const struct oci_spec *spec)
{
	if (o->pid_file && write_pid_file(o->pid_file, getpid()) != 0) {
		remove_state_dir(o->id);
		return OCI_EXIT_FAILED;
	}
	struct monitor_cfg cfg = {.id = o->id,
				  .bundle = bundle,
				  .spec = spec,
				  .notify_fd = -1,
				  .auto_start = true,
				  .console_socket = o->console_socket};
	int status = monitor_run(&cfg);
	if (!o->keep) {
		struct sbx_err err = {0};
		struct oci_state st;
		if (oci_state_read(o->id, &st, &err) == 0) {
			st.pid = 0; /* we are the monitor, and we are done: stopped */
			if (oci_hooks_run(spec, OCI_HOOK_POSTSTOP, &st, &err) < 0)
				oci_warn("%s", err.msg);
			oci_state_free(&st);
		}
		oci_cgroup_leave(
		    o->id); /* we are the monitor: out of the cgroup before removing it */
		oci_cgroup_remove(o->id);
		remove_state_dir(o->id);
	}
	return status;
}

int cmd_oci_run(int argc, char **argv)
{
	struct create_opts o;
	int r = parse_create(argc, argv, true, &o);
	if (r != 0)
		return r == 1 ? 0 : OCI_EXIT_FAILED;
	char bundle[PATH_MAX];
	struct oci_spec spec = {0};
	if ((r = check_inputs(&o, !o.detach, bundle, &spec)) != 0 ||
	    (r = make_state_dir(o.id)) != 0) {
		oci_spec_free(&spec);
		return r;
	}
	r = o.detach ? create_detached(&o, bundle, &spec, true) : run_attached(&o, bundle, &spec);
	oci_spec_free(&spec);
	return r;
}

int oci_run_is_runc_style(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "--rootfs") || !strncmp(argv[i], "--rootfs=", 9) ||
		    !strcmp(argv[i], "--image") || !strncmp(argv[i], "--image=", 8))
			return 0;
		if (!strcmp(argv[i], "--bundle") || !strcmp(argv[i], "-b") ||
		    !strncmp(argv[i], "--bundle=", 9) || !strcmp(argv[i], "--pid-file") ||
		    !strcmp(argv[i], "--console-socket") || !strcmp(argv[i], "--keep"))
			return 1;
	}
	/*
	 * `run ID` alone is runc's run of the bundle in the current directory, but also
	 * `sandbox run IMAGE`: only a config.json here makes it the former.
	 */
	return argc == 2 && argv[1][0] != '-' && access("config.json", F_OK) == 0;
}

int cmd_run_dispatch(int argc, char **argv)
{
	return oci_run_is_runc_style(argc, argv) ? cmd_oci_run(argc, argv) : cmd_run(argc, argv);
}
