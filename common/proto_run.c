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
#include "proto_run_security.h"

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
	return run_security_check(req, err);
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

static void put_cb(void *ctx, uint16_t tag, const void *v, size_t len)
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
	r = run_security_encode(req, put_cb, &b, err);
	r = r ?: run_hooks_encode(req, put_cb, &b, err);
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
	if (tag == SBX_RUN_SYSCTL || tag == SBX_RUN_MASKED_PATH || tag == SBX_RUN_READONLY_PATH)
		return run_security_scan(v, len, tag, err);
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

static int scan_fixed(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err)
{
	if (tag == SBX_RUN_SECCOMP)
		return run_security_scan(v, len, tag, err);
	if (tag >= SBX_RUN_RLIMIT) {
		if (len != fixed_size(tag))
			return sbx_err_setx(err, EPROTO, "RUN tag %u: %u bytes, want %u", tag, len,
					    fixed_size(tag));
		return run_security_scan(v, len, tag, err);
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
		run_security_fill(q, tag, v, len, &f->strs, f->bpf);
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
