/*
 * The OCI hooks that run in the guest (docs/oci.md, "hooks"), in runc's places:
 *
 *   createContainer  the container init, its root switched, its mounts made and its cgroup
 *                    joined; before its sysctls, masked and read-only paths (runc's order) and
 *                    before the workload forks;
 *   startContainer   the workload, after START, its user, groups, cwd and security settings
 *                    (capabilities, no_new_privs, the vsock and OCI seccomp filters), right
 *                    before its execve.
 *
 * Both run in the container's namespaces and root: runc resolves a createContainer hook's path
 * in the runtime's mount namespace, but the guest's holds nothing but the agent, so here the
 * path is the container's (the container's root is that of the init already, so the hook child
 * inherits it). The startContainer hooks run under the workload's seccomp filters, as in runc:
 * the binary comes from the container's image, so it gets no more than the workload would.
 *
 * Each hook: stdin the state JSON (a memfd, so a hook that never reads cannot block us, and a
 * hook that exits early cannot SIGPIPE the init), stdout and stderr the container's stderr (its
 * stdout stays the workload's), env and args as given (no args: argv is {path}), killed at its
 * timeout. A failure of any kind fails the container with one line naming the kind, the path
 * and the status, worded as shim/oci_hooks.c words the host hooks' failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static const char *kind_name(enum sbx_hook_kind kind)
{
	return kind == SBX_HOOK_CREATE_CONTAINER ? "createContainer" : "startContainer";
}

static int state_memfd(const char *state, struct sbx_err *err)
{
	int fd = memfd_create("oci-state", MFD_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "hook state: memfd");
	size_t n = state ? strlen(state) : 0, off = 0;
	while (off < n) {
		ssize_t w = write(fd, state + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return sbx_err_set(err, e, "hook state: write");
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "hook state: seek");
	}
	return fd;
}

/* The hook process: a clean signal state (the init blocks everything), then execve. An execve
 * failure goes back as its errno on the CLOEXEC pipe errfd. */
__attribute__((noreturn)) static void hook_child(const struct sbx_run_hook *h, int in, int errfd)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int e = 0;
	if (dup2(in, STDIN_FILENO) < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		e = errno;
	char *dflt[] = {h->path, NULL}, *empty[] = {NULL};
	if (!e) {
		execve(h->path, h->n_args ? h->args : dflt, h->n_env ? h->env : empty);
		e = errno;
	}
	ssize_t w = write(errfd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Waits for pid (SIGCHLD blocked by the caller) up to timeout_s; kills it then. Returns its
 * wait status, or -ETIMEDOUT. */
static int hook_wait(pid_t pid, uint32_t timeout_s)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_s;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		int st;
		pid_t p = waitpid(pid, &st, WNOHANG);
		if (p == pid)
			return st;
		if (p < 0 && errno != EINTR)
			return -errno;
		long left = ms_left(&end);
		if (left <= 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -ETIMEDOUT;
		}
		struct timespec ts = {left / 1000, (left % 1000) * 1000000};
		sigtimedwait(&chld, NULL, &ts); /* a SIGCHLD, or the time is up: look again */
	}
}

static int hook_run(const struct sbx_run_hook *h, enum sbx_hook_kind kind, const char *state,
		    struct sbx_err *err)
{
	const char *k = kind_name(kind);
	int in = state_memfd(state, err), p[2];
	if (in < 0)
		return in;
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;
		close(in);
		return sbx_err_set(err, e, "%s hook '%s': pipe", k, h->path);
	}
	pid_t pid = fork();
	if (pid == 0)
		hook_child(h, in, p[1]);
	int fork_errno = errno;
	close(in);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return sbx_err_set(err, fork_errno, "%s hook '%s': fork", k, h->path);
	}
	int st = hook_wait(pid, h->timeout_s);
	int exec_errno = 0;
	ssize_t n = st == -ETIMEDOUT ? 0 : read(p[0], &exec_errno, sizeof(exec_errno));
	close(p[0]);
	if (st == -ETIMEDOUT)
		return sbx_err_setx(err, ETIMEDOUT, "%s hook '%s' timed out after %u s", k, h->path,
				    h->timeout_s);
	if (st < 0)
		return sbx_err_set(err, -st, "%s hook '%s': wait", k, h->path);
	if (n == (ssize_t)sizeof(exec_errno) && exec_errno > 0)
		return sbx_err_set(err, exec_errno, "%s hook '%s': exec", k, h->path);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		return sbx_err_setx(err, ECANCELED, "%s hook '%s' killed by signal %d", k, h->path,
				    WTERMSIG(st));
	return sbx_err_setx(err, ECANCELED, "%s hook '%s' exited with status %d", k, h->path,
			    WEXITSTATUS(st));
}

int agent_hooks_run(const struct sbx_run_req *req, enum sbx_hook_kind kind, struct sbx_err *err)
{
	const struct sbx_run_hooks *l = &req->hooks[kind];
	if (!l->n)
		return 0;
	/* SIGCHLD blocked, so hook_wait can sleep in sigtimedwait; one left pending by a hook is
	 * taken before the old mask comes back (the init forwards what it receives). */
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	int r = 0;
	for (size_t i = 0; r == 0 && i < l->n; i++)
		r = hook_run(&l->v[i], kind, l->state, err);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&chld, NULL, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
