/*
 * The VMM jail (shim/jail.[ch], shim/cgroup.c) without a VM: a child enters a real jail and
 * reports what it can see and do; the parent checks the report and that jail_release leaves
 * nothing behind. Needs root and /dev/kvm (skipped otherwise, with a SKIP line).
 */
#include <cap-ng.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/jail.h"

static char run_dir[] = "/tmp/sbx-jail-test.XXXXXX";
static char file_ro[PATH_MAX], file_rw[PATH_MAX];

struct report {
	int step_err; /* jail_enter's result */
	char what[96];
	uid_t uid, euid;
	pid_t pid;
	int nnp, caps_none;
	int kvm_open_errno; /* 0: /dev/kvm opened read-write */
	int etc_errno;	    /* opening /etc/passwd */
	int ro_write_errno; /* opening the read-only bind for writing */
	int rw_write_errno;
	rlim_t core, nofile;
	char root[256]; /* entries of / */
};

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	snprintf(file_ro, sizeof(file_ro), "%s/kernel", run_dir);
	snprintf(file_rw, sizeof(file_rw), "%s/serial.log", run_dir);
	FILE *f = fopen(file_ro, "w");
	ck_assert_ptr_nonnull(f);
	fputs("vmlinux", f);
	fclose(f);
	ck_assert_int_eq(chmod(file_ro, 0666), 0); /* only the read-only bind stops a write */
}

static void teardown(void)
{
	unlink(file_ro);
	unlink(file_rw);
	rmdir(run_dir);
}

static void list_root(char *out, size_t cap)
{
	DIR *d = opendir("/");
	struct dirent *e;
	out[0] = '\0';
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(out) + strlen(e->d_name) + 2 < cap)
			strcat(strcat(out, e->d_name), " ");
	if (d)
		closedir(d);
}

static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void child_report(const struct jail *j, int wfd)
{
	struct report r = {0};
	const char *what = "";
	r.step_err = jail_enter(j, &what);
	snprintf(r.what, sizeof(r.what), "%s", what);
	if (r.step_err == 0) {
		r.uid = getuid();
		r.euid = geteuid();
		r.pid = getpid();
		r.nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
		capng_get_caps_process();
		r.caps_none = capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE;
		r.kvm_open_errno = open_errno("/dev/kvm", O_RDWR);
		r.etc_errno = open_errno("/etc/passwd", O_RDONLY);
		r.ro_write_errno = open_errno("/vmlinux", O_WRONLY);
		r.rw_write_errno = open_errno("/serial", O_WRONLY);
		struct rlimit rl;
		getrlimit(RLIMIT_CORE, &rl);
		r.core = rl.rlim_cur;
		getrlimit(RLIMIT_NOFILE, &rl);
		r.nofile = rl.rlim_cur;
		list_root(r.root, sizeof(r.root));
	}
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	_exit(0);
}

