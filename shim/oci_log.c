#include "oci_log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct oci_globals oci_g = {.root = OCI_DEFAULT_ROOT};

static const char *const level_names[] = {"debug", "info", "warning", "error"};

static int take_value(int argc, char **argv, int *i, const char *name, const char **out)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (a[n] == '=') {
		*out = a + n + 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "sandbox: missing value for '%s'\n", name);
		return -1;
	}
	*out = argv[++*i];
	return 0;
}

static bool is_opt(const char *a, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(a, name, n) && (a[n] == '\0' || a[n] == '=');
}

/*
 * As runc: a relative --root is taken from the current directory, once, so that every path
 * derived from it (state files, the monitor's socket, what `state` prints) means one place.
 */
static int absolute_root(void)
{
	static char abs_root[PATH_MAX];
	char cwd[PATH_MAX];
	if (oci_g.root[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) || snprintf(abs_root, sizeof(abs_root), "%s/%s", cwd,
						  oci_g.root) >= (int)sizeof(abs_root)) {
		fprintf(stderr, "sandbox: --root '%s': cannot make it absolute\n", oci_g.root);
		return -1;
	}
	oci_g.root = abs_root;
	return 0;
}

/*
 * A log that cannot be written is the caller's mistake, said once up front (runc fails the same
 * way), rather than every later line falling back to stderr next to its own error.
 */
static int check_log(void)
{
	if (!oci_g.log)
		return 0;
	if (!oci_g.log[0]) {
		fprintf(stderr, "sandbox: --log: empty path\n");
		return -1;
	}
	int fd = open(oci_g.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "sandbox: --log '%s': %s\n", oci_g.log, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int oci_globals_parse(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]; i++) {
		const char *a = argv[i], *v = NULL;
		if (is_opt(a, "--root")) {
			if (take_value(argc, argv, &i, "--root", &oci_g.root) < 0)
				return -1;
		} else if (is_opt(a, "--log")) {
			if (take_value(argc, argv, &i, "--log", &oci_g.log) < 0)
				return -1;
		} else if (is_opt(a, "--log-format")) {
			if (take_value(argc, argv, &i, "--log-format", &v) < 0)
				return -1;
			if (strcmp(v, "text") && strcmp(v, "json")) {
				fprintf(stderr, "sandbox: --log-format: '%s' is not text or json\n",
					v);
				return -1;
			}
			oci_g.log_json = !strcmp(v, "json");
		} else if (!strcmp(a, "--debug")) {
			oci_g.debug = true;
		} else if (!strcmp(a, "--systemd-cgroup")) {
			oci_g.systemd_cgroup = true;
		} else {
			break; /* --help, --version and the commands' own options */
		}
	}
	if (!oci_g.root[0]) {
		fprintf(stderr, "sandbox: --root: empty path\n");
		return -1;
	}
	if (absolute_root() < 0 || check_log() < 0)
		return -1;
	return i - 1;
}

/* JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

static void log_line(FILE *f, enum oci_level level, const char *msg)
{
	char ts[64];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);
	if (oci_g.log_json) {
		fprintf(f, "{\"level\":\"%s\",\"msg\":\"", level_names[level]);
		json_escape(f, msg);
		fprintf(f, "\",\"time\":\"%s\"}\n", ts);
	} else {
		fprintf(f, "time=\"%s\" level=%s msg=\"", ts, level_names[level]);
		json_escape(f, msg);
		fprintf(f, "\"\n");
	}
}

static void vlog(enum oci_level level, const char *fmt, va_list ap)
{
	if (level == OCI_DEBUG && !oci_g.debug)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!oci_g.log) {
		if (level != OCI_ERROR) /* errors: oci_fail prints them */
			fprintf(stderr, "sandbox: %s: %s\n", level_names[level], msg);
		return;
	}
	/* O_APPEND: the monitor and the commands write the same file concurrently. */
	int fd = open(oci_g.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		if (level != OCI_ERROR) /* errors: oci_fail printed them already */
			fprintf(stderr, "sandbox: %s: %s\n", level_names[level], msg);
		return;
	}
	log_line(f, level, msg);
	fclose(f);
}

void oci_log(enum oci_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int oci_fail(const char *fmt, ...)
{
	va_list ap;
	char msg[1024];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sandbox: %s\n", msg);
	oci_log(OCI_ERROR, "%s", msg);
	return OCI_EXIT_FAILED;
}

int oci_opt_fail(const char *cmd, int c, char *const *argv)
{
	/* A long option's name is in argv; a short one may sit inside a group ("-dx"). */
	char short_opt[3] = {'-', (char)optopt, '\0'};
	const char *opt = c != ':' && optopt > 0 && optopt < 128 ? short_opt : argv[optind - 1];
	if (c == ':')
		return oci_fail("%s: missing value for '%s'", cmd, opt);
	return oci_fail("%s: unknown option '%s'", cmd, opt);
}
