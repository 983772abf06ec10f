/*
 * The RUN codec's security tags (docs/protocol.md "RUN": rlimits, sysctls, masked and read-only
 * paths, umask, oom_score_adj, pids limit, capabilities, no_new_privs, seccomp, cgroup, exec
 * secret): one set of rules for the encoder and the decoder, which common/proto_run.c calls
 * from its check, encode, scan and fill passes.
 */
#include "proto_run_security.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "proto_bytes.h"

static void put_u32_tag(run_security_put_fn put, void *b, uint16_t tag, uint32_t v)
{
	uint8_t raw[4];
	put_u32(raw, v);
	put(b, tag, raw, sizeof(raw));
}

static int put_str_tag(run_security_put_fn put, void *b, uint16_t tag, const char *s,
		       struct sbx_err *err)
{
	size_t n = strlen(s);
	if (n + 1 > SBX_RUN_MAX_STR)
		return sbx_err_setx(err, E2BIG, "RUN tag %u: string of %zu bytes exceeds %u", tag,
				    n, SBX_RUN_MAX_STR - 1);
	put(b, tag, s, n);
	return 0;
}

/* Copies a checked string into the decoder's string area and advances it. */
static char *fill_str(char **strs, const uint8_t *v, uint32_t len)
{
	char *s = *strs;
	memcpy(s, v, len);
	s[len] = '\0';
	*strs += len + 1;
	return s;
}

static const char *const sysctl_ns_prefixes[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",	 "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni",	 "kernel.shm_rmid_forced",
    "fs.mqueue.",    "net.",	      "kernel.hostname", "kernel.domainname",
};

bool sbx_sysctl_allowed(const char *key, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sysctl_ns_prefixes); i++) {
		const char *p = sysctl_ns_prefixes[i];
		size_t n = strlen(p);
		bool prefix = p[n - 1] == '.';
		if (len >= n && !memcmp(key, p, n) && (prefix ? len > n : len == n))
			return true;
	}
	return false;
}

/*
 * "key=value": key of [A-Za-z0-9_.-] naming a namespaced sysctl, no empty component (it becomes
 * a path under /proc/sys, so no ".." either); value without newline.
 */
