/*
 * Host <-> agent wire protocol codec (docs/protocol.md is the normative description).
 *
 * Every decoder treats its input as hostile: lengths are checked before every read, integers
 * have exact sizes, limits are enforced and anything unexpected is rejected rather than
 * truncated or skipped, so both ends agree byte for byte on what a valid stream is.
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "proto_bytes.h"

#define TLV_HDR_SIZE 8u /* the smallest RUN: one empty TLV (common/proto_run.c) */
#define ERROR_HDR_SIZE 8u

void sbx_hdr_encode(uint8_t out[SBX_FRAME_HDR_SIZE], uint32_t type, uint32_t len)
{
	put_u32(out, type);
	put_u32(out + 4, len);
}

/*
 * Allowed payload sizes per type, so a reader can reject a bad frame from its header alone,
 * before allocating or waiting for a payload that could never be valid.
 */
static int hdr_len_ok(uint32_t type, uint32_t len, uint32_t *min, uint32_t *max)
{
	switch (type) {
	case SBX_MSG_RUN:
		*min = TLV_HDR_SIZE, *max = SBX_FRAME_MAX;
		break;
	case SBX_MSG_STDIN:
	case SBX_MSG_STDOUT:
	case SBX_MSG_STDERR:
		*min = 0, *max = SBX_DATA_MAX;
		break;
	case SBX_MSG_STDIN_CLOSE:
	case SBX_MSG_START:
	case SBX_MSG_EXEC:
		*min = *max = 0;
		break;
	case SBX_MSG_SIGNAL:
	case SBX_MSG_WINSIZE:
	case SBX_MSG_STARTED:
	case SBX_MSG_CREATED:
	case SBX_MSG_OOM:
		*min = *max = 4;
		break;
	case SBX_MSG_EXEC_AUTH:
		*min = *max = SBX_EXEC_SECRET_LEN;
		break;
	case SBX_MSG_EXIT:
		*min = *max = 8;
		break;
	case SBX_MSG_HELLO:
		*min = *max = 12;
		break;
	case SBX_MSG_ERROR:
		*min = ERROR_HDR_SIZE, *max = ERROR_HDR_SIZE + SBX_ERR_MSG_MAX - 1;
		break;
	default:
		return -1;
	}
	return len >= *min && len <= *max;
}

int sbx_hdr_decode(const uint8_t in[SBX_FRAME_HDR_SIZE], struct sbx_frame_hdr *hdr,
		   struct sbx_err *err)
{
	uint32_t type = get_u32(in), len = get_u32(in + 4), min = 0, max = 0;

	if (len > SBX_FRAME_MAX)
		return sbx_err_setx(err, E2BIG, "frame type %#x: payload of %u bytes exceeds %u",
				    type, len, SBX_FRAME_MAX);
	int ok = hdr_len_ok(type, len, &min, &max);
	if (ok < 0)
		return sbx_err_setx(err, EPROTO, "unknown frame type %#x", type);
	if (!ok)
		return sbx_err_setx(err, EPROTO, "frame type %#x: payload of %u bytes, want %u..%u",
				    type, len, min, max);
	hdr->type = type;
	hdr->len = len;
	return 0;
}

/* ---- fixed-layout payloads ---- */

size_t sbx_u32_encode(uint8_t out[4], uint32_t v)
{
	put_u32(out, v);
	return 4;
}

int sbx_u32_decode(const uint8_t *buf, size_t len, uint32_t *v)
{
	if (len != 4)
		return -EPROTO;
	*v = get_u32(buf);
	return 0;
}

size_t sbx_exit_encode(uint8_t out[8], int32_t code, uint32_t signo)
{
	put_u32(out, (uint32_t)code);
	put_u32(out + 4, signo);
	return 8;
}

/* Exit codes are what a shell would see (0..255); signal numbers fit Linux's 1..64. */
int sbx_exit_decode(const uint8_t *buf, size_t len, int32_t *code, uint32_t *signo)
{
	if (len != 8)
		return -EPROTO;
	int32_t c = (int32_t)get_u32(buf);
	uint32_t s = get_u32(buf + 4);
	if (c < 0 || c > 255 || s > 64)
		return -EPROTO;
	*code = c;
	*signo = s;
	return 0;
}

size_t sbx_winsize_encode(uint8_t out[4], uint16_t rows, uint16_t cols)
{
	put_u16(out, rows);
	put_u16(out + 2, cols);
	return 4;
}

int sbx_winsize_decode(const uint8_t *buf, size_t len, uint16_t *rows, uint16_t *cols)
{
	if (len != 4)
		return -EPROTO;
	*rows = get_u16(buf);
	*cols = get_u16(buf + 2);
	return 0;
}

size_t sbx_hello_encode(uint8_t out[12], uint32_t version, uint64_t ready_ns)
{
	put_u32(out, version);
	put_u64(out + 4, ready_ns);
	return 12;
}

int sbx_hello_decode(const uint8_t *buf, size_t len, uint32_t *version, uint64_t *ready_ns)
{
	if (len != 12)
		return -EPROTO;
	*version = get_u32(buf);
	*ready_ns = get_u64(buf + 4);
	return 0;
}

size_t sbx_error_encode(uint8_t *out, size_t cap, int32_t errnum, int32_t exit_code,
			const char *msg)
{
	if (cap < ERROR_HDR_SIZE)
		return 0;
	size_t n = msg ? strnlen(msg, SBX_ERR_MSG_MAX - 1) : 0;
	if (n > cap - ERROR_HDR_SIZE)
		n = cap - ERROR_HDR_SIZE;
	put_u32(out, (uint32_t)errnum);
	put_u32(out + 4, (uint32_t)exit_code);
	if (n)
		memcpy(out + ERROR_HDR_SIZE, msg, n);
	return ERROR_HDR_SIZE + n;
}

/* Cutting text mid UTF-8 sequence would leave an invalid tail: back off to a lead byte. */
static size_t utf8_cut(const uint8_t *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && (s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

int sbx_error_decode(const uint8_t *buf, size_t len, int32_t *errnum, int32_t *exit_code, char *msg,
		     size_t msg_cap)
{
	if (len < ERROR_HDR_SIZE || len > ERROR_HDR_SIZE + SBX_ERR_MSG_MAX - 1)
		return -EPROTO;
	int32_t e = (int32_t)get_u32(buf), c = (int32_t)get_u32(buf + 4);
	if (e < 0 || c < 0 || c > 255)
		return -EPROTO;
	*errnum = e;
	*exit_code = c;
	if (!msg || !msg_cap)
		return 0;
	const uint8_t *text = buf + ERROR_HDR_SIZE;
	size_t n = utf8_cut(text, len - ERROR_HDR_SIZE, msg_cap - 1);
	/* The text ends up on the user's terminal: control bytes could drive it, so neuter them. */
	for (size_t i = 0; i < n; i++)
		msg[i] = (text[i] < 0x20 || text[i] == 0x7f) ? '?' : (char)text[i];
	msg[n] = '\0';
	return 0;
}