START_TEST(child_sees_only_its_jail_and_has_no_privileges)
{
	struct jail j;
	struct sbx_err err = {0};
	ck_assert_msg(jail_prepare(&j, run_dir, 64, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(jail_bind(&j, file_ro, "vmlinux", JAIL_RO, &err));
	ck_assert_str_eq(jail_bind(&j, file_rw, "serial", JAIL_RW | JAIL_CREATE, &err), "/serial");
	struct stat st;
	ck_assert_int_eq(stat(file_rw, &st), 0);
	ck_assert_uint_eq(st.st_uid, j.uid); /* created by us, so given to the jail */
	char cg[PATH_MAX];
	snprintf(cg, sizeof(cg), "%s", j.cg.dirs[0]);
	ck_assert_int_eq(access(cg, F_OK), 0);

	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = jail_clone();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		child_report(&j, p[1]);
	}
	close(p[1]);
	struct report r;
	ck_assert_int_eq(read(p[0], &r, sizeof(r)), sizeof(r));
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	jail_release(&j);

	ck_assert_msg(r.step_err == 0, "jail_enter failed at '%s': %s", r.what,
		      strerror(-r.step_err));
	ck_assert_uint_ge(r.uid, JAIL_UID_BASE_DEFAULT);
	ck_assert_uint_eq(r.euid, r.uid);
	ck_assert_int_eq(r.pid, 1); /* pid 1 of its own pid namespace */
	ck_assert_int_eq(r.nnp, 1);
	ck_assert(r.caps_none);
	ck_assert_msg(r.kvm_open_errno == 0, "/dev/kvm: %s", strerror(r.kvm_open_errno));
	ck_assert_int_eq(r.etc_errno, ENOENT);
	ck_assert_int_eq(r.ro_write_errno, EROFS);
	ck_assert_int_eq(r.rw_write_errno, 0);
	ck_assert_uint_eq(r.core, 0);
	ck_assert_uint_eq(r.nofile, JAIL_NOFILE);
	ck_assert_msg(strstr(r.root, "dev ") && strstr(r.root, "proc ") &&
			  strstr(r.root, "sock ") && strstr(r.root, "vmlinux ") &&
			  strstr(r.root, "serial "),
		      "root: %s", r.root);
	ck_assert_uint_eq(strlen(r.root), strlen("dev proc sock vmlinux serial "));
	/* Released: the cgroup and the jail's root directory are gone. */
	ck_assert_int_ne(access(cg, F_OK), 0);
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/jail", run_dir);
	ck_assert_int_ne(access(root, F_OK), 0);
}
END_TEST

START_TEST(bad_inputs_are_named)
{
	struct jail j;
	struct sbx_err err = {0};
	setenv("SANDBOX_JAIL_UID_BASE", "0", 1);
	ck_assert_int_lt(jail_prepare(&j, run_dir, 64, &err), 0);
	ck_assert_msg(strstr(err.msg, "SANDBOX_JAIL_UID_BASE '0'"), "%s", err.msg);
	jail_release(&j);
	setenv("SANDBOX_JAIL_UID_BASE", "12x", 1);
	ck_assert_int_lt(jail_prepare(&j, run_dir, 64, &err), 0);
	unsetenv("SANDBOX_JAIL_UID_BASE");
	jail_release(&j);

	ck_assert_msg(jail_prepare(&j, run_dir, 64, &err) == 0, "%s", err.msg);
	ck_assert_ptr_null(jail_bind(&j, "/nonexistent/file", "x", JAIL_RO, &err));
	ck_assert_msg(strstr(err.msg, "/nonexistent/file"), "%s", err.msg);
	ck_assert_ptr_null(jail_bind(&j, file_ro, "../escape", JAIL_RO, &err));
	ck_assert_ptr_null(jail_bind(&j, file_ro, "dir", JAIL_DIR, &err));
	ck_assert_msg(strstr(err.msg, "not a directory"), "%s", err.msg);
	jail_release(&j);
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/jail", run_dir);
	ck_assert_int_ne(access(root, F_OK), 0);
}
END_TEST

START_TEST(each_jail_gets_its_own_uid)
{
	struct jail a, b;
	struct sbx_err err = {0};
	char dir2[PATH_MAX];
	snprintf(dir2, sizeof(dir2), "%s/second", run_dir);
	ck_assert_int_eq(mkdir(dir2, 0700), 0);
	ck_assert_msg(jail_prepare(&a, run_dir, 64, &err) == 0, "%s", err.msg);
	ck_assert_msg(jail_prepare(&b, dir2, 64, &err) == 0, "%s", err.msg);
	ck_assert_uint_ne(a.uid, b.uid);
	jail_release(&a);
	jail_release(&b);
	rmdir(dir2);
}
END_TEST

int main(void)
{
	if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) != 0) {
		fprintf(stderr, "SKIP: test_jail needs root and /dev/kvm\n");
		return 0;
	}
	Suite *s = suite_create("jail");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, child_sees_only_its_jail_and_has_no_privileges);
	tcase_add_test(tc, bad_inputs_are_named);
	tcase_add_test(tc, each_jail_gets_its_own_uid);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
