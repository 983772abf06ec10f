/*
 * How `sandbox` names the end of a VMM (shim/vmm_proc.c vmm_describe_exit): a panic that was the
 * guest agent's (PID 1's) death is named as that, with the kernel's exit code, from the guest
 * console; any other end keeps its plain reason, and the console is not read for those (a
 * guest may print anything there).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/vmm_proc.h"

#define PANIC_LINE                                                                                 \
	"[ 12.345678] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n"

static char log_path[] = "/tmp/sbx-vmm-exit-test.XXXXXX";

static void setup(void)
{
	int fd = mkstemp(log_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(log_path);
	strcpy(log_path + strlen(log_path) - 6, "XXXXXX");
}

static void write_console(const char *text)
{
	FILE *f = fopen(log_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A reaped VMM that ended with exit code `code` (or signal `sig` when non-zero). */
static void describe(int code, int sig, const char *serial, char *out, size_t cap)
{
	struct vmm_proc v = {.pid = 1234, .pidfd = -1, .reaped = true};
	v.status = sig ? sig : (code << 8);
	snprintf(v.serial_log, sizeof(v.serial_log), "%s", serial);
	vmm_describe_exit(&v, out, cap);
}

START_TEST(panic_from_init_death_is_named)
{
	char why[128];
	write_console("sandbox-agent: testhook: armed pid1:x\n"
		      "init[1]: segfault at 0 ip 0000000000401234\n" PANIC_LINE);
	describe(3, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the guest agent (PID 1) died (exitcode=0x0000000b)");
}
END_TEST

START_TEST(other_panic_stays_a_panic)
{
	char why[128];
	write_console("Kernel panic - not syncing: VFS: Unable to mount root fs\n");
	describe(3, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the guest kernel panicked");
	describe(3, 0, "", why, sizeof(why)); /* no console kept (--debug) */
	ck_assert_str_eq(why, "the guest kernel panicked");
	describe(3, 0, "/nonexistent/serial.log", why, sizeof(why));
	ck_assert_str_eq(why, "the guest kernel panicked");
}
END_TEST

/* The console is the guest's word: it names nothing unless the VMM itself saw a panic. */
START_TEST(console_not_trusted_without_panic)
{
	char why[128];
	write_console(PANIC_LINE);
	describe(0, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the guest shut down");
	describe(0, SIGKILL, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the VMM was killed");
	describe(1, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the VMM failed");
}
END_TEST

/* A malformed exit code is no death notice; a long line is cut, not overrun. */
START_TEST(malformed_console_lines)
{
	char why[128], big[4096];
	memset(big, 'A', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	write_console("Kernel panic - not syncing: Attempted to kill init! exitcode=0xZZ\n");
	describe(3, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the guest kernel panicked");
	FILE *f = fopen(log_path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(big, f);
	fputs(PANIC_LINE, f);
	ck_assert_int_eq(fclose(f), 0);
	describe(3, 0, log_path, why, sizeof(why));
	ck_assert_str_eq(why, "the guest agent (PID 1) died (exitcode=0x0000000b)");
	describe(3, 0, log_path, why, 16); /* a short buffer: cut, terminated */
	ck_assert_str_eq(why, "the guest agent");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_proc_exit");
	TCase *tc = tcase_create("describe");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, panic_from_init_death_is_named);
	tcase_add_test(tc, other_panic_stays_a_panic);
	tcase_add_test(tc, console_not_trusted_without_panic);
	tcase_add_test(tc, malformed_console_lines);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
