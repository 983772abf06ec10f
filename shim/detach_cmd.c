/* The docker-style commands on detached containers: ps, logs, stop, rm, exec. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "detach.h"
#include "monitor.h"
#include "oci_cmd.h"
#include "oci_log.h"
#include "oci_state.h"
#include "rundir.h"

/* After SIGKILL the guest still has to stop its VM: generous under a slow, shared KVM. */
#define STOP_KILL_WAIT_MS 30000

static const char *annotation(const struct oci_state *st, const char *key)
{
	for (size_t i = 0; i < st->n_annotations; i++)
		if (st->annotations[i].key && !strcmp(st->annotations[i].key, key))
			return st->annotations[i].value;
	return NULL;
}

static int load(const char *cmd, const char *id, struct oci_state *st)
{
	struct sbx_err err = {0};
	if (oci_id_check(id, &err) < 0)
		return oci_fail("%s: %s", cmd, err.msg);
	if (oci_state_read(id, st, &err) < 0) {
		if (err.code == ENOENT)
			return oci_fail("%s: no such container: %s", cmd, id);
		return oci_fail("%s: %s", cmd, err.msg);
	}
	return 0;
}

/* Waits up to ms for the monitor of st to exit; true when it did. */
static bool wait_monitor(const struct oci_state *st, int ms)
{
	if (!oci_state_monitor_alive(st))
		return true;
	int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	if (pfd < 0)
		return !oci_state_monitor_alive(st);
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	poll(&p, 1, ms);
	close(pfd);
	return !oci_state_monitor_alive(st);
}

/* ---- ps ---- */

static void status_text(const struct oci_state *st, char *out, size_t cap)
{
	enum oci_status s = oci_state_status(st);
	if (s != OCI_STOPPED)
		snprintf(out, cap, "%s", oci_status_name(s));
	else if (st->exit_code >= 0)
		snprintf(out, cap, "exited (%d)", st->exit_code);
	else
		snprintf(out, cap, "exited (unknown)");
}

static int list_containers(bool all, bool quiet)
{
	DIR *d = opendir(oci_g.root);
	if (!d && errno != ENOENT)
		return oci_fail("ps: open '%s': %s", oci_g.root, strerror(errno));
	if (!quiet)
		printf("%-20s %-24s %-30s %-14s %s\n", "NAME", "IMAGE", "COMMAND", "STATUS",
		       "CREATED");
	for (struct dirent *e; d && (e = readdir(d));) {
		struct oci_state st;
		struct sbx_err err = {0};
		if (e->d_name[0] == '.' || oci_id_check(e->d_name, &err) < 0 ||
		    oci_state_read(e->d_name, &st, &err) < 0)
			continue;
		if (all || oci_state_status(&st) != OCI_STOPPED) {
			const char *image = annotation(&st, DETACH_ANN_IMAGE);
			const char *cmd = annotation(&st, DETACH_ANN_COMMAND);
			char status[32];
			status_text(&st, status, sizeof(status));
			if (quiet)
				printf("%s\n", st.id);
			else
				printf("%-20s %-24s %-30.30s %-14s %s\n", st.id,
				       image ? image : "(bundle)", cmd ? cmd : st.bundle, status,
				       st.created);
		}
		oci_state_free(&st);
	}
	if (d)
		closedir(d);
	return 0;
}

/*
 * docker's `ps [-a] [-q]` lists containers; runc's `ps [--format F] ID` lists the processes in
 * one: an operand or --format makes it runc's.
 */
int cmd_ps_dispatch(int argc, char **argv)
{
	bool all = false, quiet = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !strncmp(a, "--format", 8) || !strcmp(a, "-f"))
			return cmd_oci_ps(argc, argv);
		if (!strcmp(a, "-a") || !strcmp(a, "--all"))
			all = true;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			quiet = true;
		else if (!strcmp(a, "-aq") || !strcmp(a, "-qa"))
			all = quiet = true;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("Usage: sandbox ps [-a] [-q]     list containers (docker)\n"
			       "       sandbox ps [--format table|json] ID   a container's "
			       "processes (runc)\n");
			return 0;
		} else
			return oci_fail("ps: unknown option '%s'", a);
	}
	return list_containers(all, quiet);
}

/* ---- logs ---- */

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -EIO;
	fflush(stdout);
	return n < 0 ? -errno : 0;
}

