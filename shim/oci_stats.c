#include "oci_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cgroup.h"

/* 0 when the file is missing or holds no number ("max" included: no limit). */
static uint64_t read_u64(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[64] = "";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return 0;
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	return end == buf ? 0 : (uint64_t)v;
}

/*
 * pid's own cgroup directory for controller (v1) or the unified one (v2, controller NULL);
 * false when pid sits in the root cgroup, which holds everything and says nothing about it.
 */
static bool own_cgroup(pid_t pid, const char *controller, char *dir, size_t cap)
{
	char path[64], line[PATH_MAX + 64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *ctl = strchr(line, ':'), *cg = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!cg)
			continue;
		*cg++ = '\0';
		ctl++;
		bool match = controller ? !strcmp(ctl, controller) : !strcmp(line, "0") && !*ctl;
		if (!match || !strcmp(cg, "/") || strstr(cg, ".."))
			continue;
		const char *root = cgroup_root();
		if (controller)
			snprintf(dir, cap, "%s/%s%s", root, controller, cg);
		else
			snprintf(dir, cap, "%s%s", root, cg);
		return access(dir, R_OK) == 0;
	}
	return false;
}

static void read_cgroups(pid_t pid, struct oci_stats *st)
{
	char dir[PATH_MAX];
	if (own_cgroup(pid, "memory", dir, sizeof(dir))) {
		st->mem_usage = read_u64(dir, "memory.usage_in_bytes");
		st->mem_max = read_u64(dir, "memory.max_usage_in_bytes");
		st->mem_limit = read_u64(dir, "memory.limit_in_bytes");
		st->mem_failcnt = read_u64(dir, "memory.failcnt");
		st->from_cgroup = true;
	} else if (own_cgroup(pid, NULL, dir, sizeof(dir))) {
		st->mem_usage = read_u64(dir, "memory.current");
		st->mem_max = read_u64(dir, "memory.peak");
		st->mem_limit = read_u64(dir, "memory.max");
		st->from_cgroup = true;
	}
	if (own_cgroup(pid, "pids", dir, sizeof(dir)) || own_cgroup(pid, NULL, dir, sizeof(dir))) {
		st->pids_current = read_u64(dir, "pids.current");
		st->pids_limit = read_u64(dir, "pids.max");
	}
	/* v1's "no limit" is a huge page-rounded number: say none, as runc's 0 does. */
	if (st->mem_limit >= (UINT64_C(1) << 62))
		st->mem_limit = 0;
}

/* VmRSS/VmHWM/Threads: what /proc knows when there is no cgroup of the VMM's own. */
static void read_status(pid_t pid, struct oci_stats *st)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (!st->mem_usage && sscanf(line, "VmRSS: %llu", &v) == 1)
			st->mem_usage = (uint64_t)v * 1024;
		else if (!st->mem_max && sscanf(line, "VmHWM: %llu", &v) == 1)
			st->mem_max = (uint64_t)v * 1024;
		else if (!st->pids_current && sscanf(line, "Threads: %llu", &v) == 1)
			st->pids_current = (uint64_t)v;
	}
}

int oci_stats_read(pid_t pid, struct oci_stats *st, struct sbx_err *err)
{
	*st = (struct oci_stats){0};
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return sbx_err_set(err, ESRCH, "read '%s'", path);
	/* comm may hold spaces and parentheses: the fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long utime, stime;
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			 &stime) != 2)
		return sbx_err_setx(err, EPROTO, "'%s': unexpected format", path);
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ns_per_tick = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	st->cpu_user_ns = (uint64_t)utime * ns_per_tick;
	st->cpu_kernel_ns = (uint64_t)stime * ns_per_tick;
	read_cgroups(pid, st);
	read_status(pid, st);
	return 0;
}

void oci_stats_print(FILE *f, const char *id, const struct oci_stats *st)
{
	/* id: a checked container id (oci_id_check), nothing in it needs escaping. */
	fprintf(f,
		"{\"type\":\"stats\",\"id\":\"%s\",\"data\":{"
		"\"cpu\":{\"usage\":{\"total\":%" PRIu64 ",\"kernel\":%" PRIu64 ",\"user\":%" PRIu64
		"},\"throttling\":{}},"
		"\"memory\":{\"usage\":{\"usage\":%" PRIu64 ",\"max\":%" PRIu64
		",\"limit\":%" PRIu64 ",\"failcnt\":%" PRIu64 "},\"raw\":{}},"
		"\"pids\":{\"current\":%" PRIu64 ",\"limit\":%" PRIu64 "},"
		"\"blkio\":{},\"hugetlb\":{},\"intel_rdt\":{},\"network_interfaces\":null}}\n",
		id, st->cpu_user_ns + st->cpu_kernel_ns, st->cpu_kernel_ns, st->cpu_user_ns,
		st->mem_usage, st->mem_max, st->mem_limit, st->mem_failcnt, st->pids_current,
		st->pids_limit);
}
