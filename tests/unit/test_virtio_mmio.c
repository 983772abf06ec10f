/*
 * The virtio-mmio transport (microvm/virtio_mmio.c), driven through the entropy device, plus the
 * entropy device itself: register file, feature negotiation, queue setup, misuse counting.
 */
#include "virtio_harness.h"

#define MEM_SIZE (4u << 20)
#define RING_GPA 0x10000u
#define BUF_GPA 0x100000u

static struct vm vm;
static void *dev;

static void setup(void)
{
	hvm_init(&vm, MEM_SIZE);
	struct sbx_err err = {0};
	ck_assert_int_eq(virtio_rng_create(&vm, TEST_BASE, TEST_IRQ, &dev, &err), 0);
	ck_assert_uint_eq(vm.mmio.n, 1);
	ck_assert_uint_eq(vm.mmio.ranges[0].base, TEST_BASE);
	ck_assert_uint_eq(vm.mmio.ranges[0].len, 0x1000);
}

static void teardown(void)
{
	virtio_dev_destroy(dev);
	hvm_fini(&vm);
}

START_TEST(identity_registers)
{
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_MAGIC), 0x74726976);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_VERSION), 2);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_DEVICE_ID), VIRTIO_ID_ENTROPY);
	mmio_w32(&vm, 0, R_DEV_FEATURES_SEL, 1);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_DEV_FEATURES), 1); /* VERSION_1 is bit 32 */
	mmio_w32(&vm, 0, R_DEV_FEATURES_SEL, 7);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_DEV_FEATURES), 0);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 0);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_QUEUE_NUM_MAX), 64);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 1);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_QUEUE_NUM_MAX), 0); /* no such queue */
}
END_TEST

START_TEST(features_need_version_1)
{
	uint32_t st = drv_negotiate(&vm, 0, 0);
	ck_assert(!(st & VIRTIO_STATUS_FEATURES_OK));
	st = drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1 | (1ull << 28)); /* INDIRECT: not offered */
	ck_assert(!(st & VIRTIO_STATUS_FEATURES_OK));
	st = drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	ck_assert(st & VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(hvm_transport(&vm, 0)->stats.bad_features, 2);
}
END_TEST

START_TEST(misuse_is_counted_not_fatal)
{
	struct virtio_mmio *t = hvm_transport(&vm, 0);
	uint8_t b[8];
	memset(b, 0xaa, sizeof(b));
	mmio_rd(&vm, 0, R_MAGIC, b, 2); /* 16-bit read of a control register */
	ck_assert_uint_eq(b[0], 0);
	mmio_wr(&vm, 0, R_STATUS, b, 1);
	mmio_r32(&vm, 0, 0x0c8);	 /* unknown */
	mmio_w32(&vm, 0, R_MAGIC, 1);	 /* read-only */
	mmio_rd(&vm, 0, R_CONFIG, b, 4); /* rng has no config space */
	mmio_rd(&vm, 0, 0xffc, b, 4);
	mmio_wr(&vm, 0, R_CONFIG, b, 4);
	ck_assert_uint_eq(t->stats.bad_access, 7);

	drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 3);
	mmio_w32(&vm, 0, R_QUEUE_NUM, 8); /* no such queue */
	mmio_w32(&vm, 0, R_QUEUE_READY, 1);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 0);
	mmio_w32(&vm, 0, R_QUEUE_NUM, 12);   /* not a power of 2 */
	mmio_w32(&vm, 0, R_QUEUE_NUM, 128);  /* above QueueNumMax */
	mmio_w32(&vm, 0, R_QUEUE_NOTIFY, 0); /* not ready, no DRIVER_OK */
	mmio_w32(&vm, 0, R_QUEUE_NOTIFY, 9);
	ck_assert_uint_eq(t->stats.bad_queue, 6);
	ck_assert_uint_eq(t->vqs[0].size, 64);
}
END_TEST

START_TEST(ring_outside_ram_refused)
{
	drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 0);
	mmio_w32(&vm, 0, R_QUEUE_DESC_LOW, 0);
	mmio_w32(&vm, 0, R_QUEUE_DESC_HIGH, 1); /* 4 GiB: beyond our 4 MiB */
	mmio_w32(&vm, 0, R_QUEUE_READY, 1);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_QUEUE_READY), 0);
	ck_assert_uint_eq(hvm_transport(&vm, 0)->stats.bad_queue, 1);
}
END_TEST

START_TEST(rng_fills_buffers)
{
	struct drvq dq;
	drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	drvq_setup(&dq, &vm, 0, 0, 16, RING_GPA);
	drv_ok(&vm, 0);
	struct hseg s[2] = {{BUF_GPA, 64, true}, {BUF_GPA + 4096, 100, true}};
	drvq_add(&dq, s, 2);
	unsigned before = irq_pulses;
	drvq_kick(&dq);
	uint32_t id, len;
	ck_assert(drvq_used(&dq, &id, &len, 2));
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 164);
	ck_assert_uint_eq(irq_pulses, before + 1);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_INT_STATUS), VIRTIO_MMIO_INT_VRING);
	mmio_w32(&vm, 0, R_INT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_INT_STATUS), 0);
	uint8_t zero[100] = {0};
	ck_assert(memcmp(gpa(&vm, BUF_GPA + 4096), zero, 100) != 0);

	/* A read-only buffer gets nothing. */
	struct hseg ro = {BUF_GPA, 64, false};
	drvq_add(&dq, &ro, 1);
	drvq_kick(&dq);
	ck_assert(drvq_used(&dq, &id, &len, 1));
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(reset_clears_queues)
{
	struct drvq dq;
	drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	drvq_setup(&dq, &vm, 0, 0, 16, RING_GPA);
	drv_ok(&vm, 0);
	mmio_w32(&vm, 0, R_STATUS, 0);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_STATUS), 0);
	mmio_w32(&vm, 0, R_QUEUE_SEL, 0);
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_QUEUE_READY), 0);
	/* and the queue can be set up again from scratch */
	drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1);
	drvq_setup(&dq, &vm, 0, 0, 32, RING_GPA);
	drv_ok(&vm, 0);
	struct hseg s = {BUF_GPA, 8, true};
	drvq_add(&dq, &s, 1);
	drvq_kick(&dq);
	uint32_t id, len;
	ck_assert(drvq_used(&dq, &id, &len, 1));
	ck_assert_uint_eq(len, 8);
}
END_TEST

START_TEST(destroy_null)
{
	virtio_dev_destroy(NULL);
}
END_TEST

static Suite *mmio_suite(void)
{
	Suite *s = suite_create("virtio_mmio");
	TCase *c = tcase_create("transport");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(c, identity_registers);
	tcase_add_test(c, features_need_version_1);
	tcase_add_test(c, misuse_is_counted_not_fatal);
	tcase_add_test(c, ring_outside_ram_refused);
	tcase_add_test(c, rng_fills_buffers);
	tcase_add_test(c, reset_clears_queues);
	tcase_add_test(c, destroy_null);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mmio_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
