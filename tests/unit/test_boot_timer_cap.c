/*
 * The --boot-timer file stops growing after LEGACY_BOOT_TIMER_MAX_LINES lines plus one that says
 * why (microvm/legacy.c): each guest write to port 0x440 is a line, so a guest writing the port
 * in a loop could otherwise fill the host's disk. Driven through the port's bus callback.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../microvm/legacy.h"

static int count_lines(int fd, char *last, size_t last_len)
{
	static char buf[1 << 20];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (ssize_t)sizeof(buf) - 1);
	buf[n] = '\0';
	int lines = 0;
	const char *start = buf;
	for (char *p = buf; *p; p++)
		if (*p == '\n') {
			lines++;
			if (p[1])
				start = p + 1;
		}
	snprintf(last, last_len, "%s", start);
	return lines;
}

/* A legacy device logging to a temp file gets `writes` guest writes and one VMM line; returns
 * the file's line count, its last line and its size. */
static int log_stages(unsigned writes, char *last, size_t last_len, off_t *size)
{
	char path[] = "/tmp/boot-timer-cap.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	struct legacy *l = NULL;
	ck_assert_int_eq(legacy_create(NULL, dup(fd), 0, &l, NULL), 0);
	for (unsigned i = 0; i < writes; i++) {
		uint8_t stage = (uint8_t)i;
		boot_timer_write(l, 0, &stage, 1);
	}
	legacy_boot_timer_log(l, "restored"); /* the VMM's own lines count too */
	legacy_destroy(l);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	*size = st.st_size;
	int lines = count_lines(fd, last, last_len);
	close(fd);
	return lines;
}

START_TEST(boot_timer_is_capped_and_says_so)
{
	char last[128];
	off_t size;
	ck_assert_int_eq(log_stages(3 * LEGACY_BOOT_TIMER_MAX_LINES, last, sizeof(last), &size),
			 LEGACY_BOOT_TIMER_MAX_LINES + 1);
	ck_assert_msg(strstr(last, " boot-timer-limit-reached "), "last line: %s", last);
	ck_assert_int_lt(size, 64 * (LEGACY_BOOT_TIMER_MAX_LINES + 1));
}
END_TEST

START_TEST(short_boot_timer_log_is_untouched)
{
	char last[128];
	off_t size;
	ck_assert_int_eq(log_stages(10, last, sizeof(last), &size), 11);
	ck_assert_msg(strstr(last, " restored "), "last line: %s", last);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot timer cap");
	TCase *tc = tcase_create("cap");
	tcase_add_test(tc, boot_timer_is_capped_and_says_so);
	tcase_add_test(tc, short_boot_timer_log_is_untouched);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
