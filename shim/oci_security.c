/*
 * config.json's security settings -> the RUN's security fields (shim/oci_security.h). Names
 * are resolved here so the guest only ever sees numbers: capability bits, rlimit resources,
 * syscall numbers inside a BPF program.
 */
#include "oci_security.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "oci_log.h"

/* linux/capability.h order: the index is the capability number. */
static const char *const cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

uint64_t oci_caps_mask(char *const *names, size_t n)
{
	uint64_t mask = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		size_t c = 0;
		if (!strncasecmp(name, "CAP_", 4)) {
			for (; c < ARRAY_SIZE(cap_names); c++)
				if (!strcasecmp(name + 4, cap_names[c]))
					break;
		} else {
			c = ARRAY_SIZE(cap_names);
		}
		if (c < ARRAY_SIZE(cap_names))
			mask |= 1ull << c;
		else
			oci_debug("config.json: unknown capability '%s', skipped", name);
	}
	return mask;
}

static const char *const rlimit_names[] = {
    "CPU",     "FSIZE", "DATA",	 "STACK",      "CORE",	   "RSS",  "NPROC",  "NOFILE",
    "MEMLOCK", "AS",	"LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

int oci_rlimit_resource(const char *name)
{
	if (strncmp(name, "RLIMIT_", 7))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (!strcmp(name + 7, rlimit_names[i]))
			return (int)i;
	return -1;
}

/* ---- seccomp ---- */

static int seccomp_action(const char *name, bool has_errno, uint32_t errno_ret, uint32_t *act,
			  struct sbx_err *err)
{
	uint16_t ret = has_errno ? (uint16_t)errno_ret : EPERM;
	if (has_errno && errno_ret > 0xffff)
		return sbx_err_setx(err, ERANGE, "seccomp: errnoRet %u is out of range", errno_ret);
	if (!strcmp(name, "SCMP_ACT_ALLOW"))
		*act = SCMP_ACT_ALLOW;
	else if (!strcmp(name, "SCMP_ACT_ERRNO"))
		*act = SCMP_ACT_ERRNO(ret);
	else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
		*act = SCMP_ACT_KILL;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
		*act = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP"))
		*act = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_TRACE"))
		*act = SCMP_ACT_TRACE(ret);
	else if (!strcmp(name, "SCMP_ACT_LOG"))
		*act = SCMP_ACT_LOG;
	else if (!strcmp(name, "SCMP_ACT_NOTIFY"))
		return sbx_err_setx(err, ENOTSUP,
				    "seccomp: action SCMP_ACT_NOTIFY is not supported (no listener "
				    "can reach into the VM)");
	else
		return sbx_err_setx(err, EINVAL, "seccomp: unknown action '%s'", name);
	return 0;
}

static int seccomp_op(const char *name, enum scmp_compare *op, struct sbx_err *err)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
	    {"SCMP_CMP_NE", SCMP_CMP_NE},
	    {"SCMP_CMP_LT", SCMP_CMP_LT},
	    {"SCMP_CMP_LE", SCMP_CMP_LE},
	    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
	    {"SCMP_CMP_GE", SCMP_CMP_GE},
	    {"SCMP_CMP_GT", SCMP_CMP_GT},
	    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(name, ops[i].name)) {
			*op = ops[i].op;
			return 0;
		}
	return sbx_err_setx(err, EINVAL, "seccomp: unknown operator '%s'", name);
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for "x86_64". */
static int seccomp_arch(const char *name, uint32_t *arch, struct sbx_err *err)
{
	char lower[32];
	size_t i = 0;
	if (strncmp(name, "SCMP_ARCH_", 10) || strlen(name + 10) >= sizeof(lower))
		return sbx_err_setx(err, EINVAL, "seccomp: unknown architecture '%s'", name);
	for (; name[10 + i]; i++)
		lower[i] = (char)tolower((unsigned char)name[10 + i]);
	lower[i] = '\0';
	*arch = seccomp_arch_resolve_name(lower);
	if (*arch == 0)
		return sbx_err_setx(err, EINVAL, "seccomp: unknown architecture '%s'", name);
	return 0;
}

