/* start, state, kill, delete, list: the commands that act on an existing container. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "jail.h"
#include "oci_cgroup.h"
#include "monitor.h"
#include "oci_cmd.h"
#include "oci_hooks.h"
#include "oci_log.h"
#include "oci_state.h"
#include "rundir.h"

#define DELETE_WAIT_MS 10000

/*
 * Options of these commands: those named in `flags` ("f" --force, "a" --all, "q" --quiet,
 * "F" --format; any other is unknown, as runc's per-command flags), then nmin..nmax args.
 */
struct ctl_opts {
	bool force, all, quiet, json;
	char **args;
	int nargs;
};

static int parse_ctl(int argc, char **argv, const char *flags, int nmin, int nmax,
		     struct ctl_opts *o)
{
	static const struct option longopts[] = {
	    {"force", no_argument, NULL, 'f'}, {"all", no_argument, NULL, 'a'},
	    {"quiet", no_argument, NULL, 'q'}, {"format", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},  {0},
	};
	*o = (struct ctl_opts){0};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "+:faqF:", longopts, NULL)) != -1) {
		if (c != 'h' && c != ':' && c != '?' && !strchr(flags, c)) {
			optopt = 0; /* known to another command: argv[optind - 1] names it */
			c = '?';
		}
		switch (c) {
		case 'f':
			o->force = true;
			break;
		case 'a':
			o->all = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'F':
			if (strcmp(optarg, "json") && strcmp(optarg, "table"))
				return oci_fail("%s: --format: '%s' is not table or json", argv[0],
						optarg),
				       -1;
			o->json = !strcmp(optarg, "json");
			break;
		case 'h':
			printf("Usage: sandbox %s [OPTIONS]%s\n", argv[0], nmax ? " ID" : "");
			return 1;
		default:
			return oci_opt_fail(argv[0], c, argv), -1;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->nargs < nmin || o->nargs > nmax)
		return oci_fail("%s: expected %s", argv[0],
				nmin == nmax ? (nmin ? "exactly 1 argument (the container id)"
						     : "no arguments")
					     : "a container id and an optional signal"),
		       -1;
	return 0;
}

#define PARSE_OR_RETURN(argc, argv, flags, nmin, nmax, o)                                          \
	do {                                                                                       \
		int _r = parse_ctl(argc, argv, flags, nmin, nmax, o);                              \
		if (_r != 0)                                                                       \
			return _r == 1 ? 0 : OCI_EXIT_FAILED;                                      \
	} while (0)

static int load(const char *id, struct oci_state *st)
{
	struct sbx_err err = {0};
	if (oci_id_check(id, &err) < 0 || oci_state_read(id, st, &err) < 0)
		return oci_fail("%s", err.msg);
	return 0;
}

int cmd_oci_start(int argc, char **argv)
{
	struct ctl_opts o;
	struct oci_state st;
	PARSE_OR_RETURN(argc, argv, "", 1, 1, &o);
	if (load(o.args[0], &st))
		return OCI_EXIT_FAILED;
	enum oci_status s = oci_state_status(&st);
	oci_state_free(&st);
	if (s == OCI_RUNNING)
		return oci_fail("cannot start an already running container");
	if (s == OCI_STOPPED)
		return oci_fail("cannot start a container that has stopped");
	if (s != OCI_CREATED)
		return oci_fail("cannot start a container in the %s state", oci_status_name(s));
	struct sbx_err err = {0};
	char reply[600];
	if (monitor_request(o.args[0], "start", reply, sizeof(reply), &err) < 0)
		return oci_fail("%s", err.msg);
	if (strcmp(reply, "ok"))
		return oci_fail("%s", !strncmp(reply, "error: ", 7) ? reply + 7 : reply);
	return 0;
}

int cmd_oci_state(int argc, char **argv)
{
	struct ctl_opts o;
	struct oci_state st;
	PARSE_OR_RETURN(argc, argv, "", 1, 1, &o);
	if (load(o.args[0], &st))
		return OCI_EXIT_FAILED;
	oci_state_print(stdout, &st);
	putchar('\n');
	oci_state_free(&st);
	return 0;
}

/* ---- kill ---- */

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
    {"HUP", SIGHUP},	   {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},	   {"ABRT", SIGABRT}, {"IOT", SIGIOT},	     {"BUS", SIGBUS},
    {"FPE", SIGFPE},	   {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},	   {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},	   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},	   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

/* "9", "KILL", "SIGKILL", "sigkill": runc's forms. 0 when it is none of them. */
int oci_parse_signal(const char *s);
int oci_parse_signal(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n >= 1 && n <= 64 ? (int)n : 0;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (!strcasecmp(s, signal_names[i].name))
			return signal_names[i].sig;
	return 0;
}

int cmd_oci_kill(int argc, char **argv)
{
	struct ctl_opts o;
	struct oci_state st;
	PARSE_OR_RETURN(argc, argv, "a", 1, 2, &o);
	int sig = o.nargs == 2 ? oci_parse_signal(o.args[1]) : SIGTERM;
	if (!sig)
		return oci_fail("invalid signal '%s'", o.args[1]);
	if (load(o.args[0], &st))
		return OCI_EXIT_FAILED;
	enum oci_status s = oci_state_status(&st);
	oci_state_free(&st);
	if (s == OCI_STOPPED || s == OCI_CREATING)
		return oci_fail("container not running");
	/* --all: the signal reaches the container's init, whose death ends every process. */
	char req[32], reply[600];
	struct sbx_err err = {0};
	snprintf(req, sizeof(req), "kill %d", sig);
	if (monitor_request(o.args[0], req, reply, sizeof(reply), &err) < 0)
		return oci_fail("%s", err.msg);
	if (strcmp(reply, "ok"))
		return oci_fail("%s", !strncmp(reply, "error: ", 7) ? reply + 7 : reply);
	return 0;
}

