/*
 * The console log stops growing at 16 MiB (microvm/serial.c): a guest that prints without end
 * cannot fill the host's disk. Under kvm_pvm a guest manages ~55 KB/s, so this is checked here
 * through the device's port callback rather than from a real guest (tests/hostile has the mode).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../microvm/serial.h"

#define LOG_MAX (16 << 20)

static void print(struct serial *s, const char *text)
{
	for (; *text; text++)
		serial_pio_write(s, 0, (const uint8_t *)text, 1);
}

START_TEST(log_is_capped_and_says_so)
{
	char path[] = "/tmp/serial-log-cap.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	struct serial *s = NULL;
	ck_assert_int_eq(serial_create(NULL, dup(fd), &s, NULL), 0);
	char line[128];
	memset(line, 'y', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	for (long n = 0; n < LOG_MAX + (1 << 20); n += (long)strlen(line))
		print(s, line);
	print(s, "the last line\n");
	char tail[256];
	ck_assert_uint_gt(serial_tail(s, tail, sizeof(tail)), 0); /* the ring still sees output */
	ck_assert_ptr_nonnull(strstr(tail, "the last line"));
	serial_destroy(s);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_le(st.st_size, LOG_MAX + 256);
	ck_assert_int_gt(st.st_size, LOG_MAX - 256);
	char end[129] = "";
	ck_assert_int_eq(pread(fd, end, 128, st.st_size - 128), 128);
	ck_assert_ptr_nonnull(strstr(end, "console log limit reached"));
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(short_log_is_untouched)
{
	char path[] = "/tmp/serial-log-cap.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	struct serial *s = NULL;
	ck_assert_int_eq(serial_create(NULL, dup(fd), &s, NULL), 0);
	print(s, "hello\nno newline at the end");
	serial_destroy(s);
	char buf[64] = "";
	ck_assert_int_eq(pread(fd, buf, sizeof(buf) - 1, 0), 27);
	ck_assert_str_eq(buf, "hello\nno newline at the end");
	close(fd);
	unlink(path);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("serial log cap");
	TCase *tc = tcase_create("cap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, log_is_capped_and_says_so);
	tcase_add_test(tc, short_log_is_untouched);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
