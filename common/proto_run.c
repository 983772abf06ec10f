/*
 * The RUN request codec (docs/protocol.md, "RUN"): a TLV list the host encodes and the agent
 * decodes. The decoder treats its input as hostile, as every decoder in common/proto.c does:
 * two passes, the first validating everything and sizing one allocation, the second filling it.
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "proto_bytes.h"
#include "proto_run_hooks.h"

#define TLV_HDR_SIZE 8u
#define DEFAULT_CWD "/"

/* ---- RUN codec ---- */

/* Growable output buffer for the encoder; `err` is sticky so callers check once at the end. */
struct tlv_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void tlv_put(struct tlv_buf *b, uint16_t tag, const void *val, size_t len)
{
	if (b->err)
		return;
	if (len > SBX_FRAME_MAX || b->len + TLV_HDR_SIZE + len > SBX_FRAME_MAX) {
		b->err = -E2BIG;
		return;
	}
	size_t need = b->len + TLV_HDR_SIZE + len;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	put_u16(b->p + b->len, tag);
	put_u16(b->p + b->len + 2, 0);
	put_u32(b->p + b->len + 4, (uint32_t)len);
	if (len)
		memcpy(b->p + b->len + TLV_HDR_SIZE, val, len);
	b->len = need;
}

static void tlv_put_u32(struct tlv_buf *b, uint16_t tag, uint32_t v)
{
	uint8_t raw[4];
	put_u32(raw, v);
	tlv_put(b, tag, raw, sizeof(raw));
}

static int tlv_put_str(struct tlv_buf *b, uint16_t tag, const char *s, struct sbx_err *err)
{
	size_t n = strlen(s);
	if (n + 1 > SBX_RUN_MAX_STR)
		return sbx_err_setx(err, E2BIG, "RUN tag %u: string of %zu bytes exceeds %u", tag,
				    n, SBX_RUN_MAX_STR - 1);
	tlv_put(b, tag, s, n);
	return 0;
}

/* ---- security settings: one set of rules for the encoder and the decoder ---- */

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

static int run_check_security(const struct sbx_run_req *req, struct sbx_err *err)
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

static int put_security(struct tlv_buf *b, const struct sbx_run_req *req, struct sbx_err *err)
{
	int r = 0;
	for (size_t i = 0; i < req->n_rlimits; i++) {
		uint8_t v[20];
		put_u32(v, req->rlimits[i].resource);
		put_u64(v + 4, req->rlimits[i].soft);
		put_u64(v + 12, req->rlimits[i].hard);
		tlv_put(b, SBX_RUN_RLIMIT, v, sizeof(v));
	}
	for (size_t i = 0; r == 0 && i < req->n_sysctl; i++)
		r = tlv_put_str(b, SBX_RUN_SYSCTL, req->sysctl[i], err);
	for (size_t i = 0; r == 0 && i < req->n_masked_paths; i++)
		r = tlv_put_str(b, SBX_RUN_MASKED_PATH, req->masked_paths[i], err);
	for (size_t i = 0; r == 0 && i < req->n_readonly_paths; i++)
		r = tlv_put_str(b, SBX_RUN_READONLY_PATH, req->readonly_paths[i], err);
	if (r < 0)
		return r;
	if (req->has_umask)
		tlv_put_u32(b, SBX_RUN_UMASK, req->umask);
	if (req->has_oom_score_adj)
		tlv_put_u32(b, SBX_RUN_OOM_SCORE_ADJ, (uint32_t)req->oom_score_adj);
	if (req->pids_limit) {
		uint8_t v[8];
		put_u64(v, req->pids_limit);
		tlv_put(b, SBX_RUN_PIDS_LIMIT, v, sizeof(v));
	}
	if (req->has_caps) {
		uint8_t v[40];
		const uint64_t sets[5] = {req->caps.bounding, req->caps.effective,
					  req->caps.inheritable, req->caps.permitted,
					  req->caps.ambient};
		for (int i = 0; i < 5; i++)
			put_u64(v + 8 * i, sets[i]);
		tlv_put(b, SBX_RUN_CAPS, v, sizeof(v));
	}
	if (req->no_new_privs)
		tlv_put_u32(b, SBX_RUN_NO_NEW_PRIVS, 1);
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
		tlv_put(b, SBX_RUN_SECCOMP, v, req->seccomp_len * 8);
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
		tlv_put(b, SBX_RUN_CGROUP, v, sizeof(v));
	}
	if (req->has_exec_secret)
		tlv_put(b, SBX_RUN_EXEC_SECRET, req->exec_secret, SBX_EXEC_SECRET_LEN);
	return 0;
}

