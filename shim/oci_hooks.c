#include "oci_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "oci_log.h"

#define HOOK_DEFAULT_TIMEOUT_S 120

__attribute__((noreturn)) static void hook_exec(const struct oci_hook *h, int in)
{
	dup2(in, STDIN_FILENO);
	char *const dflt[] = {h->path, NULL};
	char *const empty[] = {NULL};
	execve(h->path, h->args && h->n_args ? h->args : dflt, h->env ? h->env : empty);
	fprintf(stderr, "sandbox: exec hook '%s': %s\n", h->path, strerror(errno));
	_exit(127);
}

/* Waits for pid up to timeout_s; kills it on timeout. Returns its wait status or -ETIMEDOUT. */
static int hook_wait(pid_t pid, int timeout_s)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int r;
		while ((r = poll(&p, 1, timeout_s * 1000)) < 0 && errno == EINTR)
			;
		close(pfd);
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -ETIMEDOUT;
		}
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

static int hook_run(const struct oci_hook *h, const char *kind, const char *state, size_t len,
		    struct sbx_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "%s hook '%s': pipe", kind, h->path);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return sbx_err_set(err, errno, "%s hook '%s': fork", kind, h->path);
	}
	if (pid == 0) {
		close(p[1]);
		hook_exec(h, p[0]);
	}
	close(p[0]);
	/* The state is small (< pipe buffer); a hook that ignores stdin must not block us. */
	signal(SIGPIPE, SIG_IGN);
	ssize_t w = write(p[1], state, len);
	(void)w;
	close(p[1]);
	int st = hook_wait(pid, h->timeout > 0 ? h->timeout : HOOK_DEFAULT_TIMEOUT_S);
	if (st == -ETIMEDOUT)
		return sbx_err_setx(err, ETIMEDOUT, "%s hook '%s' timed out", kind, h->path);
	if (st < 0)
		return sbx_err_set(err, -st, "%s hook '%s': wait", kind, h->path);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		return sbx_err_setx(err, ECANCELED, "%s hook '%s' killed by signal %d", kind,
				    h->path, WTERMSIG(st));
	return sbx_err_setx(err, ECANCELED, "%s hook '%s' exited with status %d", kind, h->path,
			    WEXITSTATUS(st));
}

int oci_hooks_run(const struct oci_spec *spec, enum oci_hook_kind kind, const struct oci_state *st,
		  struct sbx_err *err)
{
	const struct oci_hook_list *l = &spec->hooks[kind];
	if (!l->n)
		return 0;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return sbx_err_set(err, errno, "%s hooks: state", oci_hook_kind_name(kind));
	oci_state_print(f, st);
	fclose(f);
	for (size_t i = 0; i < l->n; i++) {
		oci_debug("running %s hook %s", oci_hook_kind_name(kind), l->v[i].path);
		int r = hook_run(&l->v[i], oci_hook_kind_name(kind), buf, len, err);
		if (r < 0)
			return r;
	}
	return 0;
}
