/*
 * The container's processes: a container init (PID 1 of new mount/pid/uts/ipc namespaces) and
 * the workload it forks.
 *
 * Why an init between the agent and the workload: a PID 1 without a handler ignores SIGTERM,
 * so `kill -TERM` of `sandbox run` could never end `sleep 100`. The init forwards every signal
 * to the workload, reaps orphans, and hands the workload's raw wait status to the agent.
 *
 * Errors before the workload runs travel back as data on a CLOEXEC "exec pipe". Its EOF alone
 * cannot mean "exec succeeded": a container init that is killed during setup closes it too.
 * So what the pipe carries, in this order, is (channel.c parses it):
 *   'R'            (HOLD only) the held workload waits for START: the container is created;
 *   'E'            the workload reached its exec step (security settings, then execve);
 *   'F' + payload  a failure: an ERROR payload {errno, exit code, text};
 * and EOF after 'E' without 'F' is a successful execve; EOF without 'E' means the workload
 * never got to exec (the agent then tells a dead init from a killed workload).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Fixed fd numbers inside the container init (set up by init_arrange_fds). */
#define FD_EXEC_W 3
#define FD_STATUS_W 4
#define FD_START_R 5	 /* RUN with HOLD: one byte here means START; EOF means never */
#define HOLD_READY 'R'	 /* written to the exec pipe once the held workload waits */
#define EXEC_REACHED 'E' /* the workload is at its exec step */
#define EXEC_FAILED 'F'	 /* an ERROR payload follows */

int exec_errno_to_code(int errnum)
{
	return errnum == ENOENT ? AGENT_EXIT_NOTFOUND : AGENT_EXIT_NOEXEC;
}

/* Reports a failure to the agent and ends this (forked) process. Async-signal-safe enough:
 * the process is a fork of a single-threaded agent. */
__attribute__((noreturn)) static void child_fail(int errnum, int code, const char *msg)
{
	uint8_t buf[1 + 8 + SBX_ERR_MSG_MAX];
	buf[0] = EXEC_FAILED;
	size_t n = 1 + sbx_error_encode(buf + 1, sizeof(buf) - 1, errnum, code, msg);
	ssize_t w = write(FD_EXEC_W, buf, n); /* one write below PIPE_BUF: never interleaved */
	(void)w;
	_exit(code);
}

static const char *env_get(char *const *envp, const char *key)
{
	size_t k = strlen(key);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, k) == 0 && (*envp)[k] == '=')
			return *envp + k + 1;
	return NULL;
}

/*
 * execvpe searching the *container's* PATH (glibc's uses the caller's environment). Like the
 * shells: EACCES on one candidate is remembered but the search goes on. Returns the errno.
 */
static int exec_search(char *const *argv, char *const *envp)
{
	const char *file = argv[0];
	if (file[0] == '\0')
		return ENOENT;
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return errno;
	}
	const char *path = env_get(envp, "PATH");
	path = path ? path : DEFAULT_PATH;
	int saved = ENOENT;
	char cand[4096];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int dlen = (int)(end - p);
		if (snprintf(cand, sizeof(cand), "%.*s%s%s", dlen, p, dlen ? "/" : "", file) <
		    (int)sizeof(cand)) {
			execve(cand, argv, envp);
			if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG)
				saved = errno;
		}
		if (*end == '\0')
			break;
		p = end;
	}
	return saved;
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

