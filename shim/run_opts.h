/* `sandbox run` options: parsed once from argv into a typed struct. */
#ifndef SANDBOX_RUN_OPTS_H
#define SANDBOX_RUN_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/error.h"
#include "net_local.h"
#include "volume.h"

#define RUN_MAX_ENV 1024
#define RUN_DEFAULT_CPUS 1
#define RUN_DEFAULT_MEMORY_MIB 256
#define RUN_MAX_CPUS 8
#define RUN_MIN_MEMORY_MIB 64
#define RUN_MAX_MEMORY_MIB (3u * 1024u) /* below the 32-bit MMIO hole: one RAM range */

struct oci_spec;

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
	bool no_jail;	  /* --no-jail: the VMM runs unjailed (debugging only) */
	/* The jailed VMM's cgroup cpu quota: --cpus N gives N periods per period, OCI its
	 * linux.resources.cpu (shim/monitor.c); 0: none (docs/security.md). */
	uint64_t cpu_quota_us, cpu_period_us;
	const char *env[RUN_MAX_ENV];
	size_t n_env;
	const char *workdir;
	const char *user; /* "UID[:GID]" or "NAME[:GROUP]", resolved against the rootfs */
	const char *hostname;
	char *const *argv; /* command, points into the caller's argv */
	int argc;
	/* The IMAGE form (no --rootfs): argv/argc are the CMD after IMAGE, possibly none. */
	const char *image;
	const char *entrypoint; /* --entrypoint; "" clears the image's */
	const char *store_root; /* --root: the image store (NULL: image_store.h's default) */
	bool rm;		/* --rm: accepted; the writable layer is always discarded today */
	struct volume volumes[RUN_MAX_VOLUMES]; /* -v HOSTDIR:CONTAINERDIR[:ro] */
	size_t n_volumes;
	const char *user_db; /* where -u names are looked up (NULL: rootfs); set for images */
	struct net_publish publish[NET_MAX_PUBLISH]; /* -p HOSTPORT:CPORT[/proto] */
	size_t n_publish;
	bool network_none; /* --network none: the guest gets only lo */
	const char *netns; /* --network ns:PATH: join that network namespace's interface */
	bool detach;	   /* -d: run in the background under a monitor (shim/detach.c) */
	const char *name;  /* --name: the detached container's id (default: generated) */
	/* OCI: the process's security settings come from this spec (shim/oci_security.c);
	 * NULL (`sandbox run`): docker's default capabilities, applied by the agent. */
	const struct oci_spec *oci_spec;
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
