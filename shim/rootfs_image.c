#include "rootfs_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define MKFS_ERR_MAX 400

static int run_mkfs(const char *dir, const char *image, char *msg, size_t msg_cap)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execlp("mkfs.erofs", "mkfs.erofs", image, dir, (char *)NULL);
		dprintf(2, "exec mkfs.erofs: %s (install erofs-utils)", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	/* mkfs.erofs reports progress on every file: keep reading, remember only the tail. */
	size_t have = 0;
	char buf[4096];
	ssize_t n;
	while ((n = read(pfd[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		size_t keep = msg_cap - 1;
		size_t take = (size_t)n > keep ? keep : (size_t)n;
		if (have + take > keep) {
			size_t drop = have + take - keep;
			memmove(msg, msg + drop, have - drop);
			have -= drop;
		}
		memcpy(msg + have, buf + (size_t)n - take, take);
		have += take;
	}
	msg[have] = '\0';
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return -EIO;
}

int rootfs_image_build(const char *dir, const char *image, struct sbx_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return sbx_err_set(err, errno, "rootfs '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return sbx_err_setx(err, ENOTDIR, "rootfs '%s' is not a directory", dir);
	char msg[MKFS_ERR_MAX];
	int r = run_mkfs(dir, image, msg, sizeof(msg));
	if (r < 0) {
		unlink(image);
		return sbx_err_setx(err, -r, "mkfs.erofs of rootfs '%s' failed: %s", dir,
				    msg[0] ? msg : "no output");
	}
	return 0;
}
