/* MP table layout and checksums (Intel MP spec 1.4 §4). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/layout.h"
#include "../../microvm/mptable.h"

static uint8_t buf[1024];

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

START_TEST(layout_and_checksums)
{
	unsigned ncpus = (unsigned)_i + 1;
	int n = mptable_build(buf, sizeof(buf), 0x9fc00, ncpus, NULL);
	ck_assert_int_eq(n, (int)mptable_size(ncpus));
	ck_assert_mem_eq(buf, "_MP_", 4);
	ck_assert_uint_eq(le32(buf + 4), 0x9fc00 + 16);
	ck_assert_uint_eq(buf[8], 1); /* length in 16-byte units */
	ck_assert_uint_eq(buf[9], 4); /* spec 1.4 */
	ck_assert_uint_eq(mptable_checksum(buf, 16), 0);
	const uint8_t *mpc = buf + 16;
	ck_assert_mem_eq(mpc, "PCMP", 4);
	uint16_t len = le16(mpc + 4);
	ck_assert_uint_eq(len, (unsigned)n - 16);
	ck_assert_uint_eq(mptable_checksum(mpc, len), 0);
	ck_assert_uint_eq(le32(mpc + 36), LAYOUT_LAPIC_ADDR);
	ck_assert_uint_eq(le16(mpc + 34), ncpus + 2 + LAYOUT_IOAPIC_PINS + 2);
	/* Processor entries: APIC id = index, only the first is the BSP. */
	const uint8_t *e = mpc + 44;
	for (unsigned i = 0; i < ncpus; i++, e += 20) {
		ck_assert_uint_eq(e[0], 0);
		ck_assert_uint_eq(e[1], i);
		ck_assert_uint_eq(e[3], i == 0 ? 3 : 1);
	}
	ck_assert_uint_eq(e[0], 1);
	ck_assert_mem_eq(e + 2, "ISA   ", 6);
	e += 8;
	ck_assert_uint_eq(e[0], 2);
	ck_assert_uint_eq(e[1], ncpus); /* IOAPIC id follows the CPUs */
	ck_assert_uint_eq(le32(e + 4), LAYOUT_IOAPIC_ADDR);
	e += 8;
	for (unsigned pin = 0; pin < LAYOUT_IOAPIC_PINS; pin++, e += 8) {
		ck_assert_uint_eq(e[0], 3);
		ck_assert_uint_eq(e[5], pin);
		ck_assert_uint_eq(e[7], pin);
	}
	ck_assert_uint_eq(e[0], 4);
	ck_assert_uint_eq(e[1], 3); /* ExtINT on LINT0 */
	ck_assert_uint_eq(e[7], 0);
	ck_assert_uint_eq(e[8], 4);
	ck_assert_uint_eq(e[9], 1); /* NMI on LINT1 */
	ck_assert_uint_eq(e[15], 1);
}
END_TEST

START_TEST(limits)
{
	ck_assert_int_lt(mptable_build(buf, sizeof(buf), 0x9fc00, 0, NULL), 0);
	ck_assert_int_lt(mptable_build(buf, sizeof(buf), 0x9fc00, MPTABLE_MAX_CPUS + 1, NULL), 0);
	ck_assert_int_lt(mptable_build(buf, 100, 0x9fc00, 1, NULL), 0);
	/* The largest table still fits the last KiB of base memory. */
	ck_assert_uint_le(mptable_size(MPTABLE_MAX_CPUS), LAYOUT_LOWMEM_END - LAYOUT_MPTABLE_START);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_mptable");
	TCase *tc = tcase_create("mptable");
	tcase_add_loop_test(tc, layout_and_checksums, 0, (int)MPTABLE_MAX_CPUS);
	tcase_add_test(tc, limits);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
