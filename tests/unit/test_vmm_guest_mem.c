/* Guest RAM bounds checks, the bus table, and the CPUID policy (pure parts of the VMM core). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../microvm/bus.h"
#include "../../microvm/cpuid.h"
#include "../../microvm/guest_mem.h"

START_TEST(gpa_bounds_are_overflow_safe)
{
	struct guest_mem m;
	ck_assert_int_eq(guest_mem_create(&m, 1 << 20, NULL), 0);
	ck_assert_int_ge(m.memfd, 0);
	ck_assert_ptr_eq(gpa_to_hva(&m, 0, 1 << 20), m.host);
	ck_assert_ptr_eq(gpa_to_hva(&m, 1 << 20, 0), m.host + (1 << 20));
	ck_assert_ptr_null(gpa_to_hva(&m, 1 << 20, 1));
	ck_assert_ptr_null(gpa_to_hva(&m, (1 << 20) - 4, 8));
	ck_assert_ptr_null(gpa_to_hva(&m, 16, UINT64_MAX));
	ck_assert_ptr_null(gpa_to_hva(&m, UINT64_MAX, 2));
	uint32_t v = 0x12345678, w = 0;
	ck_assert_int_eq(guest_mem_write(&m, 100, &v, 4), 0);
	ck_assert_int_eq(guest_mem_read(&m, 100, &w, 4), 0);
	ck_assert_uint_eq(w, v);
	ck_assert_int_eq(guest_mem_read(&m, (1 << 20) - 2, &w, 4), -EFAULT);
	guest_mem_destroy(&m);
	guest_mem_destroy(&m); /* idempotent */
	ck_assert_int_lt(guest_mem_create(&m, 1000, NULL), 0);
}
END_TEST

static void nop_rw(void *o, uint64_t off, uint8_t *d, uint32_t len)
{
	(void)o;
	(void)off;
	memset(d, 7, len);
}

static const struct bus_ops ops = {.read = nop_rw};

START_TEST(bus_register_rejects_overlap_and_overflow)
{
	struct bus b = {.name = "test"};
	struct sbx_err err = {0};
	ck_assert_int_eq(bus_register(&b, 0x100, 0x10, &ops, NULL, &err), 0);
	ck_assert_int_eq(bus_register(&b, 0x10f, 1, &ops, NULL, &err), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0xf0, 0x11, &ops, NULL, &err), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x110, 1, &ops, NULL, &err), 0);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX - 1, 4, &ops, NULL, &err), -EINVAL);
	uint8_t d[8];
	ck_assert_int_eq(bus_dispatch(&b, 0x108, d, 8, false), 0);
	ck_assert_uint_eq(d[7], 7);
	ck_assert_int_eq(bus_dispatch(&b, 0x10c, d, 8, false), -ENOENT); /* straddles */
	ck_assert_int_eq(bus_dispatch(&b, 0x100, d, 1, true), -ENOENT);	 /* no write op */
	ck_assert_uint_eq(b.unhandled, 2);
	for (unsigned i = b.n; i < BUS_MAX_RANGES; i++)
		ck_assert_int_eq(bus_register(&b, 0x1000 + i, 1, &ops, NULL, NULL), 0);
	ck_assert_int_eq(bus_register(&b, 0x9000, 1, &ops, NULL, NULL), -ENOSPC);
}
END_TEST

static struct kvm_cpuid2 *table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
	struct kvm_cpuid_entry2 e[] = {
	    {.function = 1, .ebx = 0xff0800, .ecx = (1u << 23) | (1u << 13) | (1u << 26), .edx = 1},
	    {.function = 0xb, .index = 0},
	    {.function = 0xb, .index = 1},
	    {.function = 0x40000001, .eax = (1u << 3) | (1u << 7) | (1u << 11) | (1u << 13)},
	    {.function = 0xd, .eax = 7, .ebx = 0x240},
	};
	memcpy(c->entries, e, sizeof(e));
	c->nent = 5;
	return c;
}

START_TEST(cpuid_topology_and_policy)
{
	struct kvm_cpuid2 *c = table();
	cpuid_fixup(c, 2, 4, false);
	ck_assert_uint_eq(c->entries[0].ebx >> 24, 2); /* APIC id */
	ck_assert_uint_eq((c->entries[0].ebx >> 16) & 0xff, 4);
	ck_assert_uint_eq(c->entries[0].ebx & 0xffff, 0x0800); /* CLFLUSH size kept */
	ck_assert(c->entries[0].ecx & (1u << 31));	       /* hypervisor */
	ck_assert(c->entries[0].ecx & (1u << 23));	       /* hardware keeps POPCNT */
	ck_assert_uint_eq(c->entries[1].edx, 2);
	ck_assert_uint_eq(c->entries[2].ebx, 4);
	ck_assert_uint_eq(c->entries[2].eax, 2);
	ck_assert_uint_eq(c->entries[3].eax, 1u << 3); /* only the non-hypercall feature left */
	ck_assert_uint_eq(c->entries[4].eax, 7);
	free(c);
	c = table();
	cpuid_fixup(c, 0, 1, true);
	ck_assert_uint_eq(c->entries[0].ecx & ((1u << 23) | (1u << 13) | (1u << 26)), 0);
	ck_assert_uint_eq(c->entries[4].eax, 0); /* no XSAVE components */
	free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmm_guest_mem");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, gpa_bounds_are_overflow_safe);
	tcase_add_test(tc, bus_register_rejects_overlap_and_overflow);
	tcase_add_test(tc, cpuid_topology_and_policy);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