static int sysctl_check(const uint8_t *v, size_t len, struct sbx_err *err)
{
	const uint8_t *eq = memchr(v, '=', len);
	size_t klen = eq ? (size_t)(eq - v) : 0;
	if (!eq || klen == 0)
		return sbx_err_setx(err, EPROTO, "RUN: sysctl entry is not key=value");
	for (size_t i = 0; i < klen; i++) {
		uint8_t c = v[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		if (!ok || (c == '.' && (i == 0 || i == klen - 1 || v[i - 1] == '.')))
			return sbx_err_setx(err, EINVAL, "RUN: sysctl key '%.*s' is malformed",
					    (int)klen, (const char *)v);
	}
	if (!sbx_sysctl_allowed((const char *)v, klen))
		return sbx_err_setx(err, EINVAL,
				    "RUN: sysctl '%.*s' is not in a namespace of the container",
				    (int)klen, (const char *)v);
	if (memchr(eq, '\n', len - klen))
		return sbx_err_setx(err, EINVAL, "RUN: sysctl value holds a newline");
	return 0;
}

static int abs_path_check(uint16_t tag, const uint8_t *v, size_t len, struct sbx_err *err)
{
	if (len == 0 || v[0] != '/')
		return sbx_err_setx(err, EINVAL, "RUN tag %u: path is not absolute", tag);
	return 0;
}

static int rlimit_check(uint32_t res, uint64_t soft, uint64_t hard, struct sbx_err *err)
{
	if (res >= SBX_RUN_MAX_RLIMITS)
		return sbx_err_setx(err, EINVAL, "RUN: rlimit resource %u is unknown", res);
	if (soft > hard)
		return sbx_err_setx(err, EINVAL, "RUN: rlimit %u: soft %llu above hard %llu", res,
				    (unsigned long long)soft, (unsigned long long)hard);
	return 0;
}

static int oom_check(int32_t adj, struct sbx_err *err)
{
	if (adj < -1000 || adj > 1000)
		return sbx_err_setx(err, EINVAL, "RUN: oom_score_adj %d is outside -1000..1000",
				    adj);
	return 0;
}

/* cgroup2's own bounds, so that a value the guest kernel would refuse never reaches it. */
static int cgroup_check(const struct sbx_cgroup_limits *c, struct sbx_err *err)
{
	if (c->cpu_weight > SBX_CPU_WEIGHT_MAX)
		return sbx_err_setx(err, EINVAL, "RUN: cpu weight %u is outside 1..%u",
				    c->cpu_weight, SBX_CPU_WEIGHT_MAX);
	if (c->cpu_period_us &&
	    (c->cpu_period_us < SBX_CPU_PERIOD_MIN || c->cpu_period_us > SBX_CPU_PERIOD_MAX))
		return sbx_err_setx(err, EINVAL, "RUN: cpu period %llu us is outside %u..%u",
				    (unsigned long long)c->cpu_period_us, SBX_CPU_PERIOD_MIN,
				    SBX_CPU_PERIOD_MAX);
	if (c->cpu_quota_us && c->cpu_quota_us < SBX_CPU_PERIOD_MIN)
		return sbx_err_setx(err, EINVAL, "RUN: cpu quota %llu us is below %u",
				    (unsigned long long)c->cpu_quota_us, SBX_CPU_PERIOD_MIN);
	return 0;
}

static void cgroup_get(const uint8_t *v, struct sbx_cgroup_limits *c)
{
	*c = (struct sbx_cgroup_limits){.memory_max = get_u64(v),
					.memory_low = get_u64(v + 8),
					.swap_max = get_u64(v + 16),
					.cpu_quota_us = get_u64(v + 24),
					.cpu_period_us = get_u64(v + 32),
					.cpu_weight = get_u32(v + 40)};
}

static int strv_check(uint16_t tag, char *const *v, size_t n, size_t max, struct sbx_err *err)
{
	if (n > max)
		return sbx_err_setx(err, E2BIG, "RUN tag %u: %zu entries exceed %zu", tag, n, max);
	if (n && !v)
		return sbx_err_setx(err, EINVAL, "RUN tag %u: %zu entries without an array", tag,
				    n);
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			return sbx_err_setx(err, EINVAL, "RUN tag %u: entry %zu is NULL", tag, i);
		int r = tag == SBX_RUN_SYSCTL
			    ? sysctl_check((const uint8_t *)v[i], strlen(v[i]), err)
			    : abs_path_check(tag, (const uint8_t *)v[i], strlen(v[i]), err);
		if (r < 0)
			return r;
	}
	return 0;
}

int run_security_check(const struct sbx_run_req *req, struct sbx_err *err)
{
	if (req->n_rlimits > SBX_RUN_MAX_RLIMITS)
		return sbx_err_setx(err, E2BIG, "RUN: %zu rlimits exceed %u", req->n_rlimits,
				    SBX_RUN_MAX_RLIMITS);
	for (size_t i = 0; i < req->n_rlimits; i++) {
		const struct sbx_rlimit *l = &req->rlimits[i];
		int r = rlimit_check(l->resource, l->soft, l->hard, err);
		if (r < 0)
			return r;
	}
	int r = strv_check(SBX_RUN_SYSCTL, req->sysctl, req->n_sysctl, SBX_RUN_MAX_SYSCTL, err);
	r = r
		?: strv_check(SBX_RUN_MASKED_PATH, req->masked_paths, req->n_masked_paths,
			      SBX_RUN_MAX_PATHS, err);
	r = r
		?: strv_check(SBX_RUN_READONLY_PATH, req->readonly_paths, req->n_readonly_paths,
			      SBX_RUN_MAX_PATHS, err);
	if (r < 0)
		return r;
	if (req->has_umask && req->umask > 0777)
		return sbx_err_setx(err, EINVAL, "RUN: umask %#o is not a umask", req->umask);
	if (req->has_oom_score_adj && (r = oom_check(req->oom_score_adj, err)) < 0)
		return r;
	if (req->seccomp && (req->seccomp_len < 1 || req->seccomp_len > SBX_RUN_BPF_MAX))
		return sbx_err_setx(err, E2BIG,
				    "RUN: seccomp program of %zu instructions, want 1..%u",
				    req->seccomp_len, SBX_RUN_BPF_MAX);
	return req->has_cgroup ? cgroup_check(&req->cgroup, err) : 0;
}

