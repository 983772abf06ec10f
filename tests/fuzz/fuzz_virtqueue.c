/*
 * libFuzzer target for the split virtqueue walker (microvm/virtqueue.c): the input is the guest's
 * view of a queue. Build:
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_virtqueue.c microvm/virtqueue.c microvm/guest_mem.c common/error.c \
 *     -o fuzz_virtqueue
 * Input: 2 bytes queue size (any value: bad ones must be refused), 3 x 4 bytes ring addresses,
 * 2 bytes starting avail index, then the contents of 64 KiB of guest RAM (rest zero).
 * Checks: no out-of-bounds access (ASan), every chain stays inside guest RAM and within the
 * queue size, and segment totals add up.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/virtqueue.h"

#define FUZZ_RAM (64u * 1024u)
#define FUZZ_HDR 16u
#define FUZZ_MAX_POPS 1024u

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_chain(const struct guest_mem *mem, const struct virtqueue *vq,
			const struct vq_chain *c)
{
	assert(c->head < vq->size);
	assert(c->nseg <= vq->size && c->n_out <= c->nseg);
	uint64_t out = 0, in = 0;
	for (uint16_t i = 0; i < c->nseg; i++) {
		const struct vq_seg *s = &c->seg[i];
		assert(s->hva >= mem->host && s->hva + s->len <= mem->host + mem->size);
		assert(s->writable == (i >= c->n_out));
		*(s->writable ? &in : &out) += s->len;
	}
	assert(out == c->out_len && in == c->in_len);
}

static void exercise(struct vq_chain *c)
{
	static uint8_t buf[4096];
	vq_chain_read(c, c->out_len / 3, buf, sizeof(buf));
	memset(buf, 0x5a, sizeof(buf));
	vq_chain_write(c, c->in_len / 2, buf, sizeof(buf));
	struct iovec iov[8];
	uint64_t got;
	int n = vq_chain_iov(c, true, 1, UINT64_MAX, iov, 8, &got);
	assert(n >= 0 && n <= 8 && got <= c->in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HDR)
		return 0;
	static struct vq_chain chain;
	struct guest_mem mem = {.host = calloc(1, FUZZ_RAM), .size = FUZZ_RAM, .memfd = -1};
	size_t body = size - FUZZ_HDR < FUZZ_RAM ? size - FUZZ_HDR : FUZZ_RAM;
	memcpy(mem.host, data + FUZZ_HDR, body);

	struct virtqueue vq;
	virtqueue_reset(&vq, (uint16_t)(data[0] | data[1] << 8));
	vq.desc_gpa = le32(data + 2) % (FUZZ_RAM + 64); /* mostly inside, sometimes just past */
	vq.avail_gpa = le32(data + 6) % (FUZZ_RAM + 64);
	vq.used_gpa = le32(data + 10) % (FUZZ_RAM + 64);
	if (virtqueue_activate(&vq, &mem) == 0) {
		vq.last_avail = vq.used_idx = (uint16_t)(data[14] | data[15] << 8);
		for (unsigned i = 0; i < FUZZ_MAX_POPS && virtqueue_pop(&vq, &chain) == 1; i++) {
			check_chain(&mem, &vq, &chain);
			exercise(&chain);
			virtqueue_push(&vq, chain.head, (uint32_t)chain.in_len);
		}
		virtqueue_should_signal(&vq);
	}
	free(mem.host);
	return 0;
}
