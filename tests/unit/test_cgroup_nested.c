/*
 * The jail's VMM group nested in an OCI container's cgroup (cgroup_set_parent, cgroup v1):
 * where it is made, that the parent's memory counter includes its tasks, that its name stays
 * one VMM's across parents (the claim lock), and that jail_release_dead finds it from the run
 * dir's record. Real cgroups: skipped without root or a v1 memory hierarchy.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/cgroup.h"
#include "../../shim/jail.h"

#define MEM "/sys/fs/cgroup/memory"
#define PIDS "/sys/fs/cgroup/pids"

static char parent_rel[64], name[32];

static bool usable(void)
{
	return geteuid() == 0 && access(MEM "/memory.usage_in_bytes", F_OK) == 0 &&
	       access(PIDS "/cgroup.procs", F_OK) == 0 && !getenv("SANDBOX_CGROUP_ROOT");
}

static void setup(void)
{
	unsigned id = 3900000000u + (unsigned)getpid() % 1000000u;
	snprintf(parent_rel, sizeof(parent_rel), "/sbx-unit-nest-%d", (int)getpid());
	snprintf(name, sizeof(name), "vmm-%u", id);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), MEM "%s", parent_rel);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), PIDS "%s", parent_rel);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
}

static void teardown(void)
{
	char dir[PATH_MAX];
	cgroup_set_parent("");
	snprintf(dir, sizeof(dir), MEM "%s/%s", parent_rel, name);
	rmdir(dir);
	snprintf(dir, sizeof(dir), PIDS "%s/%s", parent_rel, name);
	rmdir(dir);
	snprintf(dir, sizeof(dir), MEM "%s", parent_rel);
	rmdir(dir);
	snprintf(dir, sizeof(dir), PIDS "%s", parent_rel);
	rmdir(dir);
	snprintf(dir, sizeof(dir), CGROUP_CLAIM_DIR "/%s", name);
	unlink(dir);
}

static long long read_ll(const char *dir, const char *file)
{
	char path[PATH_MAX];
	long long v = -1;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

START_TEST(nested_counts_in_parent_and_claims_name)
{
	if (!usable())
		return;
	setup();
	struct cgroup cg;
	struct sbx_err err = {0};
	const struct cgroup_limits lim = {.memory_bytes = 96ull << 20, .pids_max = 8};
	cgroup_set_parent(parent_rel);
	ck_assert_int_eq(cgroup_create(&cg, name, &lim, &err), 0);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), MEM "%s/%s", parent_rel, name);
	ck_assert_str_eq(cg.dirs[0], want);
	ck_assert_int_eq(read_ll(want, "memory.limit_in_bytes"), 96ll << 20);

	/* The same name under the default parent: someone else's while the claim is held. */
	cgroup_set_parent("");
	struct cgroup other;
	ck_assert_int_eq(cgroup_create(&other, name, &lim, &err), -EEXIST);
	snprintf(want, sizeof(want), MEM "/sandbox/%s", name);
	ck_assert_int_ne(access(want, F_OK), 0);

	/* A task of the nested group: 40 MiB touched show in the parent's counter. */
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (cgroup_join_self(&cg) < 0)
			_exit(1);
		char *p = mmap(NULL, 40u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		memset(p, 1, 40u << 20);
		close(go[0]);
		if (write(go[1], "r", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(go[1]);
	char c;
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), MEM "%s", parent_rel);
	ck_assert_int_gt(read_ll(parent, "memory.usage_in_bytes"), 32ll << 20);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(go[0]);

	cgroup_destroy(&cg);
	ck_assert_int_ne(access(cg.dirs[0], F_OK), 0);
	/* Released: the name is free again. */
	ck_assert_int_eq(cgroup_create(&other, name, &lim, &err), 0);
	cgroup_destroy(&other);
	teardown();
}
END_TEST

/* A run dir's record "vmm-<uid> <parent>": the dead owner's nested group is found and removed. */
START_TEST(release_dead_finds_nested)
{
	if (!usable())
		return;
	setup();
	struct cgroup cg;
	struct sbx_err err = {0};
	const struct cgroup_limits lim = {.memory_bytes = 64ull << 20, .pids_max = 8};
	cgroup_set_parent(parent_rel);
	ck_assert_int_eq(cgroup_create(&cg, name, &lim, &err), 0);
	char run_dir[] = "/tmp/sbx-unit-nest.XXXXXX", rec[PATH_MAX];
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	snprintf(rec, sizeof(rec), "%s/jail-cgroup", run_dir);

	/* A parent that climbs out is not followed. */
	FILE *f = fopen(rec, "w");
	fprintf(f, "%s /..%s\n", name, parent_rel);
	fclose(f);
	jail_release_dead(run_dir);
	ck_assert_int_eq(access(cg.dirs[0], F_OK), 0);

	f = fopen(rec, "w");
	fprintf(f, "%s %s\n", name, parent_rel);
	fclose(f);
	jail_release_dead(run_dir);
	ck_assert_int_ne(access(cg.dirs[0], F_OK), 0);
	ck_assert_int_ne(access(cg.dirs[1], F_OK), 0);
	ck_assert_int_ne(access(rec, F_OK), 0);
	cgroup_destroy(&cg); /* the claim; the directories are gone already */
	rmdir(run_dir);
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroup_nested");
	TCase *tc = tcase_create("v1");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, nested_counts_in_parent_and_claims_name);
	tcase_add_test(tc, release_dead_finds_nested);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
