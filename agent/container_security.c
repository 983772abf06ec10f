/*
 * The OCI process's security settings, applied in the guest in runc's order
 * (docs/security.md, "Guest side"):
 *
 *   container init, after the root switch:  the container cgroup (memory, cpu, pids); then,
 *                                           after the createContainer hooks (agent/hooks.c),
 *                                           sysctl, masked paths, read-only paths
 *   workload, right before execve:          rlimits, umask, oom_score_adj, capabilities,
 *                                           no_new_privs, the vsock filter, the OCI seccomp filter
 *
 * Every value comes from the RUN, already bounds-checked by the decoder (common/proto.c); what
 * the kernel may still refuse is reported as an ERROR (code 125) like any other setup failure.
 *
 * The vsock filter is not optional: a container process must never open AF_VSOCK, or it could
 * dial the host-side sockets `sandbox` listens on (docs/protocol.md) and pose as the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"

_Static_assert(sizeof(struct sbx_bpf_insn) == sizeof(struct sock_filter), "BPF insn layout");
_Static_assert(offsetof(struct sbx_bpf_insn, k) == offsetof(struct sock_filter, k), "BPF k");

/* A staging dir on the container's own /dev tmpfs: /sys/fs/cgroup may already hold the
 * container's (read-only) cgroup2 mount, and the same superblock cannot be stacked on itself. */
#define CGROUP_MNT "/dev/.sbx-cgroup"
#define CGROUP_NAME "container"
/* The agent's own view of the hierarchy, in its mount namespace (exec joins, OOM counts). */
#define AGENT_CGROUP_MNT "/run/.sbx-cgroup"
#define CGROUP_PATH_MAX 256
#define CAP_LAST_FALLBACK 40 /* CAP_CHECKPOINT_RESTORE, Linux 6.1 */
#define X32_SYSCALL_BIT 0x40000000u

/* docker's default set (moby oci/caps/defaults.go); inheritable and ambient stay empty. */
#define DOCKER_DEFAULT_CAPS                                                                        \
	((1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FSETID) |                 \
	 (1ull << CAP_FOWNER) | (1ull << CAP_MKNOD) | (1ull << CAP_NET_RAW) |                      \
	 (1ull << CAP_SETGID) | (1ull << CAP_SETUID) | (1ull << CAP_SETFCAP) |                     \
	 (1ull << CAP_SETPCAP) | (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_SYS_CHROOT) |       \
	 (1ull << CAP_KILL) | (1ull << CAP_AUDIT_WRITE))

static int write_file(const char *path, const char *text, struct sbx_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s'", path);
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	int e = errno;
	close(fd);
	if (w != (ssize_t)n)
		return sbx_err_set(err, w < 0 ? e : EIO, "write '%s' to '%s'", text, path);
	return 0;
}

/* ---- container init ---- */

