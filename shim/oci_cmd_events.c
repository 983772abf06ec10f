/*
 * `events [--stats] [--interval T] ID`: runc's stats events, one JSON line each. With --stats
 * one line and exit; without, a line every interval until the container stops. The numbers are
 * the VMM's (shim/oci_stats.h): the host's view of what the container's VM costs.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor.h"
#include "oci_cmd.h"
#include "oci_log.h"
#include "oci_state.h"
#include "oci_stats.h"

#define EVENTS_DEFAULT_INTERVAL_MS 5000

/* "5s", "500ms", "1m", "2" (seconds): Go durations as runc takes them, a positive whole. */
int oci_parse_interval_ms(const char *s, long *ms);
int oci_parse_interval_ms(const char *s, long *ms)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || v <= 0 || errno)
		return -EINVAL;
	long mult = !strcmp(end, "ms")		 ? 1
		    : !strcmp(end, "s") || !*end ? 1000
		    : !strcmp(end, "m")		 ? 60000
						 : 0;
	if (!mult || v > 24L * 3600 * 1000 / mult)
		return -EINVAL;
	*ms = v * mult;
	return 0;
}

/* The VMM's pid, from the monitor: the one process whose usage is the container's. */
static int vmm_pid(const char *id, pid_t *pid, bool quiet)
{
	char reply[600];
	struct sbx_err err = {0};
	if (monitor_request(id, "vmm", reply, sizeof(reply), &err) < 0)
		return quiet ? -1 : oci_fail("%s", err.msg);
	int v;
	if (sscanf(reply, "ok %d", &v) != 1 || v <= 0)
		return quiet ? -1
			     : oci_fail("%s", !strncmp(reply, "error: ", 7) ? reply + 7 : reply);
	*pid = v;
	return 0;
}

static int print_stats(const char *id, pid_t pid)
{
	struct oci_stats st;
	struct sbx_err err = {0};
	if (oci_stats_read(pid, &st, &err) < 0)
		return -1;
	oci_stats_print(stdout, id, &st);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* The guest's OOM kill count the monitor recorded (0: none yet). */
static unsigned long oom_count(const char *id)
{
	char path[PATH_MAX];
	unsigned long n = 0;
	oci_state_file(id, OCI_OOM_FILE, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* runc's {"type":"oom","id":ID} once the guest's OOM killer has struck since the last look. */
static void report_oom(const char *id, unsigned long *seen)
{
	unsigned long n = oom_count(id);
	if (n <= *seen)
		return;
	*seen = n;
	printf("{\"type\":\"oom\",\"id\":\"%s\"}\n", id); /* ids are [A-Za-z0-9_+.-] */
	fflush(stdout);
}

int cmd_oci_events(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"stats", no_argument, NULL, 's'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool once = false;
	long interval_ms = EVENTS_DEFAULT_INTERVAL_MS;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "+:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			once = true;
			break;
		case 'i':
			if (oci_parse_interval_ms(optarg, &interval_ms) < 0)
				return oci_fail("events: --interval '%s': expected a duration such "
						"as 5s or 500ms",
						optarg);
			break;
		case 'h':
			printf("Usage: sandbox events [--stats] [--interval 5s] ID\n");
			return 0;
		default:
			return oci_opt_fail("events", c, argv);
		}
	}
	if (optind != argc - 1)
		return oci_fail("events: requires exactly 1 argument (the container id)");
	const char *id = argv[optind];
	struct sbx_err err = {0};
	struct oci_state st;
	if (oci_id_check(id, &err) < 0 || oci_state_read(id, &st, &err) < 0)
		return oci_fail("%s", err.msg);
	enum oci_status s = oci_state_status(&st);
	oci_state_free(&st);
	if (s != OCI_RUNNING && s != OCI_PAUSED)
		return oci_fail("container %s is not running", id);
	pid_t pid;
	if (vmm_pid(id, &pid, false) != 0)
		return OCI_EXIT_FAILED;
	if (print_stats(id, pid) < 0)
		return oci_fail("container %s is not running", id);
	/*
	 * Streaming ends when the monitor does (the container has stopped), as runc's loop ends;
	 * asking it each time also keeps a reused pid from being reported. The agent reports OOM
	 * kills as they happen and once more before EXIT: the last look comes after the loop.
	 */
	unsigned long ooms = oom_count(id);
	while (!once) {
		struct timespec ts = {.tv_sec = interval_ms / 1000,
				      .tv_nsec = (interval_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		report_oom(id, &ooms);
		if (vmm_pid(id, &pid, true) < 0 || print_stats(id, pid) < 0)
			break;
	}
	if (!once)
		report_oom(id, &ooms);
	return 0;
}
