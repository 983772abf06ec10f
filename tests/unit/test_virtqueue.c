/* Unit tests for the split virtqueue walker (microvm/virtqueue.c) over fake guest memory. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/virtqueue.h"

#define MEM_SIZE (1u << 20)
#define QSIZE 8u
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define BUF_GPA 0x10000u

static struct guest_mem mem;
static struct virtqueue vq;
static struct vq_chain chain;
static uint16_t avail_idx;

static void setup(void)
{
	mem.host = calloc(1, MEM_SIZE);
	mem.size = MEM_SIZE;
	mem.memfd = -1;
	virtqueue_reset(&vq, QSIZE);
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	ck_assert_int_eq(virtqueue_activate(&vq, &mem), 0);
	avail_idx = 0;
}

static void teardown(void)
{
	free(mem.host);
}

static struct virtq_desc *desc(unsigned i)
{
	return (struct virtq_desc *)(mem.host + DESC_GPA) + i;
}

static uint16_t *avail(void)
{
	return (uint16_t *)(mem.host + AVAIL_GPA);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(i) = (struct virtq_desc){addr, len, flags, next};
}

static void publish(uint16_t head)
{
	avail()[2 + avail_idx % QSIZE] = head;
	avail()[1] = ++avail_idx;
}

static uint16_t used_idx(void)
{
	return *(uint16_t *)(mem.host + USED_GPA + 2);
}

static void used_elem(uint16_t slot, uint32_t *id, uint32_t *len)
{
	uint8_t *e = mem.host + USED_GPA + 4 + 8 * (slot % QSIZE);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

START_TEST(normal_chain)
{
	set_desc(3, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, BUF_GPA + 100, 200, VIRTQ_DESC_F_NEXT, 0);
	set_desc(0, BUF_GPA + 1000, 1, VIRTQ_DESC_F_WRITE, 0);
	ck_assert(!virtqueue_has_avail(&vq));
	publish(3);
	ck_assert(virtqueue_has_avail(&vq));
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_uint_eq(chain.nseg, 3);
	ck_assert_uint_eq(chain.n_out, 2);
	ck_assert_uint_eq(chain.out_len, 216);
	ck_assert_uint_eq(chain.in_len, 1);
	ck_assert_ptr_eq(chain.seg[1].hva, mem.host + BUF_GPA + 100);
	ck_assert(chain.seg[2].writable && !chain.seg[0].writable);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	virtqueue_push(&vq, 3, 1);
	ck_assert_uint_eq(used_idx(), 1);
	uint32_t id, len;
	used_elem(0, &id, &len);
	ck_assert_uint_eq(id, 3);
	ck_assert_uint_eq(len, 1);
}
END_TEST

/* A chain the walker must refuse: it is completed with length 0 and counted. */
static void expect_bad(uint16_t head)
{
	publish(head);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	ck_assert_uint_eq(vq.bad_chains, 1);
	ck_assert_uint_eq(used_idx(), 1);
	uint32_t id, len;
	used_elem(0, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);
}

START_TEST(loop_detected)
{
	set_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	expect_bad(0);
}
END_TEST

START_TEST(self_loop_detected)
{
	set_desc(2, BUF_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	expect_bad(2);
}
END_TEST

START_TEST(address_out_of_range)
{
	set_desc(0, MEM_SIZE, 1, 0, 0);
	expect_bad(0);
}
END_TEST

START_TEST(length_out_of_range)
{
	set_desc(0, BUF_GPA, MEM_SIZE, 0, 0);
	expect_bad(0);
}
END_TEST

START_TEST(address_wraps)
{
	set_desc(0, UINT64_MAX - 10, 100, VIRTQ_DESC_F_WRITE, 0);
	expect_bad(0);
}
END_TEST

START_TEST(next_out_of_range)
{
	set_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	expect_bad(0);
}
END_TEST

START_TEST(readable_after_writable)
{
	set_desc(0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 8, 0, 0);
	expect_bad(0);
}
END_TEST

START_TEST(indirect_refused)
{
	set_desc(0, BUF_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
}
END_TEST

START_TEST(head_out_of_range_skipped)
{
	set_desc(1, BUF_GPA, 4, 0, 0);
	publish(QSIZE + 3);
	publish(1);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.head, 1);
	ck_assert_uint_eq(vq.bad_chains, 1);
	ck_assert_uint_eq(used_idx(), 0); /* nothing to complete for a bogus head */
}
END_TEST

START_TEST(avail_idx_wraps)
{
	vq.last_avail = 0xfffe;
	vq.used_idx = 0xfffe;
	*(uint16_t *)(mem.host + USED_GPA + 2) = 0xfffe;
	avail_idx = 0xfffe;
	for (unsigned i = 0; i < 3; i++) {
		set_desc(i, BUF_GPA + i * 16, 16, VIRTQ_DESC_F_WRITE, 0);
		publish((uint16_t)i);
	}
	ck_assert_uint_eq(avail()[1], 1);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
		ck_assert_uint_eq(chain.head, i);
		virtqueue_push(&vq, chain.head, 16);
	}
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	ck_assert_uint_eq(used_idx(), 1);
	uint32_t id, len;
	used_elem(0, &id, &len); /* the third push landed in slot 0 after wrapping */
	ck_assert_uint_eq(id, 2);
}
END_TEST

START_TEST(avail_idx_too_far)
{
	avail()[1] = QSIZE + 1;
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	ck_assert_uint_eq(vq.bad_avail_idx, 1);
	ck_assert_uint_eq(vq.last_avail, 0);
}
END_TEST