/* "net.ipv4.ip_forward=1" -> /proc/sys/net/ipv4/ip_forward. The key was checked by the decoder. */
static int apply_sysctl(const char *entry, struct sbx_err *err)
{
	char path[512];
	const char *eq = strchr(entry, '=');
	int klen = (int)(eq - entry);
	if ((size_t)snprintf(path, sizeof(path), "/proc/sys/%.*s", klen, entry) >= sizeof(path))
		return sbx_err_setx(err, ENAMETOOLONG, "sysctl '%.*s' is too long", klen, entry);
	for (char *p = path + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	int r = write_file(path, eq + 1, err);
	return r < 0 ? sbx_err_wrap(err, "sysctl %.*s", klen, entry) : 0;
}

/* Writes "max" for UINT64_MAX, else the number. */
static int write_limit(const char *file, uint64_t v, struct sbx_err *err)
{
	char path[128], num[32];
	snprintf(path, sizeof(path), CGROUP_MNT "/" CGROUP_NAME "/%s", file);
	if (v == UINT64_MAX)
		snprintf(num, sizeof(num), "max");
	else
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	return write_file(path, num, err);
}

/*
 * Controllers are enabled one by one: the guest kernel may lack one (then only a limit that
 * needs it fails). cpu.max needs CONFIG_CFS_BANDWIDTH and swap files CONFIG_SWAP: a file the
 * kernel does not have is reported on the console and skipped, the VM's vCPU count and RAM
 * bound the container anyway (docs/oci.md).
 */
static int write_cgroup_limits(const struct sbx_run_req *req, struct sbx_err *err)
{
	const struct sbx_cgroup_limits *c = &req->cgroup;
	int r = 0;
	if (req->pids_limit)
		r = write_limit("pids.max", req->pids_limit, err);
	if (r == 0 && c->memory_max)
		r = write_limit("memory.max", c->memory_max, err);
	if (r == 0 && c->memory_low)
		r = write_limit("memory.low", c->memory_low, err);
	if (r == 0 && c->cpu_weight)
		r = write_limit("cpu.weight", c->cpu_weight, err);
	if (r == 0 && c->memory_max && (r = write_limit("memory.swap.max", c->swap_max, err)) < 0 &&
	    r == -ENOENT) {
		agent_console("memory.swap.max: no swap accounting in this kernel; skipped");
		r = 0;
	}
	if (r == 0 && c->cpu_quota_us) {
		char path[128], v[48];
		snprintf(path, sizeof(path), CGROUP_MNT "/" CGROUP_NAME "/cpu.max");
		snprintf(v, sizeof(v), "%llu %llu", (unsigned long long)c->cpu_quota_us,
			 (unsigned long long)(c->cpu_period_us ? c->cpu_period_us : 100000));
		if ((r = write_file(path, v, err)) == -ENOENT) {
			agent_console("cpu.max: no CFS bandwidth control in this kernel; skipped");
			r = 0;
		}
	}
	return r;
}

static int enable_controllers(const struct sbx_run_req *req, struct sbx_err *err)
{
	int r = 0;
	if (req->pids_limit || req->has_cgroup)
		r = write_file(CGROUP_MNT "/cgroup.subtree_control", "+pids", err);
	if (r == 0 && req->has_cgroup)
		r = write_file(CGROUP_MNT "/cgroup.subtree_control", "+memory", err);
	if (r == 0 && req->has_cgroup && (req->cgroup.cpu_weight || req->cgroup.cpu_quota_us))
		r = write_file(CGROUP_MNT "/cgroup.subtree_control", "+cpu", err);
	return r;
}

/*
 * The container's cgroup with its limits. The container init has no writable view of the
 * hierarchy after the root switch, so it mounts cgroup2 on a staging dir for the moment it
 * needs, moves itself (the workload it forks next inherits the cgroup) and detaches the mount
 * again.
 */
static int apply_cgroup(const struct sbx_run_req *req, struct sbx_err *err)
{
	if (mkdir(CGROUP_MNT, 0700) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "mkdir " CGROUP_MNT);
	if (mount("cgroup2", CGROUP_MNT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		int e = errno;
		rmdir(CGROUP_MNT);
		return sbx_err_set(err, e, "mount cgroup2 on " CGROUP_MNT);
	}
	int r = enable_controllers(req, err);
	if (r == 0 && mkdir(CGROUP_MNT "/" CGROUP_NAME, 0755) < 0 && errno != EEXIST)
		r = sbx_err_set(err, errno, "mkdir " CGROUP_MNT "/" CGROUP_NAME);
	r = r ?: write_cgroup_limits(req, err);
	r = r ?: write_file(CGROUP_MNT "/" CGROUP_NAME "/cgroup.procs", "0", err);
	umount2(CGROUP_MNT, MNT_DETACH);
	rmdir(CGROUP_MNT);
	return r < 0 ? sbx_err_wrap(err, "container cgroup") : 0;
}

/* Mounts the agent's view once; concurrent exec sessions may race here: a second mount on
 * the same dir is harmless. */
static int agent_cgroup_view(struct sbx_err *err)
{
	struct statfs sf;
	if (statfs(AGENT_CGROUP_MNT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		return 0;
	if (mkdir(AGENT_CGROUP_MNT, 0700) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "mkdir " AGENT_CGROUP_MNT);
	if (mount("cgroup2", AGENT_CGROUP_MNT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	    0)
		return sbx_err_set(err, errno, "mount cgroup2 on " AGENT_CGROUP_MNT);
	return 0;
}

/* The cgroup2 path of pid ("0::/container" in /proc/PID/cgroup); "/" when it has none. */
static int cgroup_of(pid_t pid, char *out, size_t cap, struct sbx_err *err)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open %s", path);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return sbx_err_set(err, errno, "read %s", path);
	buf[n] = '\0';
	const char *line = strstr(buf, "0::/");
	if (!line || (line != buf && line[-1] != '\n')) {
		/* The kernel lists the cgroup2 hierarchy only once it has been mounted: no
		 * container cgroup was ever made (a run without OCI resources). */
		snprintf(out, cap, "/");
		return 0;
	}
	line += 3;
	size_t len = strcspn(line, "\n");
	/* Bounded, and no way up out of the hierarchy's mount. */
	if (len >= cap || strstr(line, "/..") || memchr(line, '\0', len))
		return sbx_err_setx(err, EINVAL, "%s: unusable cgroup path", path);
	memcpy(out, line, len);
	out[len] = '\0';
	return 0;
}

int container_security_join_cgroup(pid_t init_pid, struct sbx_err *err)
{
	char cg[CGROUP_PATH_MAX], procs[CGROUP_PATH_MAX + 64];
	int r = cgroup_of(init_pid, cg, sizeof(cg), err);
	if (r < 0 || !strcmp(cg, "/"))
		return r;
	if ((r = agent_cgroup_view(err)) < 0)
		return sbx_err_wrap(err, "join the container's cgroup");
	snprintf(procs, sizeof(procs), AGENT_CGROUP_MNT "%s/cgroup.procs", cg);
	r = write_file(procs, "0", err);
	return r < 0 ? sbx_err_wrap(err, "join the container's cgroup") : 0;
}

static bool run_has_cgroup;

void container_security_note_run(const struct sbx_run_req *req)
{
	run_has_cgroup = req->has_cgroup;
}

int container_security_oom_watch(void)
{
	struct sbx_err err = {0};
	if (getpid() != 1 || !run_has_cgroup || agent_cgroup_view(&err) < 0)
		return -1;
	/* -1 without a container cgroup, or without a memory controller in it. */
	return open(AGENT_CGROUP_MNT "/" CGROUP_NAME "/memory.events", O_RDONLY | O_CLOEXEC);
}

int container_security_oom_read(int fd, uint32_t *count)
{
	char buf[512];
	*count = 0;
	/* The kernel's file: still bounded, a line we do not find counts as none. */
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	const char *p = strstr(buf, "oom_kill ");
	if (!p || (p != buf && p[-1] != '\n'))
		return 0;
	unsigned long long v = strtoull(p + strlen("oom_kill "), NULL, 10);
	*count = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

uint32_t container_security_oom_kills(void)
{
	int fd = container_security_oom_watch();
	if (fd < 0)
		return 0;
	uint32_t v;
	(void)container_security_oom_read(fd, &v);
	close(fd);
	return v;
}

/* runc's masking: /dev/null over a file, an empty read-only tmpfs over a directory. */
static int mask_path(const char *path, struct sbx_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "masked path '%s'", path);
	int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
				    : mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (r < 0)
		return sbx_err_set(err, errno, "mask '%s'", path);
	return 0;
}

/* Bind the path onto itself, then make that bind read-only (a bind mount takes no flags). */
static int readonly_path(const char *path, struct sbx_err *err)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0
				       : sbx_err_set(err, errno, "bind read-only path '%s'", path);
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
	    0)
		return sbx_err_set(err, errno, "remount '%s' read-only", path);
	return 0;
}

int container_security_cgroup(const struct sbx_run_req *req, struct sbx_err *err)
{
	return req->pids_limit || req->has_cgroup ? apply_cgroup(req, err) : 0;
}

int container_security_root(const struct sbx_run_req *req, struct sbx_err *err)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < req->n_sysctl; i++)
		r = apply_sysctl(req->sysctl[i], err);
	for (size_t i = 0; r == 0 && i < req->n_masked_paths; i++)
		r = mask_path(req->masked_paths[i], err);
	for (size_t i = 0; r == 0 && i < req->n_readonly_paths; i++)
		r = readonly_path(req->readonly_paths[i], err);
	return r;
}