static int seccomp_flags(const struct oci_seccomp *sc, struct sbx_err *err)
{
	static const char *const harmless[] = {"SECCOMP_FILTER_FLAG_TSYNC",
					       "SECCOMP_FILTER_FLAG_LOG",
					       "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
	for (size_t i = 0; i < sc->n_flags; i++) {
		bool known = false;
		for (size_t j = 0; j < ARRAY_SIZE(harmless); j++)
			known |= !strcmp(sc->flags[i], harmless[j]);
		if (!known)
			return sbx_err_setx(err, EINVAL, "seccomp: unknown flag '%s'",
					    sc->flags[i]);
		oci_debug("seccomp: flag %s ignored (the filter is installed by the guest agent)",
			  sc->flags[i]);
	}
	return 0;
}

static bool args_share_index(const struct oci_seccomp_rule *rule)
{
	for (size_t i = 0; i < rule->n_args; i++)
		for (size_t j = i + 1; j < rule->n_args; j++)
			if (rule->args[i].index == rule->args[j].index)
				return true;
	return false;
}

/*
 * One rule per syscall name. Conditions on distinct arguments are ANDed in one rule; several
 * conditions on the same argument become one rule each (ORed), as runc does (libseccomp cannot
 * AND two comparisons of one argument).
 */
static int add_rule(scmp_filter_ctx ctx, int nr, uint32_t act, const struct oci_seccomp_rule *rule,
		    struct sbx_err *err)
{
	struct scmp_arg_cmp cmp[6];
	if (rule->n_args > ARRAY_SIZE(cmp))
		return sbx_err_setx(err, E2BIG, "seccomp: %zu argument conditions", rule->n_args);
	for (size_t i = 0; i < rule->n_args; i++) {
		const struct oci_seccomp_arg *a = &rule->args[i];
		enum scmp_compare op = SCMP_CMP_EQ;
		if (a->index > 5)
			return sbx_err_setx(err, EINVAL, "seccomp: argument index %u is not 0..5",
					    a->index);
		int r = seccomp_op(a->op, &op, err);
		if (r < 0)
			return r;
		cmp[i] = (struct scmp_arg_cmp){
		    .arg = a->index, .op = op, .datum_a = a->value, .datum_b = a->value_two};
	}
	int r = 0;
	if (rule->n_args && args_share_index(rule)) {
		for (size_t i = 0; r == 0 && i < rule->n_args; i++)
			r = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[i]);
	} else {
		r = seccomp_rule_add_array(ctx, act, nr, (unsigned)rule->n_args, cmp);
	}
	if (r < 0)
		return sbx_err_set(err, -r, "seccomp: add a rule for syscall %d", nr);
	return 0;
}

static int add_rules(scmp_filter_ctx ctx, uint32_t def, const struct oci_seccomp_rule *rule,
		     struct sbx_err *err)
{
	uint32_t act;
	int r = seccomp_action(rule->action, rule->has_errno_ret, rule->errno_ret, &act, err);
	if (r < 0)
		return r;
	if (act == def)
		return 0; /* libseccomp refuses rules that restate the default; they change nothing
			   */
	for (size_t i = 0; i < rule->n_names; i++) {
		int nr = seccomp_syscall_resolve_name(rule->names[i]);
		if (nr == __NR_SCMP_ERROR) {
			oci_debug("seccomp: unknown syscall '%s', skipped", rule->names[i]);
			continue;
		}
		if ((r = add_rule(ctx, nr, act, rule, err)) < 0)
			return sbx_err_wrap(err, "seccomp: syscall '%s'", rule->names[i]);
	}
	return 0;
}

/* seccomp_export_bpf writes to an fd: a memfd, read back as instructions. */
static int export_bpf(scmp_filter_ctx ctx, struct sbx_bpf_insn **prog, size_t *n,
		      struct sbx_err *err)
{
	cleanup_close int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return sbx_err_set(err, errno, "memfd_create");
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return sbx_err_set(err, -r, "seccomp: export the BPF program");
	if (fstat(fd, &st) < 0)
		return sbx_err_set(err, errno, "seccomp: fstat");
	size_t len = (size_t)st.st_size, insns = len / sizeof(struct sbx_bpf_insn);
	if (len % sizeof(struct sbx_bpf_insn) || insns == 0)
		return sbx_err_setx(err, EIO, "seccomp: BPF program of %zu bytes", len);
	if (insns > SBX_RUN_BPF_MAX)
		return sbx_err_setx(err, E2BIG,
				    "seccomp: the profile compiles to %zu BPF instructions, more "
				    "than the kernel's %u",
				    insns, SBX_RUN_BPF_MAX);
	cleanup_free struct sbx_bpf_insn *p = malloc(len);
	if (!p)
		return sbx_err_set(err, ENOMEM, "seccomp: BPF program");
	if (pread(fd, p, len, 0) != (ssize_t)len)
		return sbx_err_set(err, errno ?: EIO, "seccomp: read the BPF program back");
	*prog = steal_ptr(p);
	*n = insns;
	return 0;
}

