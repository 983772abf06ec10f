/* The virtio block device (microvm/virtio_blk.c) against a temporary backing file. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "virtio_harness.h"

#define MEM_SIZE (4u << 20)
#define RING_GPA 0x10000u
#define HDR_GPA 0x100000u
#define DATA_GPA 0x200000u
#define STATUS_GPA 0x300000u
#define DISK_SECTORS 64u

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_GET_ID 8u

static struct vm vm;
static void *dev;
static struct drvq dq;
static char path[] = "/tmp/sbx-blk-test-XXXXXX";

static void make_disk(void)
{
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	uint8_t buf[DISK_SECTORS * 512 + 100]; /* a partial last sector is not exposed */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), (int)sizeof(buf));
	close(fd);
}

static void start(bool ro)
{
	hvm_init(&vm, MEM_SIZE);
	make_disk();
	struct sbx_err err = {0};
	ck_assert_int_eq(virtio_blk_create(&vm, TEST_BASE, TEST_IRQ, path, ro, &dev, &err), 0);
	uint64_t f = VIRTIO_F_VERSION_1 | (1ull << 2) | (ro ? 1ull << 5 : 1ull << 9);
	ck_assert(drv_negotiate(&vm, 0, f) & VIRTIO_STATUS_FEATURES_OK);
	drvq_setup(&dq, &vm, 0, 0, 128, RING_GPA);
	drv_ok(&vm, 0);
}

static void setup_rw(void)
{
	start(false);
}

static void setup_ro(void)
{
	start(true);
}

static void teardown(void)
{
	virtio_dev_destroy(dev);
	unlink(path);
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	hvm_fini(&vm);
}

/* Header, optional data, status: Linux's three-descriptor layout. Returns status; *used set. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t data_len, uint32_t *used)
{
	uint8_t *h = gpa(&vm, HDR_GPA);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gpa(&vm, STATUS_GPA) = 0xee;
	struct hseg s[3] = {{HDR_GPA, 16, false}};
	unsigned n = 1;
	if (data_len)
		s[n++] = (struct hseg){DATA_GPA, data_len, type != T_OUT};
	s[n++] = (struct hseg){STATUS_GPA, 1, true};
	drvq_add(&dq, s, n);
	drvq_kick(&dq);
	uint32_t id;
	ck_assert(drvq_used(&dq, &id, used, n));
	return *(uint8_t *)gpa(&vm, STATUS_GPA);
}

static uint8_t file_byte(size_t off)
{
	return (uint8_t)(off * 7 + off / 512);
}

START_TEST(capacity_in_config)
{
	uint64_t cap = 0;
	mmio_rd(&vm, 0, R_CONFIG, &cap, 8);
	ck_assert_uint_eq(cap, DISK_SECTORS);
	uint32_t seg_max = 0;
	mmio_rd(&vm, 0, R_CONFIG + 12, &seg_max, 4);
	ck_assert_uint_eq(seg_max, 126);
	uint8_t b = 0xff;
	mmio_rd(&vm, 0, R_CONFIG + 1, &b, 1);
	ck_assert_uint_eq(b, 0);
}
END_TEST

START_TEST(read_sectors)
{
	uint32_t used;
	ck_assert_uint_eq(request(T_IN, 3, 1024, &used), 0);
	ck_assert_uint_eq(used, 1025);
	uint8_t *d = gpa(&vm, DATA_GPA);
	for (size_t i = 0; i < 1024; i++)
		ck_assert_uint_eq(d[i], file_byte(3 * 512 + i));
	ck_assert_uint_eq(request(T_IN, DISK_SECTORS - 1, 512, &used), 0);
}
END_TEST

START_TEST(write_then_read_back)
{
	uint32_t used;
	memset(gpa(&vm, DATA_GPA), 0x5a, 512);
	ck_assert_uint_eq(request(T_OUT, 10, 512, &used), 0);
	ck_assert_uint_eq(used, 1);
	ck_assert_uint_eq(request(T_FLUSH, 0, 0, &used), 0);
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	ck_assert_int_eq(pread(fd, b, 512, 10 * 512), 512);
	close(fd);
	for (int i = 0; i < 512; i++)
		ck_assert_uint_eq(b[i], 0x5a);
}
END_TEST

START_TEST(bad_requests)
{
	uint32_t used;
	ck_assert_uint_eq(request(T_IN, DISK_SECTORS, 512, &used), 1);	    /* past the end */
	ck_assert_uint_eq(request(T_IN, DISK_SECTORS - 1, 1024, &used), 1); /* straddles it */
	ck_assert_uint_eq(request(T_IN, UINT64_MAX, 512, &used), 1);	    /* overflow bait */
	ck_assert_uint_eq(request(T_IN, 0, 100, &used), 1);		    /* not whole sectors */
	ck_assert_uint_eq(request(T_OUT, 0, 100, &used), 1);
	ck_assert_uint_eq(request(99, 0, 0, &used), 2); /* UNSUPP */
	ck_assert_uint_eq(used, 1);

	/* No status byte at all: completed with 0 and counted, nothing written. */
	struct hseg s = {HDR_GPA, 16, false};
	drvq_add(&dq, &s, 1);
	drvq_kick(&dq);
	uint32_t id;
	ck_assert(drvq_used(&dq, &id, &used, 1));
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(get_id)
{
	uint32_t used;
	ck_assert_uint_eq(request(T_GET_ID, 0, 20, &used), 0);
	ck_assert_uint_eq(used, 21);
	ck_assert(memcmp(gpa(&vm, DATA_GPA), "sbx-blk-test-", 13) == 0);
}
END_TEST

