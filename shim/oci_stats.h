/*
 * A container's resource usage as `events --stats` reports it. The host-side cost of a
 * container is its VMM process: the guest's processes, page cache and kernel all live in that
 * one process's threads and memory. So the numbers are the VMM's: cpu time from
 * /proc/<vmm>/stat, memory and tasks from the VMM's own cgroup (the jail's, shim/cgroup.h) when
 * it has one, else from /proc/<vmm>/status.
 */
#ifndef SANDBOX_OCI_STATS_H
#define SANDBOX_OCI_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../common/error.h"

struct oci_stats {
	uint64_t cpu_user_ns, cpu_kernel_ns;
	uint64_t mem_usage, mem_max, mem_limit, mem_failcnt; /* bytes; limit 0: none known */
	uint64_t pids_current, pids_limit;		     /* host tasks (threads); 0: none */
	bool from_cgroup; /* memory and pids came from the VMM's cgroup */
};

/* Reads pid's usage; -ESRCH (err set) when pid is gone. */
int oci_stats_read(pid_t pid, struct oci_stats *st, struct sbx_err *err);
/* runc's event line: {"type":"stats","id":ID,"data":{"cpu":...,"memory":...,"pids":...}}. */
void oci_stats_print(FILE *f, const char *id, const struct oci_stats *st);

#endif