int oci_seccomp_compile(const struct oci_seccomp *sc, struct sbx_bpf_insn **prog, size_t *n,
			struct sbx_err *err)
{
	uint32_t def = 0, arch = 0;
	int r = seccomp_action(sc->default_action, sc->has_default_errno_ret, sc->default_errno_ret,
			       &def, err);
	r = r ?: seccomp_flags(sc, err);
	if (r < 0)
		return r;
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		return sbx_err_setx(err, EINVAL, "seccomp: cannot create a filter");
	for (size_t i = 0; r == 0 && i < sc->n_architectures; i++) {
		r = seccomp_arch(sc->architectures[i], &arch, err);
		int a = r < 0 ? 0 : seccomp_arch_add(ctx, arch);
		if (a < 0 && a != -EEXIST)
			r = sbx_err_set(err, -a, "seccomp: add architecture '%s'",
					sc->architectures[i]);
	}
	for (size_t i = 0; r == 0 && i < sc->n_syscalls; i++)
		r = add_rules(ctx, def, &sc->syscalls[i], err);
	r = r ?: export_bpf(ctx, prog, n, err);
	seccomp_release(ctx);
	return r;
}

/* ---- the whole translation ---- */

static int paths_check(const char *what, char *const *v, size_t n, struct sbx_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (v[i][0] != '/')
			return sbx_err_setx(err, EINVAL,
					    "config.json: %s[%zu]: '%s' is not absolute", what, i,
					    v[i]);
	return 0;
}

static int sysctl_to_run(const struct oci_spec *spec, struct sbx_run_req *req,
			 struct oci_security *sec, struct sbx_err *err)
{
	if (!spec->n_sysctl)
		return 0;
	if (!(sec->sysctl = calloc(spec->n_sysctl, sizeof(char *))))
		return sbx_err_set(err, ENOMEM, "sysctl");
	for (size_t i = 0; i < spec->n_sysctl; i++) {
		const struct oci_kv *kv = &spec->sysctl[i];
		if (!sbx_sysctl_allowed(kv->key, strlen(kv->key)))
			return sbx_err_setx(err, EINVAL,
					    "config.json: linux.sysctl: '%s' is not in a namespace "
					    "of the container (allowed: kernel.msg*, kernel.sem, "
					    "kernel.shm*, fs.mqueue.*, net.*)",
					    kv->key);
		if (asprintf(&sec->sysctl[i], "%s=%s", kv->key, kv->value) < 0)
			return sbx_err_set(err, ENOMEM, "sysctl");
		sec->n_sysctl++;
	}
	req->sysctl = sec->sysctl;
	req->n_sysctl = sec->n_sysctl;
	return 0;
}

int oci_process_security_to_run(const struct oci_process *p, const char *doc,
				struct sbx_run_req *req, struct sbx_err *err)
{
	if (p->n_rlimits > SBX_RUN_MAX_RLIMITS)
		return sbx_err_setx(err, E2BIG, "%s: process.rlimits: more than %u", doc,
				    SBX_RUN_MAX_RLIMITS);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		int res = oci_rlimit_resource(p->rlimits[i].type);
		if (res < 0)
			return sbx_err_setx(err, EINVAL,
					    "%s: process.rlimits[%zu]: unknown type '%s'", doc, i,
					    p->rlimits[i].type);
		if (p->rlimits[i].soft > p->rlimits[i].hard)
			return sbx_err_setx(err, EINVAL,
					    "%s: process.rlimits[%zu]: soft limit above hard limit",
					    doc, i);
		req->rlimits[req->n_rlimits++] =
		    (struct sbx_rlimit){(uint32_t)res, p->rlimits[i].soft, p->rlimits[i].hard};
	}
	req->has_umask = p->has_umask;
	req->umask = p->umask;
	req->has_oom_score_adj = p->has_oom_score_adj;
	req->oom_score_adj = p->oom_score_adj;
	req->no_new_privs = p->no_new_privileges;
	req->has_caps = p->has_caps;
	if (p->has_caps)
		req->caps = (struct sbx_caps){
		    .bounding = oci_caps_mask(p->caps_bounding, p->n_caps_bounding),
		    .effective = oci_caps_mask(p->caps_effective, p->n_caps_effective),
		    .inheritable = oci_caps_mask(p->caps_inheritable, p->n_caps_inheritable),
		    .permitted = oci_caps_mask(p->caps_permitted, p->n_caps_permitted),
		    .ambient = oci_caps_mask(p->caps_ambient, p->n_caps_ambient),
		};
	return 0;
}

