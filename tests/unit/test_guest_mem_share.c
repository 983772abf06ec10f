/*
 * guest_mem_share (microvm/guest_mem.c): a private mapping of a sparse memory file moved into a
 * memfd at the same address, data extents copied, holes kept, later writes visible through the
 * fd (what a vhost-user back end maps).
 */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../microvm/guest_mem.h"

#define PAGE 4096
#define SIZE (1 << 20)

START_TEST(share_keeps_address_data_and_holes)
{
	char path[] = "/tmp/sbx-test-mem.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, SIZE), 0);
	ck_assert_int_eq(pwrite(fd, "three", 5, 3 * PAGE), 5);
	ck_assert_int_eq(pwrite(fd, "hundred", 7, 100 * PAGE + 10), 7);

	struct guest_mem m;
	struct sbx_err err = {0};
	ck_assert_int_eq(guest_mem_map_private(&m, fd, SIZE, &err), 0);
	uint8_t *before = m.host;
	ck_assert_int_lt(m.memfd, 0);
	ck_assert_int_eq(guest_mem_share(&m, fd, &err), 0);
	ck_assert_ptr_eq(m.host, before);
	ck_assert_int_ge(m.memfd, 0);
	ck_assert_int_eq(memcmp(m.host + 3 * PAGE, "three", 5), 0);
	ck_assert_int_eq(memcmp(m.host + 100 * PAGE + 10, "hundred", 7), 0);
	/* Holes stay holes in the memfd: the next data after page 50 is page 100. (Checked before
	 * reading page 50: a read fault allocates a shmem page.) */
	ck_assert_int_eq(lseek(m.memfd, 50 * PAGE, SEEK_DATA), 100 * PAGE);
	ck_assert_int_eq(m.host[50 * PAGE], 0);
	/* Writes through the mapping reach the fd (the back end's view); the file is untouched. */
	memcpy(m.host + 7 * PAGE, "guest", 5);
	char buf[8] = {0};
	ck_assert_int_eq(pread(m.memfd, buf, 5, 7 * PAGE), 5);
	ck_assert_str_eq(buf, "guest");
	ck_assert_int_eq(pread(fd, buf, 5, 7 * PAGE), 5);
	ck_assert_int_eq(buf[0], 0);
	/* Already shared: nothing to do. */
	ck_assert_int_eq(guest_mem_share(&m, fd, &err), 0);
	guest_mem_destroy(&m);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("guest_mem_share");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, share_keeps_address_data_and_holes);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
