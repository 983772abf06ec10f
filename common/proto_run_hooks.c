/*
 * RUN tags 33 HOOK and 34 HOOK_STATE: the OCI createContainer and startContainer hooks that the
 * agent runs in the guest (docs/oci.md, "hooks"), each with the state JSON they read on stdin.
 *
 * HOOK: u32 kind, u32 timeout (seconds), u32 n_args, u32 n_env, then 1 + n_args + n_env
 * NUL-terminated strings (path, args, env) filling the value exactly. HOOK_STATE: u32 kind, then
 * the JSON (no NUL), at most once per kind. Like the rest of the RUN decoder, the scan treats
 * the bytes as hostile and the fill trusts only what the scan accepted.
 */
#include "proto_run_hooks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_bytes.h"

#define HOOK_HDR 16u
#define STATE_HDR 4u

static const char *kind_name(uint32_t kind)
{
	return kind == SBX_HOOK_CREATE_CONTAINER  ? "createContainer"
	       : kind == SBX_HOOK_START_CONTAINER ? "startContainer"
						  : "?";
}

/* The strings after a HOOK header: path (absolute), args, env ("K=V"), and nothing after. */
static int hook_strings_check(const uint8_t *v, uint32_t len, uint32_t n_args, uint32_t n_env,
			      struct sbx_err *err)
{
	size_t off = HOOK_HDR, total = 1 + (size_t)n_args + n_env;
	for (size_t i = 0; i < total; i++) {
		const uint8_t *nul = memchr(v + off, '\0', len - off);
		if (!nul)
			return sbx_err_setx(err, EPROTO, "RUN: hook string %zu is truncated", i);
		size_t n = (size_t)(nul - (v + off));
		size_t max = i == 0 ? SBX_RUN_HOOK_PATH_MAX : SBX_RUN_MAX_STR;
		if (n + 1 > max)
			return sbx_err_setx(err, E2BIG,
					    "RUN: hook string %zu of %zu bytes exceeds %zu", i, n,
					    max - 1);
		if (i == 0 && (n == 0 || v[off] != '/'))
			return sbx_err_setx(err, EINVAL, "RUN: hook path is not absolute");
		if (i > n_args) {
			const uint8_t *eq = memchr(v + off, '=', n);
			if (!eq || eq == v + off)
				return sbx_err_setx(err, EPROTO, "RUN: hook env entry is not K=V");
		}
		off += n + 1;
	}
	if (off != len)
		return sbx_err_setx(err, EPROTO, "RUN: hook has %zu trailing bytes", len - off);
	return 0;
}

/* One HOOK value on its own (no per-kind count): the encoder runs it on what it built. */
static int hook_check(const uint8_t *v, uint32_t len, struct sbx_err *err)
{
	if (len < HOOK_HDR)
		return sbx_err_setx(err, EPROTO, "RUN: hook of %u bytes, want at least %u", len,
				    HOOK_HDR);
	uint32_t kind = get_u32(v), timeout = get_u32(v + 4);
	uint32_t n_args = get_u32(v + 8), n_env = get_u32(v + 12);
	if (kind >= SBX_HOOK_KINDS)
		return sbx_err_setx(err, EPROTO, "RUN: hook kind %u", kind);
	if (timeout == 0 || timeout > SBX_RUN_HOOK_TIMEOUT_MAX)
		return sbx_err_setx(err, EINVAL, "RUN: %s hook timeout %u s is not 1..%u",
				    kind_name(kind), timeout, SBX_RUN_HOOK_TIMEOUT_MAX);
	if (n_args > SBX_RUN_HOOK_MAX_ARGS || n_env > SBX_RUN_HOOK_MAX_ENV)
		return sbx_err_setx(
		    err, E2BIG, "RUN: %s hook with %u args / %u env exceeds %u / %u",
		    kind_name(kind), n_args, n_env, SBX_RUN_HOOK_MAX_ARGS, SBX_RUN_HOOK_MAX_ENV);
	return hook_strings_check(v, len, n_args, n_env, err);
}

static int state_check(const uint8_t *v, uint32_t len, struct sbx_err *err)
{
	if (len < STATE_HDR || get_u32(v) >= SBX_HOOK_KINDS)
		return sbx_err_setx(err, EPROTO, "RUN: hook state without a valid kind");
	if (len - STATE_HDR + 1 > SBX_RUN_MAX_STR)
		return sbx_err_setx(err, E2BIG, "RUN: hook state of %u bytes exceeds %u",
				    len - STATE_HDR, SBX_RUN_MAX_STR - 1);
	if (memchr(v + STATE_HDR, '\0', len - STATE_HDR))
		return sbx_err_setx(err, EPROTO, "RUN: hook state contains NUL");
	return 0;
}

int run_hooks_scan(struct run_hooks_scan *s, uint16_t tag, const uint8_t *v, uint32_t len,
		   struct sbx_err *err)
{
	if (tag == SBX_RUN_HOOK_STATE) {
		int r = state_check(v, len, err);
		if (r < 0)
			return r;
		uint32_t kind = get_u32(v);
		if (s->state_seen[kind])
			return sbx_err_setx(err, EPROTO, "RUN: duplicate %s hook state",
					    kind_name(kind));
		s->state_seen[kind] = true;
		s->str_bytes += len - STATE_HDR + 1;
		return 0;
	}
	int r = hook_check(v, len, err);
	if (r < 0)
		return r;
	uint32_t kind = get_u32(v);
	if (++s->n[kind] > SBX_RUN_MAX_HOOKS)
		return sbx_err_setx(err, E2BIG, "RUN: more than %u %s hooks", SBX_RUN_MAX_HOOKS,
				    kind_name(kind));
	s->ptrs += (size_t)get_u32(v + 8) + 1 + (size_t)get_u32(v + 12) + 1;
	s->str_bytes += len - HOOK_HDR; /* the strings carry their NULs */
	return 0;
}

