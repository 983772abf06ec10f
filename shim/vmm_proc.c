#include "vmm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define VMM_MAX_ARGS 32

#define PUSH(...)                                                                                  \
	do {                                                                                       \
		const char *_a[] = {__VA_ARGS__};                                                  \
		for (size_t _i = 0; _i < ARRAY_SIZE(_a); _i++)                                     \
			argv[n++] = _a[_i];                                                        \
	} while (0)

/* Boot source: kernel + initramfs for a cold boot (or template build), or a snapshot. */
static int argv_source(const char **argv, int n, char bufs[][32], const struct sandbox_paths *p,
		       const struct vmm_cfg *cfg)
{
	if (cfg->restore_dir) {
		PUSH("--restore", cfg->restore_dir);
		return n;
	}
	snprintf(bufs[0], 32, "%u", cfg->cpus);
	snprintf(bufs[1], 32, "%u", cfg->memory_mib);
	PUSH("--kernel", p->kernel, "--initrd", p->initrd, "--cpus", bufs[0], "--memory", bufs[1]);
	if (cfg->empty_disk)
		PUSH("--empty-disk");
	if (cfg->snapshot_to)
		PUSH("--snapshot-to", cfg->snapshot_to);
	PUSH("--rng"); /* a restored VM has the template's devices */
	if (cfg->cmdline_extra)
		PUSH("--cmdline", cfg->cmdline_extra);
	return n;
}

static void build_argv(const char **argv, char bufs[][32], const struct sandbox_paths *p,
		       const struct vmm_cfg *cfg)
{
	int n = 0;
	argv[n++] = p->vmm;
	n = argv_source(argv, n, bufs, p, cfg);
	if (cfg->disk)
		PUSH("--disk", cfg->disk);
	snprintf(bufs[2], 32, "%u", cfg->vsock_cid);
	PUSH("--vsock-cid", bufs[2], "--vsock-uds", cfg->vsock_uds);
	if (cfg->serial_log && !cfg->debug)
		PUSH("--serial-log", cfg->serial_log);
	if (cfg->debug)
		PUSH("--debug");
	if (cfg->boot_timer)
		PUSH("--boot-timer", cfg->boot_timer);
	argv[n] = NULL;
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_exec(const char **argv, const struct vmm_cfg *cfg, pid_t parent, int errpipe)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0)
		dup2(null, 0);
	if (!cfg->debug && cfg->stderr_log) {
		int fd = open(cfg->stderr_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
		}
	}
	if (null >= 0)
		dup2(cfg->debug ? 2 : null, 1);
	execv(argv[0], (char *const *)argv);
	int e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

int vmm_spawn(struct vmm_proc *v, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
	      struct sbx_err *err)
{
	const char *argv[VMM_MAX_ARGS];
	char bufs[3][32];
	build_argv(argv, bufs, p, cfg);

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "pipe");
	cleanup_close int rd = pipefd[0];
	cleanup_close int wr = pipefd[1];
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return sbx_err_set(err, errno, "fork");
	if (pid == 0)
		child_exec(argv, cfg, parent, wr);
	close(steal_fd(wr));
	v->pid = pid;
	v->reaped = false;
	v->status = 0;
	v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (v->pidfd < 0) {
		int e = errno;
		vmm_stop(v);
		return sbx_err_set(err, e, "pidfd_open");
	}
	int child_errno;
	ssize_t n = read(rd, &child_errno, sizeof(child_errno));
	if (n == sizeof(child_errno)) {
		vmm_stop(v);
		return sbx_err_set(err, child_errno, "exec '%s'", p->vmm);
	}
	return 0;
}

int vmm_wait(struct vmm_proc *v, int timeout_ms)
{
	if (v->reaped)
		return 0;
	struct pollfd pfd = {.fd = v->pidfd, .events = POLLIN};
	int r;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	int st;
	pid_t w;
	do
		w = waitpid(v->pid, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w == v->pid) {
		v->status = st;
		v->reaped = true;
	}
	if (v->pidfd >= 0) {
		close(v->pidfd);
		v->pidfd = -1;
	}
	return 0;
}

void vmm_stop(struct vmm_proc *v)
{
	if (v->pid <= 0 || v->reaped)
		goto out;
	kill(v->pid, SIGKILL);
	int st;
	while (waitpid(v->pid, &st, 0) < 0 && errno == EINTR)
		;
	v->status = st;
	v->reaped = true;
out:
	if (v->pidfd >= 0) {
		close(v->pidfd);
		v->pidfd = -1;
	}
}

const char *vmm_exit_reason(int status)
{
	if (WIFSIGNALED(status))
		return WTERMSIG(status) == SIGKILL ? "the VMM was killed" : "the VMM crashed";
	switch (WEXITSTATUS(status)) {
	case 0:
		return "the guest shut down";
	case 1:
		return "the VMM failed";
	case 3:
		return "the guest kernel panicked";
	case 4:
		return "the guest CPU hit an emulation failure";
	case 5:
		return "the guest stopped with an unhandled fault";
	default:
		return "the VMM exited unexpectedly";
	}
}