int cmd_logs(int argc, char **argv)
{
	bool follow = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
			follow = true;
		else
			return oci_fail("logs: unknown option '%s'", argv[i]);
	}
	if (i != argc - 1)
		return oci_fail(
		    "logs: requires exactly 1 argument (usage: sandbox logs [-f] NAME)");
	struct oci_state st;
	if (load("logs", argv[i], &st) != 0)
		return OCI_EXIT_FAILED;
	char path[PATH_MAX];
	oci_state_file(st.id, DETACH_LOG, path, sizeof(path));
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;
	if (fd < 0)
		r = oci_fail("logs: container %s has no log (not started by run -d)", st.id);
	while (r == 0) {
		if (copy_out(fd) < 0) {
			r = oci_fail("logs: read '%s': %s", path, strerror(errno));
			break;
		}
		if (!follow)
			break;
		/* Whatever the container wrote before its monitor exited is in the file now. */
		if (!oci_state_monitor_alive(&st)) {
			copy_out(fd);
			break;
		}
		struct timespec ts = {.tv_nsec = 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	oci_state_free(&st);
	return r;
}

/* ---- stop ---- */

static int stop_one(const char *id, int grace_s)
{
	struct oci_state st;
	if (load("stop", id, &st) != 0)
		return OCI_EXIT_FAILED;
	char reply[256];
	struct sbx_err err = {0};
	enum oci_status s = oci_state_status(&st);
	if (s == OCI_PAUSED)
		monitor_request(st.id, "resume", reply, sizeof(reply), &err);
	if (s != OCI_STOPPED) {
		/* A pid-1 shell ignores SIGTERM without a handler: hence the SIGKILL after. */
		if (monitor_request(st.id, "kill 15", reply, sizeof(reply), &err) < 0 ||
		    !wait_monitor(&st, grace_s * 1000)) {
			monitor_request(st.id, "kill 9", reply, sizeof(reply), &err);
			if (!wait_monitor(&st, STOP_KILL_WAIT_MS)) {
				/* The VMM dies with its monitor (PR_SET_PDEATHSIG). */
				kill(st.pid, SIGKILL);
				wait_monitor(&st, STOP_KILL_WAIT_MS);
			}
		}
	}
	oci_state_free(&st);
	printf("%s\n", id);
	return 0;
}

int cmd_stop(int argc, char **argv)
{
	int grace = 10;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--time")) && i + 1 >= argc)
			return oci_fail("stop: missing value for '%s'", argv[i]);
		if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--time")) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || v < 0 || v > 3600)
				return oci_fail("stop: invalid -t '%s' (seconds, 0..3600)",
						argv[i]);
			grace = (int)v;
		} else {
			return oci_fail("stop: unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return oci_fail("stop: requires at least 1 argument (usage: sandbox stop [-t "
				"SECONDS] NAME...)");
	int r = 0;
	for (; i < argc; i++)
		if (stop_one(argv[i], grace) != 0)
			r = OCI_EXIT_FAILED;
	return r;
}

/* ---- rm ---- */

static int rm_one(const char *id, bool force)
{
	struct oci_state st;
	if (load("rm", id, &st) != 0)
		return OCI_EXIT_FAILED;
	enum oci_status s = oci_state_status(&st);
	if ((s == OCI_RUNNING || s == OCI_PAUSED) && !force) {
		oci_state_free(&st);
		return oci_fail("rm: cannot remove container %s: it is %s (stop it first, or use "
				"-f)",
				id, oci_status_name(s));
	}
	if (s != OCI_STOPPED) {
		kill(st.pid, SIGKILL);
		wait_monitor(&st, STOP_KILL_WAIT_MS);
	}
	oci_state_free(&st);
	char dir[PATH_MAX];
	oci_state_dir(id, dir, sizeof(dir));
	rmtree(dir);
	printf("%s\n", id);
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	bool force = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force"))
			force = true;
		else
			return oci_fail("rm: unknown option '%s'", argv[i]);
	}
	if (i >= argc)
		return oci_fail(
		    "rm: requires at least 1 argument (usage: sandbox rm [-f] NAME...)");
	int r = 0;
	for (; i < argc; i++)
		if (rm_one(argv[i], force) != 0)
			r = OCI_EXIT_FAILED;
	return r;
}

/* ---- exec ---- */

/* docker's -i: the OCI exec always relays stdin, so it is accepted and dropped. */
int cmd_exec_dispatch(int argc, char **argv)
{
	int j = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--interactive"))
			continue;
		if (!strcmp(argv[i], "-it") || !strcmp(argv[i], "-ti")) {
			argv[j++] = "-t";
			continue;
		}
		argv[j++] = argv[i];
		if (argv[i][0] != '-' || !strcmp(argv[i], "--")) {
			/* the id: everything after it is the command, untouched */
			for (i++; i < argc; i++)
				argv[j++] = argv[i];
			break;
		}
	}
	argv[j] = NULL;
	return cmd_oci_exec(j, argv);
}

int detach_exec_process(struct oci_process *p)
{
	*p = (struct oci_process){.n_env = 1};
	p->env = calloc(2, sizeof(*p->env));
	p->cwd = strdup("/");
	if (p->env)
		p->env[0] =
		    strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!p->env || !p->env[0] || !p->cwd)
		return -ENOMEM;
	return 0;
}
