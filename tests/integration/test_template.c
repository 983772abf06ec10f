/*
 * VM templates end to end (docs/templates.md): clones of one template differ in what must be
 * unique (RNG, hostname, vsock CID), a template whose inputs changed is never used, and a
 * build killed halfway leaves the old template intact and nothing half-made.
 */
#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-run.XXXXXX";
static char work[] = "/tmp/sandbox-test-tmplwork.XXXXXX";

static char *tdir(void);

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_vmms_using(run_root) == 0 && h_count_vmms_using(tdir()) == 0,
		      "a sandbox-vmm process of ours was left running");
	ck_assert_msg(h_count_entries(run_root) == 0, "state left behind in %s", run_root);
}

static char *tdir(void)
{
	return getenv("SANDBOX_TEMPLATE_DIR");
}

/* Template directories (full keys) currently in the store. */
static int count_templates(void)
{
	DIR *d = opendir(tdir());
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strlen(e->d_name) == 64 && strspn(e->d_name, "0123456789abcdef") == 64;
	if (d)
		closedir(d);
	return n;
}

static int count_prefixed(const char *prefix)
{
	DIR *d = opendir(tdir());
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

static void template_ls(struct cmd_result *r)
{
	h_run((char *const[]){h_path("sandbox"), "template", "ls", NULL}, r);
	fprintf(stderr, "[ls]\n%s", r->out);
	ck_assert_int_eq(r->status, 0);
}

/* Value after "<key>=" on its own line of text. */
static void field(const char *text, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "%s=", key);
	const char *p = strstr(text, pat);
	ck_assert_msg(p != NULL, "no %s in '%s'", key, text);
	p += strlen(pat);
	size_t n = strcspn(p, "\n");
	ck_assert_uint_lt(n, cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* One `sandbox run ... true`, which must succeed (and builds the template if there is none). */
static void run_true(void)
{
	struct cmd_result r;
	h_run((char *const[]){h_path("sandbox"), "run", "--rootfs", h_path("rootfs-busybox"), "--",
			      "true", NULL},
	      &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
}

/* Runs inside sh -c '...' (no single quotes); one KEY=value line per thing that must differ. */
#define PROBE                                                                                      \
	"echo CID=$SANDBOX_VSOCK_CID; echo RND=$(head -c 16 /dev/urandom | od -An -x | tr -d \" "  \
	"\\n\"); "                                                                                 \
	"echo HOST=$(hostname); echo YEAR=$(date +%Y)"

START_TEST(test_clones_differ)
{
	/* Two sandboxes at once from one template (built first if the store has none). */
	run_true();
	struct cmd_result r;
	int before = count_templates();
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "%s run --rootfs %s -- sh -c '%s' >%s/a 2>&1 & "
		 "%s run --rootfs %s -- sh -c '%s' >%s/b 2>&1; wait",
		 h_path("sandbox"), h_path("rootfs-busybox"), PROBE, work, h_path("sandbox"),
		 h_path("rootfs-busybox"), PROBE, work);
	h_run((char *const[]){"/bin/sh", "-c", cmd, NULL}, &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	char pa[600], pb[600], a[4096] = "", b[4096] = "";
	snprintf(pa, sizeof(pa), "%s/a", work);
	snprintf(pb, sizeof(pb), "%s/b", work);
	FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
	ck_assert(fa && fb);
	ck_assert(fread(a, 1, sizeof(a) - 1, fa) > 0 && fread(b, 1, sizeof(b) - 1, fb) > 0);
	fclose(fa);
	fclose(fb);
	fprintf(stderr, "[clone a]\n%s[clone b]\n%s", a, b);
	ck_assert_msg(!strstr(a, "building") && !strstr(b, "building"), "clones built a template");
	const char *keys[] = {"CID", "RND", "HOST"};
	for (size_t i = 0; i < 3; i++) {
		char va[256], vb[256];
		field(a, keys[i], va, sizeof(va));
		field(b, keys[i], vb, sizeof(vb));
		ck_assert_msg(va[0] && strcmp(va, vb), "%s equal in both clones: '%s'", keys[i],
			      va);
	}
	char year[16];
	field(a, "YEAR", year, sizeof(year));
	ck_assert_int_ge(atoi(year), 2024);	     /* the wall clock was set, not 1970 */
	ck_assert_int_eq(count_templates(), before); /* the clones built nothing */
	template_ls(&r);
	ck_assert_ptr_nonnull(strstr(r.out, " yes"));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* Seconds since the newest template in the store was written (-1: none). */
static long newest_template_age(void)
{
	DIR *d = opendir(tdir());
	struct dirent *e;
	time_t newest = 0;
	while (d && (e = readdir(d))) {
		struct stat st;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", tdir(), e->d_name);
		if (strlen(e->d_name) == 64 && stat(p, &st) == 0 && st.st_mtime > newest)
			newest = st.st_mtime;
	}
	if (d)
		closedir(d);
	return newest ? (long)(time(NULL) - newest) : -1;
}

/*
 * A clone resumes with its guest clock as far ahead as the template is old (on kvm_pvm the
 * guest's TSC is the host's). Past the RCU stall timeout (21 s), the guest took the jump for a
 * stalled grace period and dumped every stack on every run, unless the VMM tells it the host
 * had paused it (KVM_KVMCLOCK_CTRL, docs/snapshot.md).
 */
START_TEST(test_old_template_resumes_quietly)
{
	run_true();
	struct cmd_result r;
	long age = newest_template_age();
	ck_assert_int_ge(age, 0);
	if (age < 30)
		sleep((unsigned)(30 - age));
	h_run((char *const[]){h_path("sandbox"), "run", "--rootfs", h_path("rootfs-busybox"), "--",
			      "dmesg", NULL},
	      &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "Run /init"), "no kernel log read: '%s'", r.out);
	/* Both RCU reports ("self-detected stall", "detected stalls"); a bare "stall" would also
	 * match words such as "installed". */
	const char *stall = strstr(r.out, "detected stall");
	ck_assert_msg(!stall, "the restored guest reported a stall: '%.*s'",
		      (int)strcspn(stall ? stall : "", "\n"), stall ? stall : "");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_stale_template_rebuilt)
{
	/* A copy of the initramfs: touched only, the content (and key) is the same: no rebuild. */
	char initrd[600], cmd[2048];
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio", work);
	snprintf(cmd, sizeof(cmd), "cp %s %s && touch %s", h_path("initramfs.cpio"), initrd,
		 initrd);
	ck_assert_int_eq(system(cmd), 0);
	int before = count_templates();
	struct cmd_result r;
	h_run((char *const[]){h_path("sandbox"), "run", "--initrd", initrd, "--rootfs",
			      h_path("rootfs-busybox"), "--", "echo", "same", NULL},
	      &r);
	fprintf(stderr, "[touched] %d %s", r.status, r.err);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(strstr(r.err, "building"));
	ck_assert_int_eq(count_templates(), before);
	h_free(&r);
	/* Changed content (zero padding the kernel skips): a new key, so a new template. */
	snprintf(cmd, sizeof(cmd), "head -c 512 /dev/zero >> %s", initrd);
	ck_assert_int_eq(system(cmd), 0);
	h_run((char *const[]){h_path("sandbox"), "run", "--initrd", initrd, "--rootfs",
			      h_path("rootfs-busybox"), "--", "echo", "changed", NULL},
	      &r);
	fprintf(stderr, "[changed] %d %s", r.status, r.err);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "changed\n");
	ck_assert_ptr_nonnull(strstr(r.err, "building VM template"));
	ck_assert_int_eq(count_templates(), before + 1);
	h_free(&r);
	/* Seen from the default binaries, that one is stale and the original is current. */
	template_ls(&r);
	ck_assert_ptr_nonnull(strstr(r.out, " stale"));
	ck_assert_ptr_nonnull(strstr(r.out, " yes"));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* The sandbox-vmm child of parent (never someone else's VMM on a shared machine). */
static pid_t find_vmm(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t pid = 0;
	while (!pid && d && (e = readdir(d))) {
		char p[300], comm[64] = "";
		int ppid = 0;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(p, "r");
		if (f && fscanf(f, "%*d (%63[^)]) %*c %d", comm, &ppid) == 2 &&
		    !strcmp(comm, "sandbox-vmm") && ppid == parent)
			pid = atoi(e->d_name);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

START_TEST(test_killed_build_keeps_old)
{
	struct cmd_result r;
	template_ls(&r);
	char *before = strdup(r.out);
	h_free(&r);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(h_path("sandbox"), "sandbox", "template", "build", NULL);
		_exit(126);
	}
	pid_t vmm = 0;
	for (int i = 0; i < 200 && !vmm; i++, usleep(50 * 1000))
		vmm = find_vmm(pid);
	ck_assert_msg(vmm > 0, "no sandbox-vmm appeared");
	sleep(3); /* mid-boot */
	ck_assert_int_eq(kill(vmm, SIGKILL), 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 125);
	ck_assert_int_eq(count_prefixed(".build-"), 0);
	template_ls(&r);
	ck_assert_str_eq(r.out, before); /* same templates, same creation times */
	h_free(&r);
	free(before);
	assert_nothing_left();
}
END_TEST

START_TEST(test_template_bad_input)
{
	struct {
		char *const *argv;
		const char *msg;
	} cases[] = {
	    {(char *const[]){h_path("sandbox"), "template", NULL}, "no command given"},
	    {(char *const[]){h_path("sandbox"), "template", "frob", NULL}, "unknown command"},
	    {(char *const[]){h_path("sandbox"), "template", "rm", NULL}, "KEY or --all"},
	    {(char *const[]){h_path("sandbox"), "template", "rm", "xyz!", NULL},
	     "not a template key"},
	    {(char *const[]){h_path("sandbox"), "template", "rm", "abcdef01", NULL}, "no template"},
	    {(char *const[]){h_path("sandbox"), "template", "build", "--cpus", "0", NULL},
	     "--cpus"},
	    {(char *const[]){h_path("sandbox"), "template", "build", "--memory", "1Q", NULL},
	     "memory"},
	    {(char *const[]){h_path("sandbox"), "template", "ls", "x", NULL}, "unexpected"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cmd_result r;
		h_run(cases[i].argv, &r);
		ck_assert_msg(r.status == 125, "case %zu: status %d (%s)", i, r.status, r.err);
		ck_assert_msg(strstr(r.err, cases[i].msg), "case %zu: '%s' lacks '%s'", i, r.err,
			      cases[i].msg);
		if (i > 0)
			ck_assert_msg(strchr(r.err, '\n') == r.err + r.err_len - 1,
				      "case %zu: not one line: '%s'", i, r.err);
		h_free(&r);
	}
	assert_nothing_left();
}
END_TEST

int main(void)
{
	h_require_kvm();
	if (!mkdtemp(run_root) || !mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	h_template_dir_init();
	Suite *s = suite_create("templates");
	TCase *quick = tcase_create("input");
	tcase_add_test(quick, test_template_bad_input);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 900);
	tcase_add_test(vm, test_clones_differ);
	tcase_add_test(vm, test_old_template_resumes_quietly);
	tcase_add_test(vm, test_stale_template_rebuilt);
	tcase_add_test(vm, test_killed_build_keeps_old);
	suite_add_tcase(s, vm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(run_root);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", work);
	h_template_dir_done();
	return failed ? 1 : 0;
}
