/*
 * `sandbox run -v`: host directories in the container over virtio-fs (virtiofsd + our
 * vhost-user front end). Two VM runs: one checks reads, writes landing on the host, a read-only
 * share and clean teardown; one checks that a SIGKILLed `sandbox` leaves no virtiofsd and no
 * socket. Bad -v values are checked without a VM.
 */
#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-fsrun.XXXXXX";
static char share[] = "/tmp/sandbox-test-share.XXXXXX";

#define SBX(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "run", h_mode(), "--rootfs", h_path("rootfs-busybox"),          \
		    __VA_ARGS__, NULL                                                              \
	}

static int ours_running(void)
{
	return h_count_procs_mentioning("virtiofsd", share) + h_count_vmms_using(run_root);
}

/* Sockets anywhere under dir (one level of run directories). */
static int count_sockets(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char sub[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		DIR *s = opendir(sub);
		struct dirent *f;
		while (s && (f = readdir(s))) {
			char path[8192];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", sub, f->d_name);
			if (strstr(f->d_name, "fs") == f->d_name && lstat(path, &st) == 0 &&
			    S_ISSOCK(st.st_mode))
				n++;
		}
		if (s)
			closedir(s);
	}
	if (d)
		closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(test_share_read_write_readonly)
{
	char rw[4200], ro[4200], vrw[4300], vro[4300], path[4300], buf[256];
	snprintf(rw, sizeof(rw), "%s/rw", share);
	snprintf(ro, sizeof(ro), "%s/ro", share);
	ck_assert_int_eq(mkdir(rw, 0755), 0);
	ck_assert_int_eq(mkdir(ro, 0755), 0);
	snprintf(path, sizeof(path), "%s/in.txt", rw);
	write_file(path, "written-on-host\n");
	snprintf(path, sizeof(path), "%s/keep.txt", ro);
	write_file(path, "read-only-content\n");
	snprintf(vrw, sizeof(vrw), "%s:/data", rw);
	snprintf(vro, sizeof(vro), "%s:/srv/ro:ro", ro);

	struct cmd_result r;
	h_run(h_argv(SBX("-v", vrw, "-v", vro, "--", "sh", "-c",
			 "cat /data/in.txt; echo from-guest-$((6*7)) > /data/out.txt; "
			 "mkdir /data/sub && echo deep > /data/sub/f; "
			 "if echo x > /srv/ro/x; then echo RO-WRITABLE; else echo ro-refused; fi; "
			 "cat /srv/ro/keep.txt; grep -c virtiofs /proc/mounts")),
	      &r);
	h_show("share", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "written-on-host\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "ro-refused\n"));
	ck_assert_ptr_null(strstr(r.out, "RO-WRITABLE"));
	ck_assert_ptr_nonnull(strstr(r.out, "read-only-content\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "\n2\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "Read-only file system"));
	/* The guest's writes are on the host, with the right content. */
	snprintf(path, sizeof(path), "%s/out.txt", rw);
	ck_assert_ptr_nonnull(read_file(path, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "from-guest-42\n");
	snprintf(path, sizeof(path), "%s/sub/f", rw);
	ck_assert_ptr_nonnull(read_file(path, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "deep\n");
	snprintf(path, sizeof(path), "%s/x", ro);
	ck_assert_int_ne(access(path, F_OK), 0);
	h_free(&r);
	ck_assert_msg(ours_running() == 0, "a virtiofsd or VMM of ours is still running");
	ck_assert_msg(h_count_entries(run_root) == 0, "state left behind in %s", run_root);
}
END_TEST

START_TEST(test_sigkill_leaves_no_daemon_or_socket)
{
	char dir[4200], v[4300];
	snprintf(dir, sizeof(dir), "%s/killed", share);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(v, sizeof(v), "%s:/data", dir);
	struct cmd_result r;
	h_run_full(h_argv(SBX("-v", v, "--", "sh", "-c", "ls /data; echo ready; sleep 600")), NULL,
		   0, "ready", SIGKILL, &r);
	h_show("sigkill", &r);
	ck_assert_int_eq(r.status, 128 + SIGKILL);
	/* PR_SET_PDEATHSIG reaches the VMM and virtiofsd (whose own child follows it). */
	int left = -1;
	for (int i = 0; i < 100 && (left = ours_running()) != 0; i++)
		usleep(100 * 1000);
	ck_assert_msg(left == 0, "%d virtiofsd/VMM processes of ours survived SIGKILL", left);
	ck_assert_int_eq(count_sockets(run_root), 0);
	h_free(&r);
}
END_TEST

/* Each bad -v value: exit 125, one line naming it, nothing started or left. */
START_TEST(test_bad_volumes_refused)
{
	char file[4200], too_many[5][4300];
	snprintf(file, sizeof(file), "%s/plain-file", share);
	write_file(file, "x");
	char fv[4300];
	snprintf(fv, sizeof(fv), "%s:/x", file);
	const struct {
		const char *v, *msg;
	} cases[] = {
	    {"relative:/x", "absolute path"}, {"/nonexistent-sbx-dir:/x", "No such file"},
	    {fv, "not a directory"},	      {"/tmp:relative", "must be absolute"},
	    {"/tmp:/a/../b", "'..'"},	      {"/tmp:/", "root"},
	    {"/tmp:/x:rx", "unknown mode"},   {"/tmp", "HOSTDIR:CONTAINERDIR"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cmd_result r;
		h_run(h_argv(SBX("-v", (char *)cases[i].v, "--", "true")), &r);
		ck_assert_msg(r.status == 125, "-v %s: status %d", cases[i].v, r.status);
		ck_assert_msg(strstr(r.err, cases[i].msg) != NULL, "-v %s: stderr '%s'", cases[i].v,
			      r.err);
		ck_assert_msg(strchr(r.err, '\n') == r.err + r.err_len - 1,
			      "-v %s: not one line: %s", cases[i].v, r.err);
		h_free(&r);
	}
	for (int i = 0; i < 5; i++)
		snprintf(too_many[i], sizeof(too_many[i]), "/tmp:/m%d", i);
	struct cmd_result r;
	h_run(h_argv(SBX("-v", too_many[0], "-v", too_many[1], "-v", too_many[2], "-v", too_many[3],
			 "-v", too_many[4], "--", "true")),
	      &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "too many -v"));
	h_free(&r);
	ck_assert_int_eq(ours_running(), 0);
	ck_assert_int_eq(h_count_entries(run_root), 0);
}
END_TEST

static Suite *fs_suite(void)
{
	Suite *s = suite_create("virtiofs");
	TCase *args = tcase_create("args");
	tcase_add_test(args, test_bad_volumes_refused);
	suite_add_tcase(s, args);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 900);
	tcase_add_test(vm, test_share_read_write_readonly);
	tcase_add_test(vm, test_sigkill_leaves_no_daemon_or_socket);
	suite_add_tcase(s, vm);
	return s;
}

int main(void)
{
	h_require_kvm();
	if (access("/usr/lib/qemu/virtiofsd", X_OK) != 0 && !getenv("SANDBOX_VIRTIOFSD")) {
		fprintf(stderr, "SKIP: no /usr/lib/qemu/virtiofsd (qemu-system-common)\n");
		return 77;
	}
	if (!mkdtemp(run_root) || !mkdtemp(share)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	h_template_dir_init();
	SRunner *sr = srunner_create(fs_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", run_root, share);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s %s\n", run_root, share);
	h_template_dir_done();
	return failed ? 1 : 0;
}