/* runc's conversion of cgroup v1 cpu.shares (2..262144) to cgroup2 cpu.weight (1..10000). */
uint32_t oci_cpu_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
	return (uint32_t)(1 + ((shares - 2) * 9999) / 262142);
}

int oci_cgroup_to_run(const struct oci_resources *res, struct sbx_cgroup_limits *c,
		      struct sbx_err *err)
{
	*c = (struct sbx_cgroup_limits){.swap_max = UINT64_MAX};
	if (res->memory_limit > 0)
		c->memory_max = (uint64_t)res->memory_limit;
	if (res->memory_reservation > 0)
		c->memory_low = (uint64_t)res->memory_reservation;
	/* OCI's swap is memory + swap; cgroup2's memory.swap.max is the swap alone. */
	if (res->memory_swap > 0 && res->memory_limit > 0)
		c->swap_max = res->memory_swap > res->memory_limit
				  ? (uint64_t)(res->memory_swap - res->memory_limit)
				  : 0;
	if (res->cpu_period &&
	    (res->cpu_period < SBX_CPU_PERIOD_MIN || res->cpu_period > SBX_CPU_PERIOD_MAX))
		return sbx_err_setx(
		    err, EINVAL, "config.json: linux.resources.cpu.period: %llu is outside %u..%u",
		    (unsigned long long)res->cpu_period, SBX_CPU_PERIOD_MIN, SBX_CPU_PERIOD_MAX);
	if (res->cpu_quota) {
		if (res->cpu_quota < SBX_CPU_PERIOD_MIN)
			return sbx_err_setx(
			    err, EINVAL, "config.json: linux.resources.cpu.quota: %llu is below %u",
			    (unsigned long long)res->cpu_quota, SBX_CPU_PERIOD_MIN);
		c->cpu_quota_us = res->cpu_quota;
		c->cpu_period_us = res->cpu_period ? res->cpu_period : 100000;
	}
	c->cpu_weight = oci_cpu_shares_to_weight(res->cpu_shares);
	return 0;
}

int oci_security_to_run(const struct oci_spec *spec, struct sbx_run_req *req,
			struct oci_security *sec, struct sbx_err *err)
{
	int r = oci_process_security_to_run(&spec->process, "config.json", req, err);
	r = r ?: paths_check("linux.maskedPaths", spec->masked_paths, spec->n_masked_paths, err);
	r = r
		?: paths_check("linux.readonlyPaths", spec->readonly_paths, spec->n_readonly_paths,
			       err);
	r = r ?: sysctl_to_run(spec, req, sec, err);
	if (r < 0)
		return r;
	if (spec->n_masked_paths > SBX_RUN_MAX_PATHS || spec->n_readonly_paths > SBX_RUN_MAX_PATHS)
		return sbx_err_setx(err, E2BIG,
				    "config.json: more than %u masked or read-only paths",
				    SBX_RUN_MAX_PATHS);
	req->masked_paths = spec->masked_paths;
	req->n_masked_paths = spec->n_masked_paths;
	req->readonly_paths = spec->readonly_paths;
	req->n_readonly_paths = spec->n_readonly_paths;
	if (spec->resources.pids_limit > 0)
		req->pids_limit = (uint64_t)spec->resources.pids_limit;
	/* Always a container cgroup: exec'd processes join it and its OOM kills are counted. */
	req->has_cgroup = true;
	if ((r = oci_cgroup_to_run(&spec->resources, &req->cgroup, err)) < 0)
		return r;
	req->has_exec_secret = spec->has_exec_secret;
	memcpy(req->exec_secret, spec->exec_secret, sizeof(req->exec_secret));
	if (spec->has_seccomp) {
		r = oci_seccomp_compile(&spec->seccomp, &sec->bpf, &req->seccomp_len, err);
		if (r < 0)
			return sbx_err_wrap(err, "config.json");
		req->seccomp = sec->bpf;
	}
	return 0;
}

void oci_security_free(struct oci_security *sec)
{
	for (size_t i = 0; sec->sysctl && i < sec->n_sysctl; i++)
		free(sec->sysctl[i]);
	free(sec->sysctl);
	free(sec->bpf);
	memset(sec, 0, sizeof(*sec));
}
