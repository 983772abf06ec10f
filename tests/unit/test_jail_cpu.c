/*
 * The jail's cpu limits (shim/jail.c, shim/cgroup.c) on the host's real cgroups, without a VM:
 * a quota lands in the VMM's own cpu group, that group weighs as the cpus its quota allows,
 * the shared "sandbox" parent weighs as the sum of its VMs (not as one thread for all of
 * them), and a quota the kernel would refuse is a one-line error that creates nothing.
 * Needs root, /dev/kvm and cgroups (skipped otherwise, with a SKIP line).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/jail.h"
#include "../../shim/run_opts.h"

static char run_dir[] = "/tmp/sbx-jail-cpu-test.XXXXXX";
static char dir2[PATH_MAX];
static bool v2;

static long long read_num(const char *dir, const char *file)
{
	char p[PATH_MAX + 64], v[64] = "";
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "r");
	ck_assert_msg(f != NULL, "cannot read %s", p);
	ck_assert_ptr_nonnull(fgets(v, sizeof(v), f));
	fclose(f);
	return strncmp(v, "max", 3) ? atoll(v) : -1;
}

static const char *weight_file(void)
{
	return v2 ? "cpu.weight" : "cpu.shares";
}

/* The jail's directory in the cpu hierarchy (v1: the third, v2: the only one). */
static const char *cpu_dir(const struct jail *j)
{
	return j->cg.dirs[v2 ? 0 : 2];
}

static void parent_of(const char *dir, char *out)
{
	snprintf(out, PATH_MAX, "%s", dir);
	*strrchr(out, '/') = '\0';
}

/* The sum of the weights of the parent's children, as shim/cgroup.c computes it. */
static long long children_sum(const char *parent)
{
	DIR *d = opendir(parent);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	long long sum = 0;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", parent, e->d_name);
		sum += read_num(p, weight_file());
	}
	closedir(d);
	return sum;
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	snprintf(dir2, sizeof(dir2), "%s/second", run_dir);
	ck_assert_int_eq(mkdir(dir2, 0700), 0);
	/* Ids nobody else on this machine uses (the integration tests take 3000000 + ...). */
	char base[32];
	snprintf(base, sizeof(base), "%u", 2000000u + (unsigned)(getpid() % 1000) * 65536u);
	setenv("SANDBOX_JAIL_UID_BASE", base, 1);
}

static void teardown(void)
{
	rmdir(dir2);
	rmdir(run_dir);
	unsetenv("SANDBOX_JAIL_UID_BASE");
}

START_TEST(quota_lands_in_the_vmm_group_and_the_parent_weighs_as_its_vms)
{
	struct jail a, b;
	struct sbx_err err = {0};
	struct jail_limits one = {
	    .memory_mib = 64, .cpu_quota_us = 100000, .cpu_period_us = 100000};
	/* 1.5 cpus: weighs as two. */
	struct jail_limits more = {.memory_mib = 64, .cpu_quota_us = 75000, .cpu_period_us = 50000};
	ck_assert_msg(jail_prepare_limits(&a, run_dir, &one, &err) == 0, "%s", err.msg);
	ck_assert_msg(jail_prepare_limits(&b, dir2, &more, &err) == 0, "%s", err.msg);
	const unsigned unit = v2 ? CGROUP_V2_WEIGHT_PER_CPU : CGROUP_V1_SHARES_PER_CPU;
	if (v2) {
		char p[PATH_MAX + 16], v[64] = "";
		snprintf(p, sizeof(p), "%s/cpu.max", cpu_dir(&b));
		FILE *f = fopen(p, "r");
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(v, sizeof(v), f));
		fclose(f);
		ck_assert_str_eq(v, "75000 50000\n");
	} else {
		ck_assert_int_eq(read_num(cpu_dir(&a), "cpu.cfs_quota_us"), 100000);
		ck_assert_int_eq(read_num(cpu_dir(&a), "cpu.cfs_period_us"), 100000);
		ck_assert_int_eq(read_num(cpu_dir(&b), "cpu.cfs_quota_us"), 75000);
		ck_assert_int_eq(read_num(cpu_dir(&b), "cpu.cfs_period_us"), 50000);
	}
	ck_assert_int_eq(read_num(cpu_dir(&a), weight_file()), unit);
	ck_assert_int_eq(read_num(cpu_dir(&b), weight_file()), 2 * unit);
	char parent[PATH_MAX], dir_b[PATH_MAX];
	parent_of(cpu_dir(&a), parent);
	snprintf(dir_b, sizeof(dir_b), "%s", cpu_dir(&b));
	long long with_both = read_num(parent, weight_file());
	fprintf(stderr, "parent %s: %lld with both (children sum %lld)\n", weight_file(), with_both,
		children_sum(parent));
	ck_assert_int_ge(with_both, 3 * unit);
	ck_assert_int_eq(with_both, children_sum(parent));
	jail_release(&b);
	ck_assert_int_ne(access(dir_b, F_OK), 0);
	long long with_one = read_num(parent, weight_file());
	fprintf(stderr, "parent %s: %lld after one release\n", weight_file(), with_one);
	ck_assert_int_eq(with_one, children_sum(parent) < unit ? unit : children_sum(parent));
	ck_assert_int_le(with_one, with_both - 2 * unit);
	jail_release(&a);
}
END_TEST