/* ---- workload ---- */

static int cap_last(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	int last = n > 0 ? atoi(buf) : 0;
	return last > 0 && last < 64 ? last : CAP_LAST_FALLBACK;
}

static int capset3(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
	    {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
	    {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
	};
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * setuid() to a non-root uid (with KEEPCAPS, process.c) keeps the permitted set but empties the
 * effective one: bring it back so rlimits, oom_score_adj and the capability calls are allowed.
 */
static int raise_effective(struct sbx_err *err)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return sbx_err_set(err, errno, "capget");
	uint64_t perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	uint64_t inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	if (capset3(perm, perm, inh) < 0)
		return sbx_err_set(err, errno, "capset (raise effective)");
	return 0;
}

static int apply_caps(const struct sbx_caps *c, struct sbx_err *err)
{
	int last = cap_last();
	for (int cap = 0; cap <= last; cap++)
		if (!(c->bounding & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return sbx_err_set(err, errno, "drop capability %d from the bounding set",
					   cap);
	uint64_t mask = last >= 63 ? ~0ull : (2ull << last) - 1;
	if (capset3(c->effective & mask, c->permitted & mask, c->inheritable & mask) < 0)
		return sbx_err_set(
		    err, errno, "capset effective %#llx permitted %#llx inheritable %#llx",
		    (unsigned long long)c->effective, (unsigned long long)c->permitted,
		    (unsigned long long)c->inheritable);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return sbx_err_set(err, errno, "clear the ambient set");
	/* As runc: an ambient capability outside permitted & inheritable is skipped (EPERM). */
	for (int cap = 0; cap <= last; cap++)
		if ((c->ambient & (1ull << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
			return sbx_err_set(err, errno, "raise ambient capability %d", cap);
	return 0;
}

/*
 * Denies socket(AF_VSOCK, ...) with EPERM. The guest kernel has no 32-bit or x32 syscall ABI;
 * should one exist, its calls are refused wholesale rather than left unfiltered.
 */
static const struct sock_filter vsock_filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
    /* the low half of args[0] (little-endian): socket() reads the domain as an int */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int install_filter(const struct sock_filter *insns, size_t n, const char *what,
			  struct sbx_err *err)
{
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = (struct sock_filter *)insns};
	if (n == 0 || n > BPF_MAXINSNS)
		return sbx_err_setx(err, E2BIG, "%s: %zu BPF instructions", what, n);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return sbx_err_set(err, errno, "install the %s", what);
	return 0;
}

static int install_filters(const struct sbx_run_req *req, struct sbx_err *err)
{
	int r = install_filter(vsock_filter, ARRAY_SIZE(vsock_filter), "vsock seccomp filter", err);
	if (r == 0 && req->seccomp)
		r = install_filter((const struct sock_filter *)req->seccomp, req->seccomp_len,
				   "seccomp profile", err);
	return r;
}

static int apply_rlimits(const struct sbx_run_req *req, struct sbx_err *err)
{
	for (size_t i = 0; i < req->n_rlimits; i++) {
		const struct sbx_rlimit *l = &req->rlimits[i];
		struct rlimit rl = {.rlim_cur = l->soft, .rlim_max = l->hard};
		if (setrlimit((int)l->resource, &rl) < 0)
			return sbx_err_set(err, errno, "setrlimit %u soft %llu hard %llu",
					   l->resource, (unsigned long long)l->soft,
					   (unsigned long long)l->hard);
	}
	return 0;
}

int container_security_exec(const struct sbx_run_req *req, struct sbx_err *err)
{
	const struct sbx_caps docker = {DOCKER_DEFAULT_CAPS, DOCKER_DEFAULT_CAPS, 0,
					DOCKER_DEFAULT_CAPS, 0};
	int r = raise_effective(err);
	r = r ?: apply_rlimits(req, err);
	if (r < 0)
		return r;
	if (req->has_umask)
		umask((mode_t)req->umask);
	if (req->has_oom_score_adj) {
		char num[16];
		snprintf(num, sizeof(num), "%d", (int)req->oom_score_adj);
		if ((r = write_file("/proc/self/oom_score_adj", num, err)) < 0)
			return r;
	}
	/*
	 * Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the capability
	 * step may drop: then the filters go first (the profile must allow capset and prctl, as
	 * under runc). With no_new_privs they go last, right before execve.
	 */
	if (!req->no_new_privs && (r = install_filters(req, err)) < 0)
		return r;
	if ((r = apply_caps(req->has_caps ? &req->caps : &docker, err)) < 0)
		return r;
	if (req->no_new_privs) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return sbx_err_set(err, errno, "set no_new_privs");
		r = install_filters(req, err);
	}
	return r;
}
