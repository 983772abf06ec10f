/*
 * What the agent does as the guest's PID 1 before and after the container: the basic mounts,
 * a console, boot-timer stage bytes, dialing the host over vsock, and powering off.
 *
 * PID 1 must never exit (the kernel panics): every path ends in pid1_poweroff().
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "../common/cleanup.h"
#include "agent.h"

#define BOOT_TIMER_PORT 0x440 /* VMM logs each byte written here (docs/architecture.md) */
#define DIAL_TOTAL_MS 10000   /* the vsock device may still be coming up */
#define DIAL_MAX_BACKOFF_MS 100
#define DIAL_CONNECT_TIMEOUT_S 60 /* one connect attempt */

static bool stage_enabled;

void agent_console(const char *fmt, ...)
{
	char line[SBX_ERR_MSG_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so that lines from concurrent writers do not interleave. */
	dprintf(STDERR_FILENO, "sandbox-agent: %.*s", n, line);
}

uint64_t agent_boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Only the guest has the boot-timer port; on a host, ioperm fails (or must not be tried). */
void agent_stage_enable(void)
{
	stage_enabled = ioperm(BOOT_TIMER_PORT, 1, 1) == 0;
}

void agent_stage(enum agent_stage stage)
{
	if (stage_enabled)
		outb((unsigned char)stage, BOOT_TIMER_PORT);
}

/* The initramfs holds only /init, so there may be no console on fds 0-2 until /dev exists. */
static void attach_console(void)
{
	if (fcntl(STDERR_FILENO, F_GETFD) >= 0)
		return;
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static void mount_one(const char *src, const char *dst, const char *type, unsigned long fl,
		      const char *data)
{
	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		agent_console("mkdir %s: %s", dst, strerror(errno));
	if (mount(src, dst, type, fl, data) < 0 && errno != EBUSY)
		agent_console("mount %s on %s: %s", type, dst, strerror(errno));
}

void pid1_mount_basics(void)
{
	const unsigned long nse = MS_NOSUID | MS_NOEXEC | MS_NODEV;
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	attach_console();
	mount_one("proc", "/proc", "proc", nse, NULL);
	mount_one("sysfs", "/sys", "sysfs", nse, NULL);
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int pid1_dial_host(struct sbx_err *err)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = SBX_AGENT_PORT};
	long waited = 0, backoff = 1;
	for (;;) {
		int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return sbx_err_set(err, errno, "socket AF_VSOCK");
		/* The kernel's default is 2 s: a VMM starved on a loaded host can answer later than
		 * that, and a dial given up after the host side was connected looks to the host
		 * like an agent that hung up (shim/session.c waits for the next dial; this avoids
		 * it). */
		struct timeval tv = {.tv_sec = DIAL_CONNECT_TIMEOUT_S};
		setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (waited >= DIAL_TOTAL_MS)
			return sbx_err_set(err, e,
					   "connect vsock CID %u port %u (gave up after %ld ms)",
					   VMADDR_CID_HOST, SBX_AGENT_PORT, waited);
		sleep_ms(backoff);
		waited += backoff;
		backoff = backoff * 2 > DIAL_MAX_BACKOFF_MS ? DIAL_MAX_BACKOFF_MS : backoff * 2;
	}
}

__attribute__((noreturn)) void pid1_poweroff(void)
{
	sync();
	agent_stage(AGENT_MARK_REBOOT);
	/* The kernel runs with reboot=k: a reboot is the keyboard-controller reset the VMM
	 * treats as "guest ended". */
	reboot(RB_AUTOBOOT);
	agent_console("reboot: %s; halting here", strerror(errno));
	for (;;)
		pause();
}

/*
 * TEST HOOK (host-mode tests): keep every mount the agent makes inside a private mount
 * namespace, with a throwaway tmpfs at run_dir, so nothing leaks onto the host.
 */
int agent_test_isolate(const char *run_dir, struct sbx_err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return sbx_err_set(err, errno, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sbx_err_set(err, errno, "make / private");
	if (mount("tmpfs", run_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return sbx_err_set(err, errno, "mount tmpfs on '%s'", run_dir);
	return 0;
}
