/* `sandbox run` options: parsed once from argv into a typed struct. */
#ifndef SANDBOX_RUN_OPTS_H
#define SANDBOX_RUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/error.h"

#define RUN_MAX_ENV 1024
#define RUN_DEFAULT_CPUS 1
#define RUN_DEFAULT_MEMORY_MIB 256
#define RUN_MAX_CPUS 8
#define RUN_MIN_MEMORY_MIB 64
#define RUN_MAX_MEMORY_MIB (3u * 1024u) /* below the 32-bit MMIO hole: one RAM range */

struct run_opts {
	const char *rootfs;
	const char *kernel; /* NULL: default lookup */
	const char *initrd;
	unsigned cpus;
	unsigned memory_mib;
	bool tty;
	bool interactive;
	bool debug;
	bool no_template; /* cold boot instead of restoring the VM template */
	const char *env[RUN_MAX_ENV];
	size_t n_env;
	const char *workdir;
	const char *user; /* "UID[:GID]" or "NAME[:GROUP]", resolved against the rootfs */
	const char *hostname;
	char *const *argv; /* command, points into the caller's argv */
	int argc;
};

/*
 * Parses the arguments after "run". Returns 0, 1 when --help was asked (usage already printed),
 * or a negative errno with err naming the bad argument.
 */
int run_opts_parse(struct run_opts *o, int argc, char *const *argv, struct sbx_err *err);
/* "512M", "1G", "256" (MiB) -> MiB. */
int parse_memory_mib(const char *s, unsigned *mib, struct sbx_err *err);
void run_usage(FILE *out);
/* "1".."RUN_MAX_CPUS" -> cpus. */
int parse_cpus(const char *s, unsigned *cpus, struct sbx_err *err);

#endif
