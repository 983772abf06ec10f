/*
 * runc's global options (--root, --log, --log-format, --debug, --systemd-cgroup) and the log
 * they control. containerd and podman pass --log FILE --log-format json and, when a command
 * fails, read the last {"level":"error","msg":...} line from FILE to explain why: so every
 * error is written there as well as to stderr.
 */
#ifndef SANDBOX_OCI_LOG_H
#define SANDBOX_OCI_LOG_H

#include <stdbool.h>

#define OCI_DEFAULT_ROOT "/run/sandbox"
/* The OCI commands' failure status: the sandbox's own failure code, as for `sandbox run`. */
#define OCI_EXIT_FAILED 125

struct oci_globals {
	const char *root;    /* state root, one directory per container */
	const char *log;     /* NULL: stderr only */
	bool log_json;	     /* --log-format json */
	bool debug;	     /* debug lines are logged (to the log, or stderr without one) */
	bool systemd_cgroup; /* accepted for compatibility; the VM has its own cgroups */
};

extern struct oci_globals oci_g;

/*
 * Consumes the global options in front of the command: argv[1..] up to the first non-option.
 * Returns how many arguments were consumed, or -1 after printing what was wrong.
 */
int oci_globals_parse(int argc, char **argv);

enum oci_level { OCI_DEBUG, OCI_INFO, OCI_WARN, OCI_ERROR };

void oci_log(enum oci_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define oci_debug(...) oci_log(OCI_DEBUG, __VA_ARGS__)
#define oci_warn(...) oci_log(OCI_WARN, __VA_ARGS__)
/* Logs the error and prints "sandbox: <msg>" on stderr; returns OCI_EXIT_FAILED. */
int oci_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * getopt's complaint c (':' a missing value, '?' an unknown option; the optstring must start
 * with "+:" or ":") about argv[optind - 1] as one line "CMD: ..."; returns OCI_EXIT_FAILED.
 */
int oci_opt_fail(const char *cmd, int c, char *const *argv);

#endif
