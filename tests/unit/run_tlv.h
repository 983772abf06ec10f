/*
 * Hand-built RUN requests for the codec tests (test_proto*.c): raw TLV entries, so a test can
 * write what the encoder never would. Include from one test file each.
 */
#ifndef SANDBOX_TEST_RUN_TLV_H
#define SANDBOX_TEST_RUN_TLV_H

#include <check.h>
#include <stdint.h>
#include <string.h>

struct raw {
	uint8_t b[1 << 18];
	size_t n;
};

/* One entry: u16 tag, u16 reserved, u32 length (little-endian), then the value. */
static inline void raw_tlv_hdr(struct raw *r, uint16_t tag, uint16_t resv, const void *v,
			       uint32_t len)
{
	ck_assert_msg(len <= sizeof(r->b) - 8 - r->n, "test request over %zu bytes", sizeof(r->b));
	uint8_t *p = r->b + r->n;
	p[0] = tag & 0xff, p[1] = tag >> 8, p[2] = resv & 0xff, p[3] = resv >> 8;
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(len >> (8 * i));
	if (len)
		memcpy(p + 8, v, len);
	r->n += 8 + len;
}

static inline void raw_tlv(struct raw *r, uint16_t tag, const void *v, uint32_t len)
{
	raw_tlv_hdr(r, tag, 0, v, len);
}

#endif
