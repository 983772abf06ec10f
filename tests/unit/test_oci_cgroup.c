/* Unit tests for linux.cgroupsPath parsing and the cpu.shares conversion (shim/oci_cgroup.c). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "../../shim/oci_cgroup.h"
#include "../../shim/oci_security.h"

static void expect_path(const char *in, bool systemd, const char *want)
{
	char out[PATH_MAX];
	struct sbx_err err = {0};
	ck_assert_msg(oci_cgroup_path(in, systemd, out, sizeof(out), &err) == 0, "%s: %s", in,
		      err.msg);
	ck_assert_str_eq(out, want);
}

static void expect_bad(const char *in, bool systemd)
{
	char out[PATH_MAX];
	struct sbx_err err = {0};
	ck_assert_msg(oci_cgroup_path(in, systemd, out, sizeof(out), &err) < 0, "%s accepted", in);
	ck_assert(err.msg[0] != '\0');
}

START_TEST(cgroupfs_paths)
{
	expect_path(NULL, false, "");
	expect_path("", false, "");
	expect_path("/default/c1", false, "/default/c1");
	expect_path("/libpod_parent/libpod-abc/", false, "/libpod_parent/libpod-abc");
	expect_path("k8s/pod1", false, "/k8s/pod1"); /* relative: from the root */
	expect_bad("/a/../../etc", false);
	expect_bad("/a/./b", false);
	expect_bad("/", false);
	expect_bad("/a b", false);
	expect_bad("/a\nb", false);
}
END_TEST

START_TEST(systemd_paths)
{
	expect_path("machine.slice:libpod:abc", false, "/machine.slice/libpod-abc.scope");
	expect_path("user-1000.slice:crio:x", true, "/user.slice/user-1000.slice/crio-x.scope");
	expect_path(":cri:y", true, "/system.slice/cri-y.scope");
	expect_path("-.slice:p:z", true, "/p-z.scope");
	expect_bad("/default/c1", true); /* --systemd-cgroup wants slice:prefix:name */
	expect_bad("machine:libpod:abc", true);
	expect_bad("a--b.slice:p:n", true);
	expect_bad("machine.slice:p:../x", true);
	expect_bad("machine.slice:p:", true);
}
END_TEST

START_TEST(shares_to_weight)
{
	ck_assert_uint_eq(oci_cpu_shares_to_weight(0), 0);
	ck_assert_uint_eq(oci_cpu_shares_to_weight(2), 1);
	ck_assert_uint_eq(oci_cpu_shares_to_weight(1), 1);
	ck_assert_uint_eq(oci_cpu_shares_to_weight(1024), 39);
	ck_assert_uint_eq(oci_cpu_shares_to_weight(262144), 10000);
	ck_assert_uint_eq(oci_cpu_shares_to_weight(1u << 30), 10000);
}
END_TEST

START_TEST(resources_to_run)
{
	struct oci_resources res = {.memory_limit = 64 << 20,
				    .memory_reservation = 32 << 20,
				    .memory_swap = 96 << 20,
				    .cpu_quota = 50000,
				    .cpu_shares = 1024};
	struct sbx_cgroup_limits c;
	struct sbx_err err = {0};
	ck_assert_int_eq(oci_cgroup_to_run(&res, &c, &err), 0);
	ck_assert_uint_eq(c.memory_max, 64 << 20);
	ck_assert_uint_eq(c.memory_low, 32 << 20);
	ck_assert_uint_eq(c.swap_max, 32 << 20);
	ck_assert_uint_eq(c.cpu_quota_us, 50000);
	ck_assert_uint_eq(c.cpu_period_us, 100000);
	ck_assert_uint_eq(c.cpu_weight, 39);
	res.memory_swap = -1;
	ck_assert_int_eq(oci_cgroup_to_run(&res, &c, &err), 0);
	ck_assert_uint_eq(c.swap_max, UINT64_MAX);
	res.cpu_period = 10;
	ck_assert_int_eq(oci_cgroup_to_run(&res, &c, &err), -EINVAL);
	ck_assert(strstr(err.msg, "cpu.period") != NULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("oci_cgroup");
	TCase *c = tcase_create("core");
	tcase_add_test(c, cgroupfs_paths);
	tcase_add_test(c, systemd_paths);
	tcase_add_test(c, shares_to_weight);
	tcase_add_test(c, resources_to_run);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