START_TEST(interrupt_suppression)
{
	ck_assert(!virtqueue_should_signal(&vq)); /* nothing pushed */
	virtqueue_push(&vq, 0, 0);
	ck_assert(virtqueue_should_signal(&vq));
	ck_assert(!virtqueue_should_signal(&vq));
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	virtqueue_push(&vq, 0, 0);
	ck_assert(!virtqueue_should_signal(&vq));
}
END_TEST

/* EVENT_IDX (§2.7.10): the driver's used_event sits after the avail ring. */
START_TEST(event_idx_interrupts)
{
	vq.event_idx = true;
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT; /* ignored once EVENT_IDX is negotiated */
	avail()[2 + QSIZE] = 0;			 /* interrupt when used->idx passes 0 */
	virtqueue_push(&vq, 0, 0);
	ck_assert(virtqueue_should_signal(&vq));
	virtqueue_push(&vq, 0, 0); /* used->idx 1 -> 2: used_event 0 already passed */
	ck_assert(!virtqueue_should_signal(&vq));
	avail()[2 + QSIZE] = 4; /* the driver wants to hear when entry 4 is used */
	virtqueue_push(&vq, 0, 0);
	virtqueue_push(&vq, 0, 0); /* idx 4 */
	ck_assert(!virtqueue_should_signal(&vq));
	virtqueue_push(&vq, 0, 0); /* idx 5: passes 4 */
	ck_assert(virtqueue_should_signal(&vq));
	/* Wrap of the 16-bit index: used_event 0xffff, idx 0xfffe -> 0x0001. */
	vq.used_idx = 0xfffe;
	avail()[2 + QSIZE] = 0xffff;
	virtqueue_push(&vq, 0, 0);
	virtqueue_push(&vq, 0, 0);
	virtqueue_push(&vq, 0, 0);
	ck_assert(virtqueue_should_signal(&vq));
}
END_TEST

START_TEST(event_idx_arms_kick)
{
	uint16_t *avail_event = (uint16_t *)(mem.host + USED_GPA + 4 + 8 * QSIZE);
	vq.event_idx = true;
	*avail_event = 0x7777;
	set_desc(0, BUF_GPA, 16, 0, 0);
	publish(0);
	publish(0);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
	ck_assert_uint_eq(*avail_event, 0x7777); /* not rewritten while buffers were there */
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	ck_assert_uint_eq(*avail_event, 2); /* found empty: kick us when idx moves past 2 */
	vq.event_idx = false;
	*avail_event = 0x7777;
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 0);
	ck_assert_uint_eq(*avail_event, 0x7777); /* without EVENT_IDX the field is the driver's */
}
END_TEST

START_TEST(activate_rejects)
{
	struct virtqueue q;
	virtqueue_reset(&q, QSIZE);
	q.desc_gpa = DESC_GPA + 8; /* descriptors need 16-byte alignment */
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	ck_assert_int_eq(virtqueue_activate(&q, &mem), -EINVAL);
	q.desc_gpa = DESC_GPA;
	q.used_gpa = MEM_SIZE - 16; /* used ring runs past the end of RAM */
	ck_assert_int_eq(virtqueue_activate(&q, &mem), -EFAULT);
	q.used_gpa = USED_GPA;
	q.size = 6;
	ck_assert_int_eq(virtqueue_activate(&q, &mem), -EINVAL);
	q.size = VIRTQ_MAX_SIZE * 2;
	ck_assert_int_eq(virtqueue_activate(&q, &mem), -EINVAL);
	ck_assert(!q.ready);
	ck_assert_int_eq(virtqueue_pop(&q, &chain), 0);
}
END_TEST

START_TEST(chain_copy_helpers)
{
	for (unsigned i = 0; i < 64; i++)
		mem.host[BUF_GPA + i] = (uint8_t)i;
	set_desc(0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA + 10, 0, VIRTQ_DESC_F_NEXT, 2); /* empty: skipped */
	set_desc(2, BUF_GPA + 10, 20, VIRTQ_DESC_F_NEXT, 3);
	set_desc(3, BUF_GPA + 100, 5, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
	set_desc(4, BUF_GPA + 200, 5, VIRTQ_DESC_F_WRITE, 0);
	publish(0);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.nseg, 4);
	uint8_t buf[40];
	ck_assert_uint_eq(vq_chain_read(&chain, 8, buf, sizeof(buf)), 22);
	for (unsigned i = 0; i < 22; i++)
		ck_assert_uint_eq(buf[i], 8 + i);
	ck_assert_uint_eq(vq_chain_write(&chain, 3, "abcdefgh", 8), 7);
	ck_assert(memcmp(mem.host + BUF_GPA + 103, "ab", 2) == 0);
	ck_assert(memcmp(mem.host + BUF_GPA + 200, "cdefg", 5) == 0);
	struct iovec iov[1];
	uint64_t got;
	ck_assert_int_eq(vq_chain_iov(&chain, false, 5, 100, iov, 1, &got), 1);
	ck_assert_uint_eq(got, 5); /* iov full after the first piece */
}
END_TEST

static Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *c = tcase_create("split");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, normal_chain);
	tcase_add_test(c, loop_detected);
	tcase_add_test(c, self_loop_detected);
	tcase_add_test(c, address_out_of_range);
	tcase_add_test(c, length_out_of_range);
	tcase_add_test(c, address_wraps);
	tcase_add_test(c, next_out_of_range);
	tcase_add_test(c, readable_after_writable);
	tcase_add_test(c, indirect_refused);
	tcase_add_test(c, head_out_of_range_skipped);
	tcase_add_test(c, avail_idx_wraps);
	tcase_add_test(c, avail_idx_too_far);
	tcase_add_test(c, interrupt_suppression);
	tcase_add_test(c, event_idx_interrupts);
	tcase_add_test(c, event_idx_arms_kick);
	tcase_add_test(c, activate_rejects);
	tcase_add_test(c, chain_copy_helpers);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(virtqueue_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
