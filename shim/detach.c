/* `sandbox run -d`: the OCI monitor runs the image's process in the background. */
#include "detach.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"
#include "oci_log.h"
#include "oci_state.h"
#include "rundir.h"

/* The process runs well within this once the VM is up (it only has to execve). */
#define START_WAIT_MS 30000

static int check_opts(const struct run_opts *o)
{
	if (!o->detach)
		return oci_fail("run: --name goes with -d (detached containers)");
	if (!o->image)
		return oci_fail("run: -d needs an IMAGE (not --rootfs)");
	if (o->tty || o->interactive)
		return oci_fail("run: -d cannot be combined with -t or -i (nothing to attach to)");
	return 0;
}

static void make_id(const struct run_opts *o, char *id, size_t cap)
{
	if (o->name) {
		snprintf(id, cap, "%s", o->name);
		return;
	}
	unsigned char b[6] = {0};
	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		pid_t p = getpid();
		memcpy(b, &p, sizeof(p));
	}
	snprintf(id, cap, "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

/* The command as ps shows it: the overrides given on the command line, else the image's. */
static char *command_text(const struct run_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	if (o->entrypoint)
		fprintf(f, "%s", o->entrypoint);
	for (int i = 0; i < o->argc; i++)
		fprintf(f, "%s%s", (i || o->entrypoint) ? " " : "", o->argv[i]);
	if (!o->entrypoint && !o->argc)
		fprintf(f, "(image default)");
	fclose(f);
	return buf;
}

static int make_dir(const char *id, char *dir, size_t cap)
{
	if (mkdir(oci_g.root, 0700) < 0 && errno != EEXIST)
		return oci_fail("create state root '%s': %s", oci_g.root, strerror(errno));
	oci_state_dir(id, dir, cap);
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return oci_fail("the name '%s' is already in use by a container "
					"(remove it with 'sandbox rm %s')",
					id, id);
		return oci_fail("create '%s': %s", dir, strerror(errno));
	}
	return 0;
}

/* In the child: stdio to /dev/null and the log, then the monitor; never returns. */
static void monitor_child(const char *id, const struct run_opts *o, const struct oci_spec *spec,
			  int notify_fd, int log_fd)
{
	setsid(); /* the caller's terminal signals are not the container's */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		_exit(OCI_EXIT_FAILED);
	struct monitor_cfg cfg = {.id = id,
				  .bundle = "",
				  .spec = spec,
				  .notify_fd = notify_fd,
				  .auto_start = true,
				  .opts = o};
	_exit(monitor_run(&cfg));
}

/* Reads the monitor's one-line verdict: "ok" or "error: MSG". */
static void read_verdict(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n + 1 < cap &&
	       ((k = read(fd, buf + n, cap - 1 - n)) > 0 || (k < 0 && errno == EINTR)))
		n += k > 0 ? (size_t)k : 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * "ok" means created; the monitor then starts the process at once. docker's run -d returns
 * with the container running, so scripts can exec into it right away.
 */
static int wait_started(const char *id)
{
	for (int i = 0; i < START_WAIT_MS / 50; i++) {
		struct oci_state st;
		struct sbx_err err = {0};
		if (oci_state_read(id, &st, &err) < 0)
			return oci_fail("%s", err.msg);
		enum oci_status s = oci_state_status(&st);
		oci_state_free(&st);
		if (s != OCI_CREATED && s != OCI_CREATING)
			return 0; /* running, or already exited: ps and logs tell */
		struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int start_monitor(const char *id, const char *dir, const struct run_opts *o,
			 struct oci_spec *spec)
{
	char log[PATH_MAX];
	oci_state_file(id, DETACH_LOG, log, sizeof(log));
	int log_fd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return oci_fail("create '%s': %s", log, strerror(errno));
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(log_fd);
		return oci_fail("pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(log_fd);
		close(p[0]);
		close(p[1]);
		return oci_fail("fork the monitor: %s", strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		monitor_child(id, o, spec, p[1], log_fd);
	}
	close(p[1]);
	close(log_fd);
	char buf[1200];
	read_verdict(p[0], buf, sizeof(buf));
	close(p[0]);
	if (!strcmp(buf, "ok"))
		return wait_started(id);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rmtree(dir);
	return oci_fail("%s", !strncmp(buf, "error: ", 7) ? buf + 7 : "the monitor died");
}

int detach_run(const struct run_opts *o)
{
	if (check_opts(o) != 0)
		return OCI_EXIT_FAILED;
	char id[OCI_ID_MAX + 1], dir[PATH_MAX];
	struct sbx_err err = {0};
	make_id(o, id, sizeof(id));
	if (oci_id_check(id, &err) < 0)
		return oci_fail("run: --name: %s", err.msg);
	char *cmd = command_text(o);
	if (!cmd)
		return oci_fail("out of memory");
	struct oci_kv ann[] = {{.key = DETACH_ANN_IMAGE, .value = (char *)o->image},
			       {.key = DETACH_ANN_COMMAND, .value = cmd}};
	struct oci_spec spec = {.annotations = ann, .n_annotations = 2};
	int r = make_dir(id, dir, sizeof(dir));
	if (r == 0)
		r = start_monitor(id, dir, o, &spec);
	free(cmd);
	if (r == 0)
		printf("%s\n", id);
	return r;
}