/* ---- delete ---- */

static void wait_gone(const struct oci_state *st)
{
	int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	if (pfd < 0)
		return;
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	poll(&p, 1, DELETE_WAIT_MS);
	close(pfd);
}

static void run_poststop(struct oci_state *st)
{
	struct sbx_err err = {0};
	struct oci_spec spec;
	if (!st->bundle[0] || oci_spec_load(st->bundle, &spec, &err) < 0)
		return; /* the bundle may be gone already: then there is no hook to run */
	st->pid = 0;
	if (oci_hooks_run(&spec, OCI_HOOK_POSTSTOP, st, &err) < 0)
		oci_warn("%s", err.msg);
	oci_spec_free(&spec);
}

/* What a container leaves on the host once its monitor is gone. */
static void remove_container_files(const char *id, const char *dir)
{
	/* A monitor SIGKILLed before it could release its VMM's jail (run dir <dir>/vm: run.c). */
	char vm_dir[PATH_MAX + 8];
	snprintf(vm_dir, sizeof(vm_dir), "%s/vm", dir);
	jail_release_dead(vm_dir);
	oci_cgroup_remove(id);
	rmtree(dir);
}

int cmd_oci_delete(int argc, char **argv)
{
	struct ctl_opts o;
	struct oci_state st;
	struct sbx_err err = {0};
	PARSE_OR_RETURN(argc, argv, "f", 1, 1, &o);
	const char *id = o.args[0];
	if (oci_id_check(id, &err) < 0)
		return oci_fail("%s", err.msg);
	char dir[PATH_MAX];
	oci_state_dir(id, dir, sizeof(dir));
	if (oci_state_read(id, &st, &err) < 0) {
		if (access(dir, F_OK) < 0)
			return o.force && err.code == ENOENT ? 0 : oci_fail("%s", err.msg);
		/* A directory without a readable state.json: a create killed before its monitor
		 * wrote one, or a damaged file. As runc, --force removes what is there. */
		if (!o.force)
			return oci_fail("%s (delete --force removes container %s)", err.msg, id);
		remove_container_files(id, dir);
		return 0;
	}
	enum oci_status s = oci_state_status(&st);
	if (s != OCI_STOPPED && s != OCI_CREATED && !o.force) {
		oci_state_free(&st);
		return oci_fail("cannot delete container %s that is not stopped: %s", id,
				oci_status_name(s));
	}
	if (s != OCI_STOPPED) {
		/* The VMM dies with its monitor (PR_SET_PDEATHSIG), and the VM with it. */
		kill(st.pid, SIGKILL);
		wait_gone(&st);
	}
	run_poststop(&st);
	oci_state_free(&st);
	remove_container_files(id, dir);
	return 0;
}

/* ---- list ---- */

static void list_json_entry(const struct oci_state *st, bool first)
{
	/* Reuses the state document's escaping: list's entries are states plus "owner". */
	printf("%s", first ? "" : ",");
	oci_state_print(stdout, st);
}

int cmd_oci_list(int argc, char **argv)
{
	struct ctl_opts o;
	PARSE_OR_RETURN(argc, argv, "qF", 0, 0, &o);
	DIR *d = opendir(oci_g.root);
	if (!d && errno != ENOENT)
		return oci_fail("open '%s': %s", oci_g.root, strerror(errno));
	if (o.json)
		printf("[");
	else if (!o.quiet)
		printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	bool first = true;
	for (struct dirent *e; d && (e = readdir(d));) {
		struct oci_state st;
		struct sbx_err err = {0};
		if (e->d_name[0] == '.' || oci_id_check(e->d_name, &err) < 0 ||
		    oci_state_read(e->d_name, &st, &err) < 0)
			continue;
		enum oci_status s = oci_state_status(&st);
		if (o.json)
			list_json_entry(&st, first);
		else if (o.quiet)
			printf("%s\n", st.id);
		else
			printf("%-20s %-8d %-10s %-40s %-30s %s\n", st.id,
			       s == OCI_STOPPED ? 0 : (int)st.pid, oci_status_name(s), st.bundle,
			       st.created, "root");
		first = false;
		oci_state_free(&st);
	}
	if (o.json)
		printf("]\n");
	if (d)
		closedir(d);
	return 0;
}

/* ---- pause / resume ---- */

static int pause_resume(int argc, char **argv, bool pause)
{
	struct ctl_opts o;
	struct oci_state st;
	PARSE_OR_RETURN(argc, argv, "", 1, 1, &o);
	if (load(o.args[0], &st))
		return OCI_EXIT_FAILED;
	enum oci_status s = oci_state_status(&st);
	oci_state_free(&st);
	if (pause && s != OCI_RUNNING)
		return oci_fail("container not running");
	if (!pause && s != OCI_PAUSED)
		return oci_fail("container not paused");
	char reply[600];
	struct sbx_err err = {0};
	if (monitor_request(o.args[0], pause ? "pause" : "resume", reply, sizeof(reply), &err) < 0)
		return oci_fail("%s", err.msg);
	if (strcmp(reply, "ok"))
		return oci_fail("%s", !strncmp(reply, "error: ", 7) ? reply + 7 : reply);
	return 0;
}

int cmd_oci_pause(int argc, char **argv)
{
	return pause_resume(argc, argv, true);
}

int cmd_oci_resume(int argc, char **argv)
{
	return pause_resume(argc, argv, false);
}