__attribute__((noreturn)) static void workload_exec(const struct sbx_run_req *req, bool tty)
{
	char msg[SBX_ERR_MSG_MAX];
	agent_stage(AGENT_MARK_WORKLOAD);
	reset_signals();
	if (setsid() < 0)
		child_fail(errno, AGENT_EXIT_SETUP, "setsid");
	if (tty && ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(errno, AGENT_EXIT_SETUP, "set controlling terminal");
	if (setgroups(req->n_add_gids, req->add_gids) < 0)
		child_fail(errno, AGENT_EXIT_SETUP, "setgroups");
	/* The permitted set must survive setuid: container_security_exec sets the final sets. */
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	if (setgid(req->gid) < 0 || setuid(req->uid) < 0) {
		snprintf(msg, sizeof(msg), "set uid/gid %u:%u: %s", req->uid, req->gid,
			 strerror(errno));
		child_fail(errno, AGENT_EXIT_SETUP, msg);
	}
	if (chdir(req->cwd) < 0) {
		snprintf(msg, sizeof(msg), "chdir \"%s\": %s", req->cwd, strerror(errno));
		child_fail(errno, AGENT_EXIT_SETUP, msg);
	}
	if (req->hold) {
		/* Everything but the execve is done: report "created" and wait for START. */
		char b = HOLD_READY;
		if (write(FD_EXEC_W, &b, 1) != 1 || read(FD_START_R, &b, 1) != 1)
			_exit(AGENT_EXIT_SETUP); /* the agent went away or the container was deleted
						  */
		close(FD_START_R);
	}
	/* Before the security settings: a seccomp profile may deny write() from here on. */
	char reached = EXEC_REACHED;
	ssize_t wr = write(FD_EXEC_W, &reached, 1);
	(void)wr;
	struct sbx_err err = {0};
	if (container_security_exec(req, &err) < 0)
		child_fail(err.code, AGENT_EXIT_SETUP, err.msg);
	/* After the security settings, as runc: the hook is the image's code, like the workload. */
	if (agent_hooks_run(req, SBX_HOOK_START_CONTAINER, &err) < 0)
		child_fail(err.code, AGENT_EXIT_SETUP, err.msg);
	agent_stage(AGENT_MARK_PRE_EXEC);
	int e = exec_search(req->argv, req->envp);
	snprintf(msg, sizeof(msg), "exec \"%s\": %s", req->argv[0], strerror(e));
	child_fail(e, exec_errno_to_code(e), msg);
}

/*
 * Starts the workload. Without HOLD it is a vfork: the child borrows the init's memory until
 * its execve, so there is no page-table copy and none of the copy-on-write faults that a forked
 * child and its parent take on every page they write before the exec (each one a page fault,
 * a page copy and shadow page-table work when the guest kernel is emulated; docs/benchmarks.md).
 * The child only makes system calls, writes its own stack frames and execs or _exits, which is
 * what vfork allows; its signal handlers are its own copy (no CLONE_SIGHAND). A held workload
 * (OCI create) waits for START before its execve, and the init must stay free meanwhile to
 * forward signals to it: that one is forked.
 */
static pid_t workload_spawn(const struct sbx_run_req *req)
{
	/* startContainer hooks fork and wait in the child: more than vfork allows. */
	bool forked = req->hold || req->hooks[SBX_HOOK_START_CONTAINER].n;
	pid_t w = forked ? fork() : vfork();
	if (w == 0)
		workload_exec(req, req->terminal);
	return w;
}

/* Any number of handled signals arriving at once: a no-op handler keeps them "handled", so a
 * pid-namespace init does not drop them (the kernel ignores SIG_DFL signals for such inits). */
static void init_noop_handler(int sig)
{
	(void)sig;
}

/* Forwards signals until the workload ends; then reports its status and exits. */
__attribute__((noreturn)) static void init_loop(pid_t workload)
{
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(workload, sig);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p != workload)
				continue; /* an orphan reparented to us: reaped, nothing else to do
					   */
			ssize_t w = write(FD_STATUS_W, &st, sizeof(st));
			(void)w;
			_exit(0); /* the kernel kills what is left in the namespace */
		}
	}
}

/*
 * Moves the fds the container needs to fixed numbers (0-2 stdio, 3 exec pipe, 4 status pipe)
 * and closes every other inherited fd: the agent's ends must not live on in the container,
 * or stdin would never see EOF and the host stream would leak into it.
 */
