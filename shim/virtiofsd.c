/*
 * virtiofsd supervision. We create the listening socket ourselves and hand it to the daemon
 * (--fd): the path exists and accepts connections (queued in the backlog) before the daemon has
 * even started, so the VMM never races it and there is nothing to poll for.
 */
#include "virtiofsd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define VIRTIOFSD_SOCKET_FD 3 /* the fd number the daemon gets its socket on */
/* After SIGTERM, how long the daemon gets before SIGKILL. */
#define VIRTIOFSD_STOP_GRACE_MS 2000

void virtiofsd_init(struct virtiofsd *d)
{
	*d = (struct virtiofsd){.pid = -1, .pidfd = -1};
}

static int listen_socket(const char *path, struct sbx_err *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "virtiofsd socket path '%s' is too long",
				    path);
	strcpy(addr.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbx_err_set(err, errno, "socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
		return sbx_err_set(err, errno, "listen on '%s'", path);
	return steal_fd(fd);
}

/*
 * Child, before exec: a private mount namespace in which a read-only share is a read-only
 * bind mount (dies with the namespace: nothing to clean up on the host).
 */
static int make_readonly(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
		0)
		return -1;
	return 0;
}

/* Runs between fork and exec: async-signal-safe calls only; failures exit 127 (logged). */
static void child_exec(char *const argv[], const char *dir, bool readonly, int sock, int log,
		       pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 ||
	    dup2(sock, VIRTIOFSD_SOCKET_FD) < 0)
		_exit(127);
	if (readonly && make_readonly(dir) < 0) {
		static const char msg[] = "sandbox: cannot make the share read-only\n";
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(127);
		_exit(127);
	}
	execv(argv[0], argv);
	static const char msg[] = "sandbox: cannot execute virtiofsd\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static const char *daemon_path(void)
{
	const char *p = getenv(VIRTIOFSD_PATH_ENV);
	return p && p[0] ? p : VIRTIOFSD_DEFAULT_PATH;
}

static int check_dir(const char *dir, struct sbx_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return sbx_err_set(err, errno, "shared directory '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return sbx_err_setx(err, ENOTDIR, "shared directory '%s' is not a directory", dir);
	return 0;
}

static int spawn(const char *dir, bool readonly, int sock, struct virtiofsd *d, struct sbx_err *err)
{
	const char *bin = daemon_path();
	if (access(bin, X_OK) < 0)
		return sbx_err_set(err, errno, "virtiofsd '%s' (Debian: qemu-system-common)", bin);
	char source[PATH_MAX + 16], fdarg[32];
	if ((size_t)snprintf(source, sizeof(source), "source=%s", dir) >= sizeof(source))
		return sbx_err_setx(err, ENAMETOOLONG, "shared directory path too long");
	snprintf(fdarg, sizeof(fdarg), "--fd=%d", VIRTIOFSD_SOCKET_FD);
	/* cache=auto: guest page cache with close-to-open consistency (docs/virtiofs.md). */
	char *const argv[] = {(char *)bin, fdarg,	    "-o", source, "-o", "cache=auto",
			      "-o",	   "log_level=err", NULL};
	cleanup_close int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log < 0)
		return sbx_err_set(err, errno, "open '%s'", d->log);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return sbx_err_set(err, errno, "fork");
	if (pid == 0)
		child_exec(argv, dir, readonly, sock, log, parent);
	/* Also from here: a stop between fork and the child's own setpgid reaches the group. */
	setpgid(pid, pid);
	d->pid = pid;
	d->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (d->pidfd < 0) {
		int e = errno;
		virtiofsd_stop(d);
		return sbx_err_set(err, e, "pidfd_open virtiofsd");
	}
	return 0;
}

int virtiofsd_start(const char *dir, const char *sock, bool readonly, struct virtiofsd *d,
		    struct sbx_err *err)
{
	virtiofsd_init(d);
	int r = check_dir(dir, err);
	if (r < 0)
		return r;
	if ((size_t)snprintf(d->socket, sizeof(d->socket), "%s", sock) >= sizeof(d->socket) ||
	    (size_t)snprintf(d->log, sizeof(d->log), "%s.log", sock) >= sizeof(d->log))
		return sbx_err_setx(err, ENAMETOOLONG, "virtiofsd socket path '%s' is too long",
				    sock);
	cleanup_close int fd = listen_socket(sock, err);
	if (fd < 0) {
		d->socket[0] = d->log[0] = '\0';
		return fd;
	}
	r = spawn(dir, readonly, fd, d, err);
	if (r < 0) {
		virtiofsd_stop(d);
		return sbx_err_wrap(err, "start virtiofsd for '%s'", dir);
	}
	return 0;
}

static bool wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

void virtiofsd_unlink_socket(struct virtiofsd *d)
{
	if (d->socket[0])
		unlink(d->socket);
	if (d->log[0])
		unlink(d->log); /* the daemon keeps writing to its open fd */
	d->socket[0] = d->log[0] = '\0';
}

void virtiofsd_stop(struct virtiofsd *d)
{
	if (d->pid > 0) {
		/* The group: virtiofsd forks a sandboxed child that stays in it. */
		kill(-d->pid, SIGTERM);
		if (d->pidfd < 0 || !wait_exit(d->pidfd, VIRTIOFSD_STOP_GRACE_MS))
			kill(-d->pid, SIGKILL);
		kill(-d->pid, SIGKILL); /* the sandbox child, if its parent went first */
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (d->pidfd >= 0)
			close(d->pidfd);
	}
	if (d->socket[0])
		unlink(d->socket);
	if (d->log[0])
		unlink(d->log);
	virtiofsd_init(d);
}