bool sbx_secret_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	/* volatile: the compiler must not turn the loop into an early-exit memcmp */
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static int run_check_req(const struct sbx_run_req *req, struct sbx_err *err)
{
	if (req->argc < 1 || !req->argv)
		return sbx_err_setx(err, EINVAL, "RUN: empty argv");
	if (req->argc > SBX_RUN_MAX_ARGS || req->envc > SBX_RUN_MAX_ENV)
		return sbx_err_setx(err, E2BIG, "RUN: %zu args / %zu env entries exceed %u / %u",
				    req->argc, req->envc, SBX_RUN_MAX_ARGS, SBX_RUN_MAX_ENV);
	if (req->n_add_gids > SBX_RUN_MAX_GIDS)
		return sbx_err_setx(err, E2BIG, "RUN: %zu groups exceed %u", req->n_add_gids,
				    SBX_RUN_MAX_GIDS);
	if (req->n_mounts > SBX_RUN_MAX_MOUNTS)
		return sbx_err_setx(err, E2BIG, "RUN: %zu mounts exceed %u", req->n_mounts,
				    SBX_RUN_MAX_MOUNTS);
	if (req->envc && !req->envp)
		return sbx_err_setx(err, EINVAL, "RUN: envc %zu without envp", req->envc);
	for (size_t i = 0; i < req->argc; i++)
		if (!req->argv[i])
			return sbx_err_setx(err, EINVAL, "RUN: argv[%zu] is NULL", i);
	for (size_t i = 0; i < req->envc; i++)
		if (!req->envp[i] || !strchr(req->envp[i], '=') || req->envp[i][0] == '=')
			return sbx_err_setx(err, EINVAL, "RUN: env entry %zu is not K=V", i);
	if (req->cwd && req->cwd[0] != '/')
		return sbx_err_setx(err, EINVAL, "RUN: cwd '%s' is not absolute", req->cwd);
	if (req->seed_len && (req->seed_len < SBX_RUN_SEED_MIN || req->seed_len > SBX_RUN_SEED_MAX))
		return sbx_err_setx(err, EINVAL, "RUN: seed of %zu bytes, want %u..%u",
				    req->seed_len, SBX_RUN_SEED_MIN, SBX_RUN_SEED_MAX);
	return run_check_security(req, err);
}

bool sbx_mount_name_ok(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && !memcmp(s, "..", 2)))
		return false;
	return !memchr(s, '/', len) && !memchr(s, ':', len) && !memchr(s, '\0', len);
}

/* "ro:TAG[/NAME]:/target": the decoder checks the same rules (mount_check). */
static int put_mount(struct tlv_buf *b, const struct sbx_mount *m, struct sbx_err *err)
{
	if (!m->tag || !m->target || !m->tag[0] || strlen(m->tag) > SBX_RUN_MOUNT_TAG_MAX ||
	    strpbrk(m->tag, ":/") || m->target[0] != '/' ||
	    (m->subpath && !sbx_mount_name_ok(m->subpath, strlen(m->subpath))))
		return sbx_err_setx(err, EINVAL, "RUN: bad mount '%s' on '%s'",
				    m->tag ? m->tag : "", m->target ? m->target : "");
	const char *sub = m->subpath ? m->subpath : "";
	size_t n = 3 + strlen(m->tag) + 1 + strlen(sub) + 1 + strlen(m->target) + 1;
	cleanup_free char *s = malloc(n);
	if (!s)
		return sbx_err_set(err, ENOMEM, "RUN: encode mount");
	snprintf(s, n, "%s:%s%s%s:%s", m->ro ? "ro" : "rw", m->tag, m->subpath ? "/" : "", sub,
		 m->target);
	return tlv_put_str(b, SBX_RUN_MOUNT, s, err);
}