int run_security_encode(const struct sbx_run_req *req, run_security_put_fn put, void *b,
			struct sbx_err *err)
{
	int r = 0;
	for (size_t i = 0; i < req->n_rlimits; i++) {
		uint8_t v[20];
		put_u32(v, req->rlimits[i].resource);
		put_u64(v + 4, req->rlimits[i].soft);
		put_u64(v + 12, req->rlimits[i].hard);
		put(b, SBX_RUN_RLIMIT, v, sizeof(v));
	}
	for (size_t i = 0; r == 0 && i < req->n_sysctl; i++)
		r = put_str_tag(put, b, SBX_RUN_SYSCTL, req->sysctl[i], err);
	for (size_t i = 0; r == 0 && i < req->n_masked_paths; i++)
		r = put_str_tag(put, b, SBX_RUN_MASKED_PATH, req->masked_paths[i], err);
	for (size_t i = 0; r == 0 && i < req->n_readonly_paths; i++)
		r = put_str_tag(put, b, SBX_RUN_READONLY_PATH, req->readonly_paths[i], err);
	if (r < 0)
		return r;
	if (req->has_umask)
		put_u32_tag(put, b, SBX_RUN_UMASK, req->umask);
	if (req->has_oom_score_adj)
		put_u32_tag(put, b, SBX_RUN_OOM_SCORE_ADJ, (uint32_t)req->oom_score_adj);
	if (req->pids_limit) {
		uint8_t v[8];
		put_u64(v, req->pids_limit);
		put(b, SBX_RUN_PIDS_LIMIT, v, sizeof(v));
	}
	if (req->has_caps) {
		uint8_t v[40];
		const uint64_t sets[5] = {req->caps.bounding, req->caps.effective,
					  req->caps.inheritable, req->caps.permitted,
					  req->caps.ambient};
		for (int i = 0; i < 5; i++)
			put_u64(v + 8 * i, sets[i]);
		put(b, SBX_RUN_CAPS, v, sizeof(v));
	}
	if (req->no_new_privs)
		put_u32_tag(put, b, SBX_RUN_NO_NEW_PRIVS, 1);
	if (req->seccomp) {
		cleanup_free uint8_t *v = malloc(req->seccomp_len * 8);
		if (!v)
			return sbx_err_set(err, ENOMEM, "RUN: encode the seccomp program");
		for (size_t i = 0; i < req->seccomp_len; i++) {
			put_u16(v + 8 * i, req->seccomp[i].code);
			v[8 * i + 2] = req->seccomp[i].jt;
			v[8 * i + 3] = req->seccomp[i].jf;
			put_u32(v + 8 * i + 4, req->seccomp[i].k);
		}
		put(b, SBX_RUN_SECCOMP, v, req->seccomp_len * 8);
	}
	if (req->has_cgroup) {
		uint8_t v[SBX_RUN_CGROUP_SIZE];
		const struct sbx_cgroup_limits *c = &req->cgroup;
		put_u64(v, c->memory_max);
		put_u64(v + 8, c->memory_low);
		put_u64(v + 16, c->swap_max);
		put_u64(v + 24, c->cpu_quota_us);
		put_u64(v + 32, c->cpu_period_us);
		put_u32(v + 40, c->cpu_weight);
		put_u32(v + 44, 0);
		put(b, SBX_RUN_CGROUP, v, sizeof(v));
	}
	if (req->has_exec_secret)
		put(b, SBX_RUN_EXEC_SECRET, req->exec_secret, SBX_EXEC_SECRET_LEN);
	return 0;
}