START_TEST(no_quota_no_cpu_group_on_v1)
{
	struct jail j;
	struct sbx_err err = {0};
	ck_assert_msg(jail_prepare(&j, run_dir, 64, &err) == 0, "%s", err.msg);
	/* v1: an unquota'd VMM stays in its caller's cpu group, weighing as its own threads. */
	ck_assert_uint_eq(j.cg.ndirs, v2 ? 1 : 2);
	jail_release(&j);
}
END_TEST

START_TEST(bad_quota_is_one_line_and_creates_nothing)
{
	static const struct jail_limits bad[] = {
	    {.memory_mib = 64, .cpu_quota_us = 999, .cpu_period_us = 100000},
	    {.memory_mib = 64, .cpu_quota_us = 100000, .cpu_period_us = 999},
	    {.memory_mib = 64, .cpu_quota_us = 100000, .cpu_period_us = 1000001},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jail j;
		struct sbx_err err = {0};
		ck_assert_int_eq(jail_prepare_limits(&j, run_dir, &bad[i], &err), -EINVAL);
		fprintf(stderr, "%s\n", err.msg);
		ck_assert_msg(strstr(err.msg, "cpu") && !strchr(err.msg, '\n'), "%s", err.msg);
		ck_assert_uint_eq(j.cg.ndirs, 0);
		jail_release(&j);
		char p[PATH_MAX + 8];
		snprintf(p, sizeof(p), "%s/jail", run_dir);
		ck_assert_int_ne(access(p, F_OK), 0);
	}
}
END_TEST

/* `run --cpus N`: N cpus of quota per 100 ms (docker's meaning); no --cpus, no quota. */
START_TEST(cpus_option_sets_the_quota)
{
	struct run_opts o;
	struct sbx_err err = {0};
	char *with[] = {"run", "--cpus", "2", "--rootfs", "/r", "--", "true", NULL};
	ck_assert_msg(run_opts_parse(&o, 7, with, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(o.cpus, 2);
	ck_assert_uint_eq(o.cpu_quota_us, 200000);
	ck_assert_uint_eq(o.cpu_period_us, 100000);
	char *without[] = {"run", "--rootfs", "/r", "--", "true", NULL};
	ck_assert_msg(run_opts_parse(&o, 5, without, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(o.cpu_quota_us, 0);
}
END_TEST

int main(void)
{
	struct stat st;
	{
		Suite *s = suite_create("jail_cpu_opts");
		TCase *tc = tcase_create("opts");
		tcase_add_test(tc, cpus_option_sets_the_quota);
		suite_add_tcase(s, tc);
		SRunner *sr = srunner_create(s);
		srunner_run_all(sr, CK_NORMAL);
		int failed = srunner_ntests_failed(sr);
		srunner_free(sr);
		if (failed)
			return EXIT_FAILURE;
	}
	if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) != 0 ||
	    (stat("/sys/fs/cgroup/cpu", &st) != 0 &&
	     stat("/sys/fs/cgroup/cgroup.controllers", &st) != 0)) {
		fprintf(stderr, "SKIP: test_jail_cpu needs root, /dev/kvm and cgroups\n");
		return 0;
	}
	v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
	Suite *s = suite_create("jail_cpu");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, quota_lands_in_the_vmm_group_and_the_parent_weighs_as_its_vms);
	tcase_add_test(tc, no_quota_no_cpu_group_on_v1);
	tcase_add_test(tc, bad_quota_is_one_line_and_creates_nothing);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