static int init_arrange_fds(const int child[3], int exec_w, int status_w, int start_r)
{
	int src[6] = {child[0], child[1], child[2], exec_w, status_w, start_r}, high[6];
	int n = start_r >= 0 ? 6 : 5;
	for (int i = 0; i < n; i++)
		if ((high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
			return -errno;
	for (int i = 0; i < n; i++)
		if (dup3(high[i], i, i >= 3 ? O_CLOEXEC : 0) < 0)
			return -errno;
	if (syscall(SYS_close_range, n, ~0u, 0) < 0)
		for (int fd = n; fd < 1024; fd++)
			close(fd);
	return 0;
}

struct init_args {
	const char *root;
	const struct sbx_run_req *req;
	const int *child;
	int exec_w, status_w, start_r;
	bool force_move;
};

__attribute__((noreturn)) static void container_init(const struct init_args *a)
{
	struct sbx_err err = {0};
	/* All signals are still blocked (container_spawn): init_loop takes them synchronously. */
	agent_stage(AGENT_MARK_INIT);
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* an agent that dies takes the container with it */
	if (init_arrange_fds(a->child, a->exec_w, a->status_w, a->start_r) < 0)
		_exit(AGENT_EXIT_SETUP);
	agent_stage(AGENT_MARK_INIT_FDS);
	/* runc's order: the mounts, the createContainer hooks, then sysctl and the masked and
	 * read-only paths (the hooks see /proc/sys writable, as under runc). */
	if (container_enter_root(a->root, a->req, a->force_move, &err) < 0 ||
	    agent_hooks_run(a->req, SBX_HOOK_CREATE_CONTAINER, &err) < 0 ||
	    container_security_root(a->req, &err) < 0)
		child_fail(err.code, AGENT_EXIT_SETUP, err.msg);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			signal(s, init_noop_handler);
	pid_t w = workload_spawn(a->req);
	if (w < 0)
		child_fail(errno, AGENT_EXIT_SETUP, "fork workload");
	close(FD_EXEC_W);
	if (a->start_r >= 0)
		close(FD_START_R);
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	init_loop(w);
}

static int spawn_fail(int fds[6], struct sbx_err *err, const char *what)
{
	int r = sbx_err_set(err, errno, "%s", what);
	for (int i = 0; i < 6; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

int container_spawn(struct container *c, const char *root, const struct sbx_run_req *req,
		    bool force_move, struct agent_stdio *s, struct sbx_err *err)
{
	int fds[6] = {-1, -1, -1, -1, -1, -1}; /* exec r/w, status r/w, start r/w */
	*c = (struct container){.init_pid = -1, .exec_r = -1, .status_r = -1, .start_w = -1};
	if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 ||
	    (req->hold && pipe2(fds + 4, O_CLOEXEC) < 0))
		return spawn_fail(fds, err, "create container pipes");
	/* Signals stay blocked across clone: until the init has its handlers, a signal sent to a
	 * fresh pid-namespace init with SIG_DFL would be silently dropped. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	const unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid > 0)
		agent_stage(AGENT_MARK_CLONED);
	if (pid < 0)
		return spawn_fail(fds, err, "clone container init");
	if (pid == 0) {
		struct init_args a = {root, req, s->child, fds[1], fds[3], fds[4], force_move};
		container_init(&a);
	}
	close(fds[1]);
	close(fds[3]);
	if (fds[4] >= 0)
		close(fds[4]);
	c->start_w = fds[5];
	c->hold = req->hold;
	stdio_close_child(s);
	c->init_pid = pid;
	c->exec_r = fds[0];
	c->status_r = fds[2];
	int fl = fcntl(c->exec_r, F_GETFL);
	fcntl(c->exec_r, F_SETFL, fl | O_NONBLOCK);
	fl = fcntl(c->status_r, F_GETFL);
	fcntl(c->status_r, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

/* ---- exec: a process that joins an existing container ---- */

static const struct {
	const char *name;
	int type;
} join_ns[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};

/*
 * Enters the namespaces of target and its root. The root comes from /proc/PID/root, not from
 * the mount namespace: the container may have switched root by move + chroot (initramfs).
 */
static int join_container(pid_t target, struct sbx_err *err)
{
	int fds[ARRAY_SIZE(join_ns)], root;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)target);
	if ((root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sbx_err_set(err, errno, "open %s", path);
	for (size_t i = 0; i < ARRAY_SIZE(join_ns); i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)target, join_ns[i].name);
		if ((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return sbx_err_set(err, errno, "open %s", path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(join_ns); i++)
		if (setns(fds[i], join_ns[i].type) < 0)
			return sbx_err_set(err, errno, "setns %s", join_ns[i].name);
	if (fchdir(root) < 0 || chroot(".") < 0)
		return sbx_err_set(err, errno, "enter the container's root");
	return 0;
}

/* The exec's "init": joins, forks the workload into the pid namespace, forwards, reports. */
__attribute__((noreturn)) static void join_init(pid_t target, const struct sbx_run_req *req,
						const int child[3], int exec_w, int status_w)
{
	struct sbx_err err = {0};
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (init_arrange_fds(child, exec_w, status_w, -1) < 0)
		_exit(AGENT_EXIT_SETUP);
	if (container_security_join_cgroup(target, &err) < 0)
		child_fail(err.code, AGENT_EXIT_SETUP, err.msg);
	if (join_container(target, &err) < 0)
		child_fail(err.code, AGENT_EXIT_SETUP, err.msg);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			signal(s, init_noop_handler);
	pid_t w = workload_spawn(req);
	if (w < 0)
		child_fail(errno, AGENT_EXIT_SETUP, "fork workload");
	close(FD_EXEC_W);
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	init_loop(w);
}

int container_join_spawn(struct container *c, pid_t target_init, const struct sbx_run_req *req,
			 struct agent_stdio *s, struct sbx_err *err)
{
	int fds[6] = {-1, -1, -1, -1, -1, -1};
	*c = (struct container){.init_pid = -1, .exec_r = -1, .status_r = -1, .start_w = -1};
	if (req->hold)
		return sbx_err_setx(err, EINVAL, "exec: HOLD is for the container's first process");
	if (req->hooks[SBX_HOOK_CREATE_CONTAINER].n || req->hooks[SBX_HOOK_START_CONTAINER].n)
		return sbx_err_setx(err, EINVAL,
				    "exec: hooks are for the container's first process");
	if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0)
		return spawn_fail(fds, err, "create exec pipes");
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return spawn_fail(fds, err, "fork exec init");
	if (pid == 0)
		join_init(target_init, req, s->child, fds[1], fds[3]);
	close(fds[1]);
	close(fds[3]);
	stdio_close_child(s);
	c->init_pid = pid;
	c->exec_r = fds[0];
	c->status_r = fds[2];
	fcntl(c->exec_r, F_SETFL, fcntl(c->exec_r, F_GETFL) | O_NONBLOCK);
	fcntl(c->status_r, F_SETFL, fcntl(c->status_r, F_GETFL) | O_NONBLOCK);
	return 0;
}

void container_destroy(struct container *c)
{
	if (c->init_pid > 0) {
		kill(c->init_pid, SIGKILL);
		waitpid(c->init_pid, NULL, 0);
		c->init_pid = -1;
	}
	if (c->exec_r >= 0)
		close(c->exec_r);
	if (c->status_r >= 0)
		close(c->status_r);
	if (c->start_w >= 0)
		close(c->start_w);
	c->exec_r = c->status_r = c->start_w = -1;
}
