/*
 * The RUN codec's security tags, kept apart from common/proto_run.c (which calls these from its
 * check, encode, scan and fill passes). Private to the two files.
 */
#ifndef SANDBOX_PROTO_RUN_SECURITY_H
#define SANDBOX_PROTO_RUN_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* The security fields of a request the host is about to encode: within the decoder's rules. */
int run_security_check(const struct sbx_run_req *req, struct sbx_err *err);

typedef void (*run_security_put_fn)(void *ctx, uint16_t tag, const void *v, size_t len);
/* Appends the security tags of req through put. */
int run_security_encode(const struct sbx_run_req *req, run_security_put_fn put, void *ctx,
			struct sbx_err *err);

/* First pass: the value of one security tag. The caller has checked the length of a fixed-size
 * tag, and that a string (SYSCTL, MASKED_PATH, READONLY_PATH) has no NUL; SECCOMP's length is
 * checked here. */
int run_security_scan(const uint8_t *v, uint32_t len, uint16_t tag, struct sbx_err *err);
/* Second pass, on an entry the scan accepted: fills q; strings go to *strs (advanced), the
 * seccomp program to bpf (sized by the scan). */
void run_security_fill(struct sbx_run_req *q, uint16_t tag, const uint8_t *v, uint32_t len,
		       char **strs, struct sbx_bpf_insn *bpf);

#endif
