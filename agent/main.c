/*
 * sandbox-agent entry point.
 *
 * As the guest's PID 1 (no arguments): basic mounts, dial the host, serve one run, power off.
 *
 * TEST HOOK (host-mode tests only, never used in the guest):
 *   sandbox-agent --test-connect SOCKET --test-rootfs DIR [--test-run-dir DIR]
 * connects to a unix socket instead of vsock, skips the PID-1 mounts, the clock and the
 * power-off, works in a private mount namespace, and uses DIR (bind-mounted read-only) as the
 * overlay's lower layer instead of the RUN's block device.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"
#include "net.h"

#define GUEST_RUN_DIR "/run/c"
/* How long PID 1 waits for the host to close the connection before powering off anyway. */
#define HOST_CLOSE_WAIT_MS 10000

struct opts {
	const char *test_connect, *test_rootfs, *test_run_dir;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"test-connect", required_argument, NULL, 'c'},
	    {"test-rootfs", required_argument, NULL, 'r'},
	    {"test-run-dir", required_argument, NULL, 'd'},
	    {0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->test_connect = optarg;
			break;
		case 'r':
			o->test_rootfs = optarg;
			break;
		case 'd':
			o->test_run_dir = optarg;
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

static int64_t ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * The host closes its end once it has read EXIT or ERROR. Until then those last frames may still
 * sit in this kernel's vsock send queue (a worker moves them to the virtqueue) or in the VMM's
 * device, and the reset that powers the VM off waits for neither: powering off at once lost the
 * exit status under load. So half-close, then wait for the host's EOF (bounded).
 */
static void pid1_wait_host_close(int fd)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += HOST_CLOSE_WAIT_MS / 1000;
	shutdown(fd, SHUT_WR);
	for (;;) {
		int64_t left = ms_left(&deadline);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			agent_console("the host did not close the connection; powering off");
			return;
		}
		char buf[512];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

__attribute__((noreturn)) static void pid1_main(void)
{
	struct sbx_err err = {0};
	agent_stage_enable();
	agent_stage(AGENT_STAGE_STARTED);
	pid1_mount_basics();
	/* Done before the template point, so a clone starts with it (agent.h). */
	if (container_prewarm(GUEST_RUN_DIR, &err) < 0)
		agent_console("prepare the container mounts in advance: %s", err.msg);
	agent_net_prewarm();
	if (agent_template_requested("/proc/cmdline"))
		agent_template_point();
	int fd = pid1_dial_host(&err);
	if (fd < 0) {
		agent_console("%s", err.msg);
		pid1_poweroff();
	}
	agent_stage(AGENT_STAGE_CONNECTED);
	agent_exec_dial = pid1_dial_host;
	const struct agent_cfg cfg = {.run_dir = GUEST_RUN_DIR,
				      .set_clock = true,
				      .sys_block_dir = "/sys/block",
				      .seed_rng = true,
				      .hold_mnt_ns = true,
				      .vsock_cid = agent_conn_cid(fd)};
	if (agent_serve(fd, &cfg, &err) < 0)
		agent_console("%s", err.msg);
	agent_stage(AGENT_MARK_SERVED);
	pid1_wait_host_close(fd);
	agent_stage(AGENT_STAGE_EXITING);
	close(fd);
	pid1_poweroff();
}

static int test_connect(const char *path, struct sbx_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "socket path '%s' too long", path);
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return sbx_err_set(err, errno, "connect '%s'", path);
	return steal_fd(fd);
}

/* TEST HOOK: see the top of this file. */
static int test_main(const struct opts *o)
{
	struct sbx_err err = {0};
	char tmpl[] = "/tmp/sandbox-agent.XXXXXX";
	const char *run_dir = o->test_run_dir ? o->test_run_dir : mkdtemp(tmpl);
	int r = run_dir ? 0 : sbx_err_set(&err, errno, "mkdtemp '%s'", tmpl);
	r = r ?: agent_test_isolate(run_dir, &err);
	cleanup_close int fd = r < 0 ? -1 : test_connect(o->test_connect, &err);
	const struct agent_cfg cfg = {.run_dir = run_dir, .test_rootfs = o->test_rootfs};
	if (fd >= 0)
		r = agent_serve(fd, &cfg, &err);
	else
		r = r ?: fd;
	if (r < 0)
		fprintf(stderr, "sandbox-agent: %s\n", err.msg);
	if (run_dir && !o->test_run_dir && umount2(run_dir, MNT_DETACH) == 0)
		rmdir(run_dir);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* As PID 1 the arguments are whatever the kernel did not recognise on its command line
	 * (e.g. "nomodule"): ignore them; exiting here would panic the guest. */
	if (getpid() == 1)
		pid1_main();
	struct opts o = {0};
	if (parse_opts(argc, argv, &o) < 0 || !o.test_connect || !o.test_rootfs) {
		fprintf(stderr, "usage: sandbox-agent (as PID 1 of the guest)\n"
				"       sandbox-agent --test-connect SOCKET --test-rootfs DIR "
				"[--test-run-dir DIR]\n");
		return 2;
	}
	return test_main(&o);
}
