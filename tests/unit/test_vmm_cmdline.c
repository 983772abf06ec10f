/* Kernel command line built by the VMM. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/cmdline.h"
#include "../../microvm/layout.h"

static char buf[LAYOUT_CMDLINE_MAX];

START_TEST(hardware_host_has_no_emulation_switches)
{
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), false, 0, NULL, NULL), 0);
	ck_assert_ptr_nonnull(strstr(buf, "console=ttyS0"));
	ck_assert_ptr_nonnull(strstr(buf, "reboot=k"));
	ck_assert_ptr_null(strstr(buf, "noxsave"));
	ck_assert_ptr_null(strstr(buf, "clearcpuid"));
	ck_assert_ptr_null(strstr(buf, "virtio_mmio"));
}
END_TEST

START_TEST(emulated_host_devices_and_extra_in_order)
{
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), true, 3, "init=/init x=1", NULL), 0);
	char *nox = strstr(buf, "noxsave"), *cc = strstr(buf, "clearcpuid=popcnt,cx16");
	char *d0 = strstr(buf, "virtio_mmio.device=4K@0xd0000000:5");
	char *d2 = strstr(buf, "virtio_mmio.device=4K@0xd0002000:7");
	char *extra = strstr(buf, " init=/init x=1");
	ck_assert_ptr_nonnull(nox);
	ck_assert_ptr_nonnull(cc);
	ck_assert_ptr_nonnull(d0);
	ck_assert_ptr_nonnull(d2);
	ck_assert_ptr_nonnull(extra);
	ck_assert(nox < d0 && d0 < d2 && d2 < extra);
	ck_assert_str_eq(extra + strlen(extra) - 3, "x=1");
}
END_TEST

START_TEST(length_is_bounded)
{
	char big[LAYOUT_CMDLINE_MAX];
	struct sbx_err err = {0};
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_lt(cmdline_build(buf, sizeof(buf), false, 0, big, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "longer than 2047"));
	ck_assert_str_eq(buf, "");
	char small[16];
	ck_assert_int_lt(cmdline_build(small, sizeof(small), false, 0, NULL, NULL), 0);
	ck_assert_int_lt(
	    cmdline_build(buf, sizeof(buf), false, LAYOUT_VIRTIO_MAX_DEVICES + 1, NULL, NULL), 0);
	/* Exactly at the limit is fine. */
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), false, 0, NULL, NULL), 0);
	size_t room = sizeof(buf) - strlen(buf) - 2; /* space + NUL */
	big[room] = '\0';
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), false, 0, big, NULL), 0);
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
}
END_TEST

/* The kernel ignores a clearcpuid value of 128 bytes or more (its parse buffer); rep_good must
 * stay so that page clears and copies take the quadword string variants. */
START_TEST(emulated_clearcpuid_fits_and_hides_byte_string_ops)
{
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), true, 0, NULL, NULL), 0);
	char *v = strstr(buf, "clearcpuid=");
	ck_assert_ptr_nonnull(v);
	v += strlen("clearcpuid=");
	size_t len = strcspn(v, " ");
	ck_assert_uint_lt(len, 128);
	char val[128];
	memcpy(val, v, len);
	val[len] = '\0';
	ck_assert_ptr_nonnull(strstr(val, "erms"));
	ck_assert_ptr_nonnull(strstr(val, "fsrm"));
	ck_assert_ptr_null(strstr(val, "rep_good"));
}
END_TEST

/* An idle guest must not be woken twice a second by the clocksource watchdog: on every host. */
START_TEST(no_clocksource_watchdog_on_any_host)
{
	for (int emulated = 0; emulated <= 1; emulated++) {
		ck_assert_int_eq(cmdline_build(buf, sizeof(buf), emulated, 1, NULL, NULL), 0);
		ck_assert_ptr_nonnull(strstr(buf, " tsc=nowatchdog "));
	}
}
END_TEST

/* Per-CPU areas in page units only where the allocator's chunk scans run emulated. */
START_TEST(percpu_page_units_only_when_emulated)
{
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), true, 1, NULL, NULL), 0);
	ck_assert_ptr_nonnull(strstr(buf, " percpu_alloc=page"));
	ck_assert_int_eq(cmdline_build(buf, sizeof(buf), false, 1, NULL, NULL), 0);
	ck_assert_ptr_null(strstr(buf, "percpu_alloc"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_cmdline");
	TCase *tc = tcase_create("cmdline");
	tcase_add_test(tc, hardware_host_has_no_emulation_switches);
	tcase_add_test(tc, emulated_host_devices_and_extra_in_order);
	tcase_add_test(tc, length_is_bounded);
	tcase_add_test(tc, emulated_clearcpuid_fits_and_hides_byte_string_ops);
	tcase_add_test(tc, no_clocksource_watchdog_on_any_host);
	tcase_add_test(tc, percpu_page_units_only_when_emulated);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
