#include "vmm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "jail_vmm.h"

#define VMM_MAX_ARGS (36 + 2 * VMM_MAX_FS)

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
		       const struct vmm_cfg *cfg, const char *id)
{
	int n = 0;
	argv[n++] = p->vmm;
	if (id[0])
		PUSH("--id", id);
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
	if (cfg->guest_profile)
		PUSH("--guest-profile", cfg->guest_profile);
	static char fs_arg[VMM_MAX_FS][PATH_MAX + 48]; /* vmm_spawn runs on one thread */
	for (unsigned i = 0; i < cfg->n_fs && i < VMM_MAX_FS; i++) {
		const struct vmm_fs *f = &cfg->fs[i];
		snprintf(fs_arg[i], sizeof(fs_arg[i]), "tag=%s%s%s", f->tag,
			 f->socket ? ",socket=" : "", f->socket ? f->socket : "");
		PUSH("--fs", fs_arg[i]);
	}
	if (cfg->net_arg)
		PUSH("--net", cfg->net_arg);
	else if (!cfg->restore_dir)
		PUSH("--net",
		     "none"); /* templates carry a slot a clone fills (docs/networking.md) */
	argv[n] = NULL;
}

/* What the child reports when it cannot exec: errno and the step that failed. */
struct child_error {
	int code;
	char what[96];
};

static void child_fail(int errpipe, int code, const char *what)
{
	struct child_error ce = {.code = code};
	strncpy(ce.what, what, sizeof(ce.what) - 1);
	if (write(errpipe, &ce, sizeof(ce)) < 0)
		_exit(127);
	_exit(127);
}

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void child_exec(const char **argv, const struct vmm_cfg *cfg, pid_t parent, int errpipe,
		       const struct jail *jail)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	/* In its own pid namespace (jail) the parent is outside: getppid() is 0 there. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != (jail ? 0 : parent))
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
	if (cfg->net_fd > 2 && fcntl(cfg->net_fd, F_SETFD, 0) < 0)
		child_fail(errpipe, errno, "keep the tap fd open");
	const char *what = "exec";
	int r = jail ? jail_enter(jail, &what) : 0;
	if (r < 0)
		child_fail(errpipe, -r, what);
	execv(argv[0], (char *const *)argv);
	child_fail(errpipe, errno, "exec");
}

int vmm_spawn(struct vmm_proc *v, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
	      struct sbx_err *err)
{
	const char *argv[VMM_MAX_ARGS];
	char bufs[3][32];
	struct sandbox_paths jp;
	struct vmm_cfg jcfg;
	v->jail = NULL;
	if (cfg->jail) {
		if (!(v->jail = malloc(sizeof(*v->jail))))
			return sbx_err_set(err, ENOMEM, "jail");
		int r = jail_vmm_prepare(v->jail, p, cfg, &jp, &jcfg, err);
		if (r < 0) {
			free(steal_ptr(v->jail));
			return r;
		}
	}
	/* The host-side run directory (where its sockets are) names the VMM, jailed or not. */
	char uds[PATH_MAX], id[PATH_MAX] = "";
	if (cfg->vsock_uds) {
		snprintf(uds, sizeof(uds), "%s", cfg->vsock_uds);
		snprintf(id, sizeof(id), "%s", dirname(uds));
	}
	build_argv(argv, bufs, v->jail ? &jp : p, v->jail ? &jcfg : cfg, id);

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "pipe");
	cleanup_close int rd = pipefd[0];
	cleanup_close int wr = pipefd[1];
	pid_t parent = getpid();
	pid_t pid = v->jail ? jail_clone() : fork();
	if (pid < 0) {
		int e = errno;
		v->pid = v->pidfd = -1;
		vmm_stop(v); /* releases the jail */
		return sbx_err_set(err, e, "fork");
	}
	if (pid == 0)
		child_exec(argv, cfg, parent, wr, v->jail);
	close(steal_fd(wr));
	v->pid = pid;
	v->reaped = false;
	v->status = 0;
	snprintf(v->serial_log, sizeof(v->serial_log), "%s",
		 cfg->serial_log && !cfg->debug ? cfg->serial_log : "");
	v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (v->pidfd < 0) {
		int e = errno;
		vmm_stop(v);
		return sbx_err_set(err, e, "pidfd_open");
	}
	struct child_error ce;
	ssize_t n = read(rd, &ce, sizeof(ce));
	if (n == sizeof(ce)) {
		vmm_stop(v);
		ce.what[sizeof(ce.what) - 1] = '\0';
		if (strcmp(ce.what, "exec"))
			return sbx_err_set(err, ce.code, "jail for '%s': %s", p->vmm, ce.what);
		return sbx_err_set(err, ce.code, "exec '%s'", p->vmm);
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
		jail_release(v->jail);
		free(steal_ptr(v->jail));
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
	if (v->reaped || v->pid <= 0) {
		jail_release(v->jail);
		free(steal_ptr(v->jail));
	}
	if (v->pidfd >= 0) {
		close(v->pidfd);
		v->pidfd = -1;
	}
}

const char *vmm_exit_reason(int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return "the VMM made a system call outside its seccomp allowlist (SIGSYS)";
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

#define KILLED_INIT "Attempted to kill init! exitcode=0x"

/* The exit code in the console's last "Attempted to kill init!" panic line; false if none. */
static bool console_init_death(const char *serial_log, unsigned *exitcode)
{
	cleanup_fclose FILE *f = serial_log[0] ? fopen(serial_log, "re") : NULL;
	if (!f)
		return false;
	char line[512];
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, KILLED_INIT);
		if (p && sscanf(p + strlen(KILLED_INIT), "%x", exitcode) == 1)
			found = true;
	}
	return found;
}

void vmm_describe_exit(const struct vmm_proc *v, char *out, size_t cap)
{
	unsigned code;
	/* The console is the guest's own account: read only for a panic the VMM itself saw. */
	if (v->reaped && WIFEXITED(v->status) && WEXITSTATUS(v->status) == 3 &&
	    console_init_death(v->serial_log, &code))
		snprintf(out, cap, "the guest agent (PID 1) died (exitcode=0x%08x)", code);
	else
		snprintf(out, cap, "%s", vmm_exit_reason(v->status));
}
