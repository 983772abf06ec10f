/*
 * Run directories (shim/rundir.[ch]): each names its owner, and the next start sweeps those
 * whose owner died (a SIGKILLed `sandbox`) but nothing that may still be in use: a live
 * owner's, a young ownerless one (being created), an old one with a listening socket (an
 * older sandbox still running), and an OCI container's state dir in the same root.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "../../shim/oci_state.h"
#include "../../shim/rundir.h"

static char root[] = "/tmp/sbx-rundir-test.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(root));
	setenv("SANDBOX_RUN_ROOT", root, 1);
}

static void teardown(void)
{
	rmtree(root);
	strcpy(root + strlen(root) - 6, "XXXXXX");
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* <root>/<name>, its mtime moved age_s into the past. */
static char *make_dir(const char *name, int age_s)
{
	static char bufs[16][PATH_MAX];
	static int k;
	char *p = bufs[k++ % 16];
	snprintf(p, PATH_MAX, "%s/%s", root, name);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	put(p, "rootfs.erofs", "x");
	struct utimbuf t = {.actime = time(NULL) - age_s, .modtime = time(NULL) - age_s};
	ck_assert_int_eq(utime(p, &t), 0);
	return p;
}

/* A pid that has exited (reaped), with the start time it had. */
static void dead_owner(char *out, size_t cap)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[0]);
	unsigned long long start = oci_pid_start_time(pid);
	ck_assert_uint_ne(start, 0);
	close(pfd[1]);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	snprintf(out, cap, "%d %llu\n", (int)pid, start);
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

START_TEST(create_names_its_owner_and_remove_cleans_up)
{
	struct rundir d;
	struct sbx_err err = {0};
	ck_assert_int_eq(rundir_create(&d, &err), 0);
	char p[PATH_MAX], want[64], got[64] = "";
	rundir_file(&d, "owner", p);
	FILE *f = fopen(p, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
	fclose(f);
	snprintf(want, sizeof(want), "%d %llu\n", (int)getpid(), oci_pid_start_time(getpid()));
	ck_assert_str_eq(got, want);
	/* Our own, live: another start leaves it alone. */
	rundir_sweep_dead(root);
	ck_assert(exists(d.path));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", d.path);
	rundir_remove(&d);
	ck_assert(!exists(path));
}
END_TEST

START_TEST(sweep_removes_only_dead_owners_dirs)
{
	char owner[64];
	dead_owner(owner, sizeof(owner));
	char *dead = make_dir("0123456789ab", 0);
	put(dead, "owner", owner);
	char *dead_garbled = make_dir("0123456789ac", 0);
	put(dead_garbled, "owner", "not a pid");
	char *live = make_dir("0123456789ad", 3600);
	snprintf(owner, sizeof(owner), "%d %llu\n", (int)getpid(), oci_pid_start_time(getpid()));
	put(live, "owner", owner);
	/* Our pid, another start time: the pid was reused, the owner is dead. */
	char *reused = make_dir("0123456789ae", 0);
	snprintf(owner, sizeof(owner), "%d %llu\n", (int)getpid(),
		 oci_pid_start_time(getpid()) + 1);
	put(reused, "owner", owner);
	char *young = make_dir("0123456789af", 5);  /* ownerless, being created */
	char *old = make_dir("0123456789b0", 3600); /* ownerless, nobody listens */
	char *oci = make_dir("0123456789b1", 3600); /* an OCI container's state */
	put(oci, "state.json", "{}");
	char *other = make_dir("not-a-run-id", 3600);	  /* not ours to judge */
	char *listening = make_dir("0123456789b2", 3600); /* ownerless, a sandbox listens */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vsock.sock_1024", listening);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	struct utimbuf t = {.actime = time(NULL) - 3600, .modtime = time(NULL) - 3600};
	ck_assert_int_eq(utime(listening, &t), 0);

	rundir_sweep_dead(root);
	ck_assert_msg(!exists(dead), "a dead owner's run dir was kept");
	ck_assert_msg(!exists(dead_garbled), "a garbled owner file was kept");
	ck_assert_msg(!exists(reused), "a reused pid was taken for the owner");
	ck_assert_msg(!exists(old), "an old ownerless run dir was kept");
	ck_assert_msg(exists(live), "a live owner's run dir was removed");
	ck_assert_msg(exists(young), "a run dir being created was removed");
	ck_assert_msg(exists(oci), "an OCI container's state dir was removed");
	ck_assert_msg(exists(other), "a dir not named like a run id was removed");
	ck_assert_msg(exists(listening), "a run dir with a listening socket was removed");
	close(s);
}
END_TEST

START_TEST(create_sweeps_first)
{
	char owner[64];
	dead_owner(owner, sizeof(owner));
	char *dead = make_dir("00000000000a", 0);
	put(dead, "owner", owner);
	struct rundir d;
	struct sbx_err err = {0};
	ck_assert_int_eq(rundir_create(&d, &err), 0);
	ck_assert(!exists(dead));
	rundir_remove(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rundir");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, create_names_its_owner_and_remove_cleans_up);
	tcase_add_test(tc, sweep_removes_only_dead_owners_dirs);
	tcase_add_test(tc, create_sweeps_first);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