static int run_put_strings(struct tlv_buf *b, const struct sbx_run_req *req, struct sbx_err *err)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < req->argc; i++)
		r = tlv_put_str(b, SBX_RUN_ARG, req->argv[i], err);
	for (size_t i = 0; r == 0 && i < req->envc; i++)
		r = tlv_put_str(b, SBX_RUN_ENV, req->envp[i], err);
	const struct {
		uint16_t tag;
		const char *s;
	} opt[] = {
	    {SBX_RUN_CWD, req->cwd},
	    {SBX_RUN_HOSTNAME, req->hostname},
	    {SBX_RUN_DOMAINNAME, req->domainname},
	    {SBX_RUN_ROOTFS, req->rootfs},
	    {SBX_RUN_ROOTFS_TYPE, req->rootfs_type},
	    {SBX_RUN_RESOLV_CONF, req->resolv_conf},
	    {SBX_RUN_HOSTS, req->hosts},
	};
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(opt); i++)
		if (opt[i].s)
			r = tlv_put_str(b, opt[i].tag, opt[i].s, err);
	for (size_t i = 0; r == 0 && i < req->n_mounts; i++)
		r = put_mount(b, &req->mounts[i], err);
	return r;
}

static void hooks_put(void *ctx, uint16_t tag, const void *v, size_t len)
{
	tlv_put(ctx, tag, v, len);
}