int run_security_scan(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err)
{
	switch (tag) {
	case SBX_RUN_SYSCTL:
		return sysctl_check(v, len, err);
	case SBX_RUN_MASKED_PATH:
	case SBX_RUN_READONLY_PATH:
		return abs_path_check(tag, v, len, err);
	case SBX_RUN_SECCOMP:
		if (len == 0 || len % 8 || len / 8 > SBX_RUN_BPF_MAX)
			return sbx_err_setx(
			    err, EPROTO,
			    "RUN: seccomp program of %u bytes is not 1..%u instructions", len,
			    SBX_RUN_BPF_MAX);
		return 0;
	case SBX_RUN_RLIMIT:
		return rlimit_check(get_u32(v), get_u64(v + 4), get_u64(v + 12), err);
	case SBX_RUN_UMASK:
		if (get_u32(v) > 0777)
			return sbx_err_setx(err, EINVAL, "RUN: umask %#o is not a umask",
					    get_u32(v));
		return 0;
	case SBX_RUN_OOM_SCORE_ADJ:
		return oom_check((int32_t)get_u32(v), err);
	case SBX_RUN_PIDS_LIMIT:
		if (get_u64(v) == 0)
			return sbx_err_setx(err, EINVAL, "RUN: pids limit 0");
		return 0;
	case SBX_RUN_NO_NEW_PRIVS:
		if (get_u32(v) > 1)
			return sbx_err_setx(err, EPROTO, "RUN tag %u: boolean is %u", tag,
					    get_u32(v));
		return 0;
	case SBX_RUN_CGROUP: {
		struct sbx_cgroup_limits c;
		if (get_u32(v + 44) != 0)
			return sbx_err_setx(err, EPROTO, "RUN: cgroup reserved field set");
		cgroup_get(v, &c);
		return cgroup_check(&c, err);
	}
	}
	return 0;
}

static void fill_bpf(struct sbx_bpf_insn *out, const uint8_t *v, uint32_t len)
{
	for (uint32_t i = 0; i < len / 8; i++, v += 8)
		out[i] = (struct sbx_bpf_insn){
		    .code = get_u16(v), .jt = v[2], .jf = v[3], .k = get_u32(v + 4)};
}

void run_security_fill(struct sbx_run_req *q, uint16_t tag, const uint8_t *v, uint32_t len,
		       char **strs, struct sbx_bpf_insn *bpf)
{
	switch (tag) {
	case SBX_RUN_RLIMIT:
		q->rlimits[q->n_rlimits++] = (struct sbx_rlimit){
		    .resource = get_u32(v), .soft = get_u64(v + 4), .hard = get_u64(v + 12)};
		break;
	case SBX_RUN_SYSCTL:
		q->sysctl[q->n_sysctl++] = fill_str(strs, v, len);
		break;
	case SBX_RUN_MASKED_PATH:
		q->masked_paths[q->n_masked_paths++] = fill_str(strs, v, len);
		break;
	case SBX_RUN_READONLY_PATH:
		q->readonly_paths[q->n_readonly_paths++] = fill_str(strs, v, len);
		break;
	case SBX_RUN_UMASK:
		q->has_umask = true;
		q->umask = get_u32(v);
		break;
	case SBX_RUN_OOM_SCORE_ADJ:
		q->has_oom_score_adj = true;
		q->oom_score_adj = (int32_t)get_u32(v);
		break;
	case SBX_RUN_PIDS_LIMIT:
		q->pids_limit = get_u64(v);
		break;
	case SBX_RUN_CAPS:
		q->has_caps = true;
		q->caps = (struct sbx_caps){get_u64(v), get_u64(v + 8), get_u64(v + 16),
					    get_u64(v + 24), get_u64(v + 32)};
		break;
	case SBX_RUN_NO_NEW_PRIVS:
		q->no_new_privs = get_u32(v);
		break;
	case SBX_RUN_SECCOMP:
		fill_bpf(bpf, v, len);
		q->seccomp = bpf;
		q->seccomp_len = len / 8;
		break;
	case SBX_RUN_CGROUP:
		q->has_cgroup = true;
		cgroup_get(v, &q->cgroup);
		break;
	case SBX_RUN_EXEC_SECRET:
		q->has_exec_secret = true;
		memcpy(q->exec_secret, v, SBX_EXEC_SECRET_LEN);
		break;
	}
}