START_TEST(split_header)
{
	/* The header spread over two descriptors, data over two more. */
	uint32_t type = T_IN;
	uint64_t sector = 1;
	memcpy(gpa(&vm, HDR_GPA), &type, 4);
	memset(gpa(&vm, HDR_GPA + 4), 0, 4);
	memcpy(gpa(&vm, HDR_GPA + 64), &sector, 8);
	struct hseg s[5] = {{HDR_GPA, 8, false},
			    {HDR_GPA + 64, 8, false},
			    {DATA_GPA, 100, true},
			    {DATA_GPA + 4096, 412, true},
			    {STATUS_GPA, 1, true}};
	drvq_add(&dq, s, 5);
	drvq_kick(&dq);
	uint32_t id, used;
	ck_assert(drvq_used(&dq, &id, &used, 5));
	ck_assert_uint_eq(used, 513);
	ck_assert_uint_eq(*(uint8_t *)gpa(&vm, STATUS_GPA), 0);
	ck_assert_uint_eq(*(uint8_t *)gpa(&vm, DATA_GPA + 99), file_byte(512 + 99));
	ck_assert_uint_eq(*(uint8_t *)gpa(&vm, DATA_GPA + 4096), file_byte(512 + 100));
}
END_TEST

START_TEST(read_only_refuses_writes)
{
	mmio_w32(&vm, 0, R_DEV_FEATURES_SEL, 0);
	ck_assert(mmio_r32(&vm, 0, R_DEV_FEATURES) & (1u << 5));
	uint32_t used;
	ck_assert_uint_eq(request(T_OUT, 0, 512, &used), 1);
	ck_assert_uint_eq(request(T_IN, 0, 512, &used), 0);
	ck_assert_uint_eq(*(uint8_t *)gpa(&vm, DATA_GPA + 1), file_byte(1));
}
END_TEST

START_TEST(missing_file_fails)
{
	struct sbx_err err = {0};
	void *d = NULL;
	struct vm v;
	hvm_init(&v, 1 << 20);
	ck_assert_int_eq(
	    virtio_blk_create(&v, TEST_BASE, TEST_IRQ, "/nonexistent/disk", true, &d, &err),
	    -ENOENT);
	ck_assert(strstr(err.msg, "/nonexistent/disk") != NULL);
	ck_assert_uint_eq(v.mmio.n, 0);
	hvm_fini(&v);
}
END_TEST

static Suite *blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *rw = tcase_create("rw");
	tcase_add_checked_fixture(rw, setup_rw, teardown);
	tcase_add_test(rw, capacity_in_config);
	tcase_add_test(rw, read_sectors);
	tcase_add_test(rw, write_then_read_back);
	tcase_add_test(rw, bad_requests);
	tcase_add_test(rw, get_id);
	tcase_add_test(rw, split_header);
	suite_add_tcase(s, rw);
	TCase *ro = tcase_create("ro");
	tcase_add_checked_fixture(ro, setup_ro, teardown);
	tcase_add_test(ro, read_only_refuses_writes);
	suite_add_tcase(s, ro);
	TCase *e = tcase_create("errors");
	tcase_add_test(e, missing_file_fails);
	suite_add_tcase(s, e);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(blk_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