int sbx_run_encode(const struct sbx_run_req *req, uint8_t **out, size_t *out_len,
		   struct sbx_err *err)
{
	int r = run_check_req(req, err);
	if (r < 0)
		return r;
	struct tlv_buf b = {0};
	r = run_put_strings(&b, req, err);
	if (r < 0) {
		free(b.p);
		return r;
	}
	tlv_put_u32(&b, SBX_RUN_UID, req->uid);
	tlv_put_u32(&b, SBX_RUN_GID, req->gid);
	for (size_t i = 0; i < req->n_add_gids; i++)
		tlv_put_u32(&b, SBX_RUN_ADD_GID, req->add_gids[i]);
	tlv_put_u32(&b, SBX_RUN_TERMINAL, req->terminal);
	tlv_put_u32(&b, SBX_RUN_STDIN, req->open_stdin);
	if (req->hold)
		tlv_put_u32(&b, SBX_RUN_HOLD, 1);
	uint8_t ws[4];
	tlv_put(&b, SBX_RUN_WINSIZE, ws, sbx_winsize_encode(ws, req->rows, req->cols));
	if (req->time_ns) {
		uint8_t t[8];
		put_u64(t, req->time_ns);
		tlv_put(&b, SBX_RUN_TIME_NS, t, sizeof(t));
	}
	if (req->seed_len)
		tlv_put(&b, SBX_RUN_SEED, req->seed, req->seed_len);
	if (req->net.present) {
		uint8_t net[SBX_NET_MAX_SIZE];
		tlv_put(&b, SBX_RUN_NET, net, sbx_net_encode(&req->net, net));
	}
	r = put_security(&b, req, err);
	r = r ?: run_hooks_encode(req, hooks_put, &b, err);
	if (r < 0) {
		free(b.p);
		return r;
	}
	if (b.err) {
		free(b.p);
		return b.err == -E2BIG ? sbx_err_setx(err, E2BIG, "RUN: payload exceeds %u bytes",
						      SBX_FRAME_MAX)
				       : sbx_err_set(err, -b.err, "RUN: encode");
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

/*
 * Decoding takes two passes over the TLVs: the first validates everything and sizes the one
 * allocation (pointer arrays + strings), the second fills it. Nothing is allocated for input
 * that is going to be rejected, and free is a single call.
 */
struct run_scan {
	size_t argc, envc, ngids, nmounts, str_bytes;
	size_t nrlimits, nsysctl, nmasked, nreadonly, bpf_insns;
	uint64_t seen; /* bit per singular tag, to reject duplicates */
	struct run_hooks_scan hooks;
};

/* "ro:" or "rw:", a tag of 1..SBX_RUN_MOUNT_TAG_MAX bytes without ':', ":", an absolute path. */
static int mount_check(const uint8_t *v, uint32_t len, struct sbx_err *err)
{
	if (len < 3 || (memcmp(v, "ro:", 3) && memcmp(v, "rw:", 3)))
		return sbx_err_setx(err, EPROTO, "RUN: mount does not start with ro: or rw:");
	const uint8_t *colon = memchr(v + 3, ':', len - 3);
	size_t field_len = colon ? (size_t)(colon - (v + 3)) : 0;
	const uint8_t *slash = memchr(v + 3, '/', field_len);
	size_t tag_len = slash ? (size_t)(slash - (v + 3)) : field_len;
	if (!colon || tag_len == 0 || tag_len > SBX_RUN_MOUNT_TAG_MAX)
		return sbx_err_setx(err, EPROTO, "RUN: mount tag is not 1..%u bytes",
				    SBX_RUN_MOUNT_TAG_MAX);
	if (slash && !sbx_mount_name_ok((const char *)slash + 1, field_len - tag_len - 1))
		return sbx_err_setx(err, EPROTO, "RUN: mount names a bad file in its share");
	if ((size_t)(v + len - colon) < 2 || colon[1] != '/')
		return sbx_err_setx(err, EPROTO, "RUN: mount target is not absolute");
	return 0;
}

static int scan_str(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err)
{
	if (len + 1 > SBX_RUN_MAX_STR)
		return sbx_err_setx(err, E2BIG, "RUN tag %u: string of %u bytes exceeds %u", tag,
				    len, SBX_RUN_MAX_STR - 1);
	if (memchr(v, '\0', len))
		return sbx_err_setx(err, EPROTO, "RUN tag %u: string contains NUL", tag);
	if (tag == SBX_RUN_CWD && (len == 0 || v[0] != '/'))
		return sbx_err_setx(err, EINVAL, "RUN: cwd is not absolute");
	if (tag == SBX_RUN_MOUNT)
		return mount_check(v, len, err);
	if (tag == SBX_RUN_SYSCTL)
		return sysctl_check(v, len, err);
	if (tag == SBX_RUN_MASKED_PATH || tag == SBX_RUN_READONLY_PATH)
		return abs_path_check(tag, v, len, err);
	if (tag == SBX_RUN_ENV) {
		const uint8_t *eq = memchr(v, '=', len);
		if (!eq || eq == v)
			return sbx_err_setx(err, EPROTO, "RUN: env entry is not K=V");
	}
	return 0;
}

/* Fixed sizes of the integer tags; 0: not a fixed-size tag. */
static uint32_t fixed_size(uint16_t tag)
{
	switch (tag) {
	case SBX_RUN_TIME_NS:
	case SBX_RUN_PIDS_LIMIT:
		return 8;
	case SBX_RUN_RLIMIT:
		return 20;
	case SBX_RUN_CAPS:
		return 40;
	case SBX_RUN_CGROUP:
		return SBX_RUN_CGROUP_SIZE;
	case SBX_RUN_EXEC_SECRET:
		return SBX_EXEC_SECRET_LEN;
	default:
		return 4;
	}
}

static int scan_security(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err)
{
	switch (tag) {
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

static int scan_fixed(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err)
{
	if (tag == SBX_RUN_SECCOMP)
		return scan_security(v, len, tag, err);
	if (tag >= SBX_RUN_RLIMIT) {
		if (len != fixed_size(tag))
			return sbx_err_setx(err, EPROTO, "RUN tag %u: %u bytes, want %u", tag, len,
					    fixed_size(tag));
		return scan_security(v, len, tag, err);
	}
	if (tag == SBX_RUN_NET)
		return sbx_net_decode(v, len, NULL, err);
	if (tag == SBX_RUN_SEED) {
		if (len < SBX_RUN_SEED_MIN || len > SBX_RUN_SEED_MAX)
			return sbx_err_setx(err, EPROTO, "RUN: seed of %u bytes, want %u..%u", len,
					    SBX_RUN_SEED_MIN, SBX_RUN_SEED_MAX);
		return 0;
	}
	uint32_t want = tag == SBX_RUN_WINSIZE ? 4 : tag == SBX_RUN_TIME_NS ? 8 : 4;
	if (len != want)
		return sbx_err_setx(err, EPROTO, "RUN tag %u: %u bytes, want %u", tag, len, want);
	if ((tag == SBX_RUN_TERMINAL || tag == SBX_RUN_STDIN || tag == SBX_RUN_HOLD) &&
	    get_u32(v) > 1)
		return sbx_err_setx(err, EPROTO, "RUN tag %u: boolean is %u", tag, get_u32(v));
	return 0;
}

static int scan_count_security(struct run_scan *s, uint16_t tag, uint32_t len, struct sbx_err *err)
{
	size_t *n = tag == SBX_RUN_RLIMIT	   ? &s->nrlimits
		    : tag == SBX_RUN_SYSCTL	   ? &s->nsysctl
		    : tag == SBX_RUN_MASKED_PATH   ? &s->nmasked
		    : tag == SBX_RUN_READONLY_PATH ? &s->nreadonly
						   : NULL;
	size_t max = tag == SBX_RUN_RLIMIT   ? SBX_RUN_MAX_RLIMITS
		     : tag == SBX_RUN_SYSCTL ? SBX_RUN_MAX_SYSCTL
					     : SBX_RUN_MAX_PATHS;
	if (tag == SBX_RUN_SECCOMP)
		s->bpf_insns = len / 8;
	if (n && ++*n > max)
		return sbx_err_setx(err, E2BIG, "RUN: more than %zu entries of tag %u", max, tag);
	return 0;
}

static int scan_entry(struct run_scan *s, uint16_t tag, const uint8_t *v, uint32_t len,
		      struct sbx_err *err)
{
	if (tag < SBX_RUN_ARG || tag > SBX_RUN_LAST_TAG)
		return sbx_err_setx(err, EPROTO, "RUN: unknown tag %u", tag);
	if (tag == SBX_RUN_HOOK || tag == SBX_RUN_HOOK_STATE)
		return run_hooks_scan(&s->hooks, tag, v, len, err);
	bool repeated = tag == SBX_RUN_ARG || tag == SBX_RUN_ENV || tag == SBX_RUN_ADD_GID ||
			tag == SBX_RUN_MOUNT || tag == SBX_RUN_RLIMIT || tag == SBX_RUN_SYSCTL ||
			tag == SBX_RUN_MASKED_PATH || tag == SBX_RUN_READONLY_PATH;
	if (!repeated && (s->seen & (1ull << tag)))
		return sbx_err_setx(err, EPROTO, "RUN: duplicate tag %u", tag);
	s->seen |= 1ull << tag;
	bool is_str = tag == SBX_RUN_ARG || tag == SBX_RUN_ENV || tag == SBX_RUN_CWD ||
		      tag == SBX_RUN_HOSTNAME || tag == SBX_RUN_DOMAINNAME ||
		      tag == SBX_RUN_ROOTFS || tag == SBX_RUN_ROOTFS_TYPE ||
		      tag == SBX_RUN_RESOLV_CONF || tag == SBX_RUN_HOSTS || tag == SBX_RUN_MOUNT ||
		      tag == SBX_RUN_SYSCTL || tag == SBX_RUN_MASKED_PATH ||
		      tag == SBX_RUN_READONLY_PATH;
	int r = is_str ? scan_str(v, len, tag, err) : scan_fixed(v, len, tag, err);
	if (r < 0)
		return r;
	if (is_str)
		s->str_bytes += len + 1;
	if (tag == SBX_RUN_ARG && ++s->argc > SBX_RUN_MAX_ARGS)
		return sbx_err_setx(err, E2BIG, "RUN: more than %u args", SBX_RUN_MAX_ARGS);
	if (tag == SBX_RUN_ENV && ++s->envc > SBX_RUN_MAX_ENV)
		return sbx_err_setx(err, E2BIG, "RUN: more than %u env entries", SBX_RUN_MAX_ENV);
	if (tag == SBX_RUN_ADD_GID && ++s->ngids > SBX_RUN_MAX_GIDS)
		return sbx_err_setx(err, E2BIG, "RUN: more than %u groups", SBX_RUN_MAX_GIDS);
	if (tag == SBX_RUN_MOUNT && ++s->nmounts > SBX_RUN_MAX_MOUNTS)
		return sbx_err_setx(err, E2BIG, "RUN: more than %u mounts", SBX_RUN_MAX_MOUNTS);
	return scan_count_security(s, tag, len, err);
}

/* Iterates the TLVs; calls fn for each. Rejects truncated entries and nonzero reserved fields. */
typedef int (*tlv_fn)(void *ctx, uint16_t tag, const uint8_t *v, uint32_t len, struct sbx_err *err);

static int tlv_walk(const uint8_t *buf, size_t len, tlv_fn fn, void *ctx, struct sbx_err *err)
{
	size_t off = 0;
	while (off < len) {
		if (len - off < TLV_HDR_SIZE)
			return sbx_err_setx(err, EPROTO, "RUN: truncated entry at offset %zu", off);
		uint16_t tag = get_u16(buf + off);
		uint32_t vlen = get_u32(buf + off + 4);
		if (get_u16(buf + off + 2) != 0)
			return sbx_err_setx(err, EPROTO, "RUN: reserved field set at offset %zu",
					    off);
		if (vlen > len - off - TLV_HDR_SIZE)
			return sbx_err_setx(err, EPROTO,
					    "RUN: entry at offset %zu overruns payload", off);
		int r = fn(ctx, tag, buf + off + TLV_HDR_SIZE, vlen, err);
		if (r < 0)
			return r;
		off += TLV_HDR_SIZE + vlen;
	}
	return 0;
}

static int scan_cb(void *ctx, uint16_t tag, const uint8_t *v, uint32_t len, struct sbx_err *err)
{
	return scan_entry(ctx, tag, v, len, err);
}

struct run_fill {
	struct sbx_run_req *req;
	char *strs; /* next free byte of the string area */
	struct sbx_bpf_insn *bpf;
	char **hook_ptrs; /* next free slot for the hooks' args and env */
};

static char *fill_str(struct run_fill *f, const uint8_t *v, uint32_t len)
{
	char *s = f->strs;
	memcpy(s, v, len);
	s[len] = '\0';
	f->strs += len + 1;
	return s;
}

static void fill_bpf(struct sbx_bpf_insn *out, const uint8_t *v, uint32_t len)
{
	for (uint32_t i = 0; i < len / 8; i++, v += 8)
		out[i] = (struct sbx_bpf_insn){
		    .code = get_u16(v), .jt = v[2], .jf = v[3], .k = get_u32(v + 4)};
}

/* The security tags (checked by the scan). */
static void fill_security(struct run_fill *f, uint16_t tag, const uint8_t *v, uint32_t len)
{
	struct sbx_run_req *q = f->req;
	switch (tag) {
	case SBX_RUN_RLIMIT:
		q->rlimits[q->n_rlimits++] = (struct sbx_rlimit){
		    .resource = get_u32(v), .soft = get_u64(v + 4), .hard = get_u64(v + 12)};
		break;
	case SBX_RUN_SYSCTL:
		q->sysctl[q->n_sysctl++] = fill_str(f, v, len);
		break;
	case SBX_RUN_MASKED_PATH:
		q->masked_paths[q->n_masked_paths++] = fill_str(f, v, len);
		break;
	case SBX_RUN_READONLY_PATH:
		q->readonly_paths[q->n_readonly_paths++] = fill_str(f, v, len);
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
		fill_bpf(f->bpf, v, len);
		q->seccomp = f->bpf;
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

/* Splits a checked "ro:TAG:/target" copy in place. */
static void fill_mount(struct sbx_mount *m, char *s)
{
	m->ro = s[1] == 'o';
	m->tag = s + 3;
	char *colon = strchr(m->tag, ':');
	*colon = '\0';
	m->target = colon + 1;
	char *slash = strchr(m->tag, '/');
	m->subpath = slash ? slash + 1 : NULL;
	if (slash)
		*slash = '\0';
}

static int fill_cb(void *ctx, uint16_t tag, const uint8_t *v, uint32_t len, struct sbx_err *err)
{
	struct run_fill *f = ctx;
	struct sbx_run_req *q = f->req;
	(void)err;
	switch (tag) {
	case SBX_RUN_ARG:
		q->argv[q->argc++] = fill_str(f, v, len);
		break;
	case SBX_RUN_ENV:
		q->envp[q->envc++] = fill_str(f, v, len);
		break;
	case SBX_RUN_CWD:
		q->cwd = fill_str(f, v, len);
		break;
	case SBX_RUN_HOSTNAME:
		q->hostname = fill_str(f, v, len);
		break;
	case SBX_RUN_DOMAINNAME:
		q->domainname = fill_str(f, v, len);
		break;
	case SBX_RUN_MOUNT:
		fill_mount(&q->mounts[q->n_mounts++], fill_str(f, v, len));
		break;
	case SBX_RUN_ROOTFS:
		q->rootfs = fill_str(f, v, len);
		break;
	case SBX_RUN_ROOTFS_TYPE:
		q->rootfs_type = fill_str(f, v, len);
		break;
	case SBX_RUN_UID:
		q->uid = get_u32(v);
		break;
	case SBX_RUN_GID:
		q->gid = get_u32(v);
		break;
	case SBX_RUN_TERMINAL:
		q->terminal = get_u32(v);
		break;
	case SBX_RUN_STDIN:
		q->open_stdin = get_u32(v);
		break;
	case SBX_RUN_HOLD:
		q->hold = get_u32(v);
		break;
	case SBX_RUN_NET:
		sbx_net_decode(v, len, &q->net, NULL); /* checked by the scan */
		break;
	case SBX_RUN_RESOLV_CONF:
		q->resolv_conf = fill_str(f, v, len);
		break;
	case SBX_RUN_HOSTS:
		q->hosts = fill_str(f, v, len);
		break;
	case SBX_RUN_WINSIZE:
		sbx_winsize_decode(v, len, &q->rows, &q->cols);
		break;
	case SBX_RUN_TIME_NS:
		q->time_ns = get_u64(v);
		break;
	case SBX_RUN_ADD_GID:
		q->add_gids[q->n_add_gids++] = get_u32(v);
		break;
	case SBX_RUN_SEED:
		memcpy(q->seed, v, len); /* len checked by the scan */
		q->seed_len = len;
		break;
	case SBX_RUN_HOOK:
	case SBX_RUN_HOOK_STATE:
		run_hooks_fill(q, tag, v, len, &f->hook_ptrs, &f->strs);
		break;
	default:
		fill_security(f, tag, v, len);
	}
	return 0;
}

int sbx_run_decode(const uint8_t *buf, size_t len, struct sbx_run_req *req, struct sbx_err *err)
{
	memset(req, 0, sizeof(*req));
	if (len > SBX_FRAME_MAX)
		return sbx_err_setx(err, E2BIG, "RUN: payload of %zu bytes exceeds %u", len,
				    SBX_FRAME_MAX);
	struct run_scan s = {0};
	int r = tlv_walk(buf, len, scan_cb, &s, err);
	if (r < 0)
		return r;
	if (s.argc == 0)
		return sbx_err_setx(err, EPROTO, "RUN: no command (argv is empty)");

	/* One block: pointer arrays, then the BPF program (8-byte aligned), then the strings. */
	size_t ptrs =
	    (s.argc + 1 + s.envc + 1 + s.nsysctl + s.nmasked + s.nreadonly + s.hooks.ptrs) *
	    sizeof(char *);
	size_t bpf = s.bpf_insns * sizeof(struct sbx_bpf_insn);
	size_t strs = s.str_bytes + s.hooks.str_bytes;
	char **block = calloc(1, ptrs + bpf + strs + sizeof(DEFAULT_CWD));
	if (!block)
		return sbx_err_set(err, ENOMEM, "RUN: allocate %zu bytes", ptrs + strs);
	req->argv = block;
	req->envp = block + s.argc + 1;
	req->sysctl = req->envp + s.envc + 1;
	req->masked_paths = req->sysctl + s.nsysctl;
	req->readonly_paths = req->masked_paths + s.nmasked;
	struct run_fill f = {.req = req,
			     .bpf = (struct sbx_bpf_insn *)((char *)block + ptrs),
			     .hook_ptrs = req->readonly_paths + s.nreadonly,
			     .strs = (char *)block + ptrs + bpf};
	tlv_walk(buf, len, fill_cb, &f, err); /* cannot fail: the scan accepted the same bytes */
	if (!req->cwd)
		req->cwd = memcpy(f.strs, DEFAULT_CWD, sizeof(DEFAULT_CWD));
	return 0;
}

void sbx_run_req_free(struct sbx_run_req *req)
{
	if (!req)
		return;
	free(req->argv); /* the base of the single allocation (see sbx_run_decode) */
	memset(req, 0, sizeof(*req));
}