/* Points n slots of *ptrs (plus a NULL) at the next n strings from *p. */
static char **take_strings(char ***ptrs, char **p, size_t n)
{
	char **v = *ptrs;
	for (size_t i = 0; i < n; i++) {
		v[i] = *p;
		*p += strlen(*p) + 1;
	}
	v[n] = NULL;
	*ptrs += n + 1;
	return v;
}

void run_hooks_fill(struct sbx_run_req *q, uint16_t tag, const uint8_t *v, uint32_t len,
		    char ***ptrs, char **strs)
{
	struct sbx_run_hooks *k = &q->hooks[get_u32(v)];
	if (tag == SBX_RUN_HOOK_STATE) {
		k->state = *strs;
		memcpy(*strs, v + STATE_HDR, len - STATE_HDR);
		(*strs)[len - STATE_HDR] = '\0';
		*strs += len - STATE_HDR + 1;
		return;
	}
	struct sbx_run_hook *h = &k->v[k->n++];
	char *p = *strs;
	memcpy(p, v + HOOK_HDR, len - HOOK_HDR);
	*strs += len - HOOK_HDR;
	h->timeout_s = get_u32(v + 4);
	h->n_args = get_u32(v + 8);
	h->n_env = get_u32(v + 12);
	h->path = p;
	p += strlen(p) + 1;
	h->args = take_strings(ptrs, &p, h->n_args);
	h->env = take_strings(ptrs, &p, h->n_env);
}

static int put_hook(const struct sbx_run_hook *h, uint32_t kind, run_hooks_put_fn put, void *ctx,
		    struct sbx_err *err)
{
	if (!h->path || h->n_args > SBX_RUN_HOOK_MAX_ARGS || h->n_env > SBX_RUN_HOOK_MAX_ENV ||
	    (h->n_args && !h->args) || (h->n_env && !h->env))
		return sbx_err_setx(err, EINVAL, "RUN: %s hook '%s': bad path, args or env",
				    kind_name(kind), h->path ? h->path : "");
	size_t len = HOOK_HDR + strlen(h->path) + 1;
	for (size_t i = 0; i < h->n_args + h->n_env; i++) {
		const char *s = i < h->n_args ? h->args[i] : h->env[i - h->n_args];
		if (!s)
			return sbx_err_setx(err, EINVAL, "RUN: %s hook '%s': NULL string",
					    kind_name(kind), h->path);
		len += strlen(s) + 1;
	}
	if (len > SBX_FRAME_MAX)
		return sbx_err_setx(err, E2BIG, "RUN: %s hook '%s' exceeds %u bytes",
				    kind_name(kind), h->path, SBX_FRAME_MAX);
	uint8_t *buf = malloc(len);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "RUN: encode hook");
	put_u32(buf, kind);
	put_u32(buf + 4, h->timeout_s);
	put_u32(buf + 8, (uint32_t)h->n_args);
	put_u32(buf + 12, (uint32_t)h->n_env);
	size_t off = HOOK_HDR;
	for (size_t i = 0; i < 1 + h->n_args + h->n_env; i++) {
		const char *s = i == 0		 ? h->path
				: i <= h->n_args ? h->args[i - 1]
						 : h->env[i - 1 - h->n_args];
		size_t n = strlen(s) + 1;
		memcpy(buf + off, s, n);
		off += n;
	}
	/* The decoder's rules, on the very bytes it will get. */
	int r = hook_check(buf, (uint32_t)len, err);
	if (r == 0)
		put(ctx, SBX_RUN_HOOK, buf, len);
	free(buf);
	return r;
}

static int put_state(const char *state, uint32_t kind, run_hooks_put_fn put, void *ctx,
		     struct sbx_err *err)
{
	size_t n = strlen(state);
	if (n + 1 > SBX_RUN_MAX_STR)
		return sbx_err_setx(err, E2BIG, "RUN: %s hook state of %zu bytes exceeds %u",
				    kind_name(kind), n, SBX_RUN_MAX_STR - 1);
	uint8_t *buf = malloc(STATE_HDR + n);
	if (!buf)
		return sbx_err_set(err, ENOMEM, "RUN: encode hook state");
	put_u32(buf, kind);
	memcpy(buf + STATE_HDR, state, n);
	put(ctx, SBX_RUN_HOOK_STATE, buf, STATE_HDR + n);
	free(buf);
	return 0;
}

int run_hooks_encode(const struct sbx_run_req *req, run_hooks_put_fn put, void *ctx,
		     struct sbx_err *err)
{
	for (uint32_t kind = 0; kind < SBX_HOOK_KINDS; kind++) {
		const struct sbx_run_hooks *k = &req->hooks[kind];
		if (k->n > SBX_RUN_MAX_HOOKS)
			return sbx_err_setx(err, E2BIG, "RUN: %zu %s hooks exceed %u", k->n,
					    kind_name(kind), SBX_RUN_MAX_HOOKS);
		int r = k->state ? put_state(k->state, kind, put, ctx, err) : 0;
		for (size_t i = 0; r == 0 && i < k->n; i++)
			r = put_hook(&k->v[i], kind, put, ctx, err);
		if (r < 0)
			return r;
	}
	return 0;
}
