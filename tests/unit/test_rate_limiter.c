/* Token buckets of microvm/rate_limiter.c against a fake clock. */
#include <check.h>
#include <stdlib.h>

#include "../../microvm/rate_limiter.h"

#define MS 1000000ull
#define S 1000000000ull

START_TEST(unlimited_always_passes)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 0, 0, 0);
	ck_assert(rate_limiter_unlimited(&rl));
	for (int i = 0; i < 100000; i++)
		ck_assert(rate_limiter_consume(&rl, 65536, 0));
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 1u << 30, 0), 0);
}
END_TEST

START_TEST(bytes_bucket_refills_at_rate)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 1000, 0, 5 * S); /* 1000 B/s, starts full */
	ck_assert(rate_limiter_consume(&rl, 600, 5 * S));
	ck_assert(rate_limiter_consume(&rl, 400, 5 * S));
	ck_assert(!rate_limiter_consume(&rl, 1, 5 * S)); /* empty */
	ck_assert_uint_eq(rl.throttled, 1);
	/* 1 byte per ms: 100 bytes need 100 ms. */
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 100, 5 * S), 100 * MS);
	ck_assert(!rate_limiter_consume(&rl, 100, 5 * S + 99 * MS));
	ck_assert(rate_limiter_consume(&rl, 100, 5 * S + 100 * MS));
	/* A long idle time refills to one second's worth, never more. */
	ck_assert(rate_limiter_consume(&rl, 1000, 60 * S));
	ck_assert(!rate_limiter_consume(&rl, 1, 60 * S));
}
END_TEST

START_TEST(packets_bucket_limits_independently)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 0, 10, 0); /* 10 packets/s, bytes unlimited */
	for (int i = 0; i < 10; i++)
		ck_assert(rate_limiter_consume(&rl, 60000, 0));
	ck_assert(!rate_limiter_consume(&rl, 1, 0));
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 1, 0), 100 * MS);
	ck_assert(rate_limiter_consume(&rl, 1, 100 * MS));
	ck_assert(!rate_limiter_consume(&rl, 1, 150 * MS));
}
END_TEST

START_TEST(both_buckets_must_agree)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 1000, 2, 0);
	ck_assert(rate_limiter_consume(&rl, 100, 0));
	ck_assert(rate_limiter_consume(&rl, 100, 0));
	/* Bytes left (800), packets not: nothing is taken from the byte bucket either. */
	ck_assert(!rate_limiter_consume(&rl, 100, 0));
	ck_assert_uint_eq(rl.bytes.nanotok, 800 * S);
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 100, 0), 500 * MS);
}
END_TEST

START_TEST(oversized_packet_passes_when_full)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 1000, 0, 0);
	/* 64 KiB at 1000 B/s could never fit: it passes with a full bucket and empties it. */
	ck_assert(rate_limiter_consume(&rl, 65536, 0));
	ck_assert(!rate_limiter_consume(&rl, 65536, 500 * MS));
	ck_assert_uint_eq(rate_limiter_wait_ns(&rl, 65536, 500 * MS), 500 * MS);
	ck_assert(rate_limiter_consume(&rl, 65536, 1 * S));
}
END_TEST

START_TEST(clock_going_backwards_is_harmless)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, 1000, 0, 10 * S);
	ck_assert(rate_limiter_consume(&rl, 1000, 10 * S));
	ck_assert(!rate_limiter_consume(&rl, 1, 9 * S));
	ck_assert(rate_limiter_consume(&rl, 1, 10 * S + 1 * MS));
}
END_TEST

START_TEST(huge_rates_are_clamped)
{
	struct rate_limiter rl;
	rate_limiter_init(&rl, ~0ull, ~0ull, 0);
	ck_assert_uint_eq(rl.bytes.rate, RATE_MAX);
	ck_assert(rate_limiter_consume(&rl, 1u << 30, 0));
	/* A sub-nanosecond refill still moves forward without overflow. */
	ck_assert(rate_limiter_consume(&rl, 1, 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rate_limiter");
	TCase *c = tcase_create("buckets");
	tcase_add_test(c, unlimited_always_passes);
	tcase_add_test(c, bytes_bucket_refills_at_rate);
	tcase_add_test(c, packets_bucket_limits_independently);
	tcase_add_test(c, both_buckets_must_agree);
	tcase_add_test(c, oversized_packet_passes_when_full);
	tcase_add_test(c, clock_going_backwards_is_harmless);
	tcase_add_test(c, huge_rates_are_clamped);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
