/*
 * The RUN codec's OCI hook tags (HOOK, HOOK_STATE; docs/protocol.md "RUN"), kept apart from
 * common/proto_run.c, which calls these from its scan, fill and encode passes. Private to the two
 * files.
 */
#ifndef SANDBOX_PROTO_RUN_HOOKS_H
#define SANDBOX_PROTO_RUN_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* What the first pass learned: counts for the limits and the sizes for the one allocation. */
struct run_hooks_scan {
	size_t n[SBX_HOOK_KINDS];
	bool state_seen[SBX_HOOK_KINDS];
	size_t ptrs;	  /* char * slots: each hook's args and env, both NULL-terminated */
	size_t str_bytes; /* string bytes with their NULs */
};

/* First pass over one HOOK or HOOK_STATE entry: validates it and counts it. */
int run_hooks_scan(struct run_hooks_scan *s, uint16_t tag, const uint8_t *v, uint32_t len,
		   struct sbx_err *err);
/* Second pass, on an entry the scan accepted: fills q, taking pointer slots from *ptrs and
 * string space from *strs (both advanced). */
void run_hooks_fill(struct sbx_run_req *q, uint16_t tag, const uint8_t *v, uint32_t len,
		    char ***ptrs, char **strs);

typedef void (*run_hooks_put_fn)(void *ctx, uint16_t tag, const void *v, size_t len);
/* Encodes req->hooks through put; refuses (EINVAL/E2BIG) what the decoder would refuse. */
int run_hooks_encode(const struct sbx_run_req *req, run_hooks_put_fn put, void *ctx,
		     struct sbx_err *err);

#endif
