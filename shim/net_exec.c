/* Tool runner and tap creation for shim/net_*.c (shim/net_exec.h). */
#include "net_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

static const char *const tool_dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

static void child(const char *const argv[], int in, int out, int errfd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(in, 0);
	dup2(out, 1);
	dup2(errfd, 2);
	char path[256];
	for (size_t i = 0; i < ARRAY_SIZE(tool_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", tool_dirs[i], argv[0]);
		execv(path, (char *const *)argv);
	}
	dprintf(2, "%s: not installed (apt-get install iproute2 nftables)\n", argv[0]);
	_exit(127);
}

/* Feeds input, collects stdout and stderr until both close. */
static void pump(int in_w, const char *input, int out_r, char *out, size_t out_cap, int err_r,
		 char *errbuf, size_t err_cap)
{
	size_t in_left = input ? strlen(input) : 0, out_n = 0, err_n = 0;
	struct pollfd p[3] = {{.fd = out_r, .events = POLLIN},
			      {.fd = err_r, .events = POLLIN},
			      {.fd = in_left ? in_w : -1, .events = POLLOUT}};
	if (!in_left)
		close(in_w);
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in_w, input, in_left);
			if (w > 0) {
				input += w;
				in_left -= (size_t)w;
			}
			if (w < 0 || in_left == 0) {
				close(in_w);
				p[2].fd = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char tmp[4096];
			ssize_t n = read(p[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				p[i].fd = -1;
				continue;
			}
			char *dst = i == 0 ? out : errbuf;
			size_t cap = i == 0 ? out_cap : err_cap, *have = i == 0 ? &out_n : &err_n;
			size_t take = dst && *have + 1 < cap ? cap - 1 - *have : 0;
			if (take > (size_t)n)
				take = (size_t)n;
			if (take)
				memcpy(dst + *have, tmp, take);
			*have += take;
		}
	}
	if (p[2].fd >= 0)
		close(in_w);
	if (out && out_cap)
		out[out_n] = '\0';
	errbuf[err_n] = '\0';
}

int net_exec(const char *const argv[], const char *input, char *out, size_t out_cap,
	     struct sbx_err *err)
{
	int in[2], o[2], e[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "pipe");
	if (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
		int x = errno;
		close(in[0]), close(in[1]);
		return sbx_err_set(err, x, "pipe");
	}
	pid_t pid = fork();
	if (pid == 0)
		child(argv, in[0], o[1], e[1]);
	close(in[0]), close(o[1]), close(e[1]);
	char errbuf[512];
	if (pid < 0) {
		close(in[1]), close(o[0]), close(e[0]);
		return sbx_err_set(err, errno, "fork %s", argv[0]);
	}
	/* A tool that dies before reading its input must not take `sandbox` with it. */
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	pump(in[1], input, o[0], out, out_cap, e[0], errbuf, sizeof(errbuf));
	signal(SIGPIPE, old_pipe);
	close(o[0]), close(e[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	errbuf[strcspn(errbuf, "\n")] = '\0';
	char cmd[160] = "";
	for (size_t i = 0, n = 0; argv[i] && n < sizeof(cmd) - 1; i++)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s%s", i ? " " : "", argv[i]);
	return sbx_err_setx(err, EIO, "'%s' failed: %s", cmd, errbuf[0] ? errbuf : "no message");
}

int net_tap_create(const char *name, struct sbx_err *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	if (strlen(name) >= IFNAMSIZ)
		return sbx_err_setx(err, ENAMETOOLONG, "tap name '%s' is too long", name);
	memcpy(ifr.ifr_name, name, strlen(name));
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open /dev/net/tun");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "create tap '%s'", name);
	}
	return fd;
}
