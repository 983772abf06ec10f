/*
 * `sandbox run` end to end: real KVM, our VMM, our guest kernel, our agent, a busybox rootfs.
 * Every test boots a VM (about 35 s cold on hosts where KVM is emulated; a restore from a VM
 * template is much faster), so each one checks as much as the thing tested allows, and every
 * test checks that nothing is left behind. The same tests run both ways (harness.h, h_mode).
 */
#include "harness.h"

static char run_root[] = "/tmp/sandbox-test-run.XXXXXX";

#define SBX(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "run", h_mode(), "--rootfs", h_path("rootfs-busybox"),          \
		    __VA_ARGS__, NULL                                                              \
	}

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_vmms_using(run_root) == 0 &&
			  h_count_vmms_using(getenv("SANDBOX_TEMPLATE_DIR")) == 0,
		      "a sandbox-vmm process of ours was left running");
	ck_assert_msg(h_count_entries(run_root) == 0, "state left behind in %s", run_root);
}

static void show(const char *what, const struct cmd_result *r)
{
	fprintf(stderr,
		"[%s] status=%d\n--- stdout (%zu bytes, first 400) ---\n%.400s\n--- stderr "
		"---\n%.2000s\n",
		what, r->status, r->out_len, r->out, r->err);
}

/* Also the writable layer: an image directory removed and made again is new and empty (an
 * opaque directory in the overlay's tmpfs upper layer, which needs its trusted.* xattrs). */
START_TEST(test_echo_kernel_cpus_memory_layers)
{
	struct cmd_result r;
	h_run(h_argv(SBX("--cpus", "2", "--memory", "512M", "--", "sh", "-c",
			 "echo hello-from-guest; uname -r; nproc; "
			 "awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo; hostname; id -u; "
			 "rm -rf /etc && mkdir /etc && ls -A /etc | wc -l; "
			 "echo new >/etc/f && cat /etc/f")),
	      &r);
	show("echo", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "hello-from-guest\n"));
	/* Our kernel, not the host's: the host runs a different release. */
	char *lines[8] = {0};
	int n = 0;
	for (char *s = strtok(r.out, "\n"); s && n < 8; s = strtok(NULL, "\n"))
		lines[n++] = s;
	ck_assert_int_ge(n, 6);
	ck_assert_msg(!strncmp(lines[1], "6.1", 3), "guest kernel is '%s', expected 6.1.x",
		      lines[1]);
	ck_assert_str_eq(lines[2], "2");
	int mem = atoi(lines[3]);
	ck_assert_msg(mem > 400 && mem <= 512, "guest sees %d MiB, expected ~512", mem);
	ck_assert_int_eq(strlen(lines[4]), 12); /* default hostname: the run id */
	ck_assert_str_eq(lines[5], "0");
	ck_assert_msg(n == 8 && !strcmp(lines[6], "0") && !strcmp(lines[7], "new"),
		      "/etc removed and made again: '%s' entries, then '%s' (stderr: %s)",
		      n > 6 ? lines[6] : "", n > 7 ? lines[7] : "", r.err);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_exit_code_env_user_workdir)
{
	struct cmd_result r;
	h_run(h_argv(SBX("-e", "FOO=bar baz", "-w", "/tmp", "-u", "65534:65534", "--hostname",
			 "box1", "--", "sh", "-c",
			 "echo \"$FOO|$(pwd)|$(id -u):$(id -g)|$(hostname)\"; exit 7")),
	      &r);
	show("exit7", &r);
	ck_assert_int_eq(r.status, 7);
	ck_assert_str_eq(r.out, "bar baz|/tmp|65534:65534|box1\n");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_stdin_and_big_output)
{
	/* stdin through cat, then 10 MiB+ of output that must arrive byte for byte. */
	const char *in = "line one\nline two\n";
	struct cmd_result r;
	h_run_full(h_argv(SBX("-i", "--", "sh", "-c", "cat; seq 1 1500000")), in, strlen(in), NULL,
		   0, &r);
	fprintf(stderr, "[big] status=%d out=%zu err=%.300s\n", r.status, r.out_len, r.err);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_ge(r.out_len, 10 * 1000 * 1000);
	ck_assert(!strncmp(r.out, in, strlen(in)));
	/* Compare with the same sequence made on the host. */
	FILE *p = popen("seq 1 1500000", "r");
	ck_assert_ptr_nonnull(p);
	size_t off = strlen(in), bad = 0;
	int c;
	while ((c = fgetc(p)) != EOF) {
		if (off >= r.out_len || r.out[off] != (char)c)
			bad++;
		off++;
	}
	pclose(p);
	ck_assert_msg(bad == 0 && off == r.out_len, "output differs: %zu bad bytes, %zu vs %zu",
		      bad, off, r.out_len);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_sigterm_reaches_process)
{
	struct cmd_result r;
	h_run_full(h_argv(SBX("--", "sh", "-c", "echo ready; exec sleep 100")), NULL, 0, "ready\n",
		   SIGTERM, &r);
	show("sigterm", &r);
	ck_assert_int_eq(r.status, 143);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_missing_command_127)
{
	struct cmd_result r;
	h_run(h_argv(SBX("--", "no-such-command", "arg")), &r);
	show("missing", &r);
	ck_assert_int_eq(r.status, 127);
	ck_assert_ptr_nonnull(strstr(r.err, "no-such-command"));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_tty_under_script)
{
	/* script(1) gives `sandbox` a pty: -t must give the container process a terminal too. */
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "%s run %s -t --rootfs %s -- sh -c 'test -t 0 && test -t 1 && echo TTY-OK; "
		 "stty size; exit 3'",
		 h_path("sandbox"), h_mode(), h_path("rootfs-busybox"));
	struct cmd_result r;
	h_run((char *const[]){"/usr/bin/script", "-qec", cmd, "/dev/null", NULL}, &r);
	show("tty", &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_ptr_nonnull(strstr(r.out, "TTY-OK"));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* Bad input: a clear one-line error, exit 125, nothing left behind, no VM booted. */
START_TEST(test_bad_input)
{
	struct {
		char *const *argv;
		const char *msg;
	} cases[] = {
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", "/nonexistent-dir", "--", "true",
			     NULL},
	     "rootfs '/nonexistent-dir'"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", "/etc/passwd", "--", "true",
			     NULL},
	     "not a directory"},
	    {(char *const[]){h_path("sandbox"), "run", NULL}, "no image given"},
	    {(char *const[]){h_path("sandbox"), "run", "--", "no-such-image", NULL},
	     "image 'no-such-image' not found"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", "/", NULL}, "no command"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", "/", "--memory", "12Q", "--",
			     "true", NULL},
	     "memory size"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", "/", "--cpus", "99", "--",
			     "true", NULL},
	     "--cpus"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", h_path("rootfs-busybox"),
			     "--kernel", "/nonexistent-kernel", "--", "true", NULL},
	     "/nonexistent-kernel"},
	    {(char *const[]){h_path("sandbox"), "run", "--rootfs", h_path("rootfs-busybox"), "-u",
			     "nosuchuser", "--", "true", NULL},
	     "nosuchuser"},
	    {(char *const[]){h_path("sandbox"), "frobnicate", NULL}, "unknown command"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cmd_result r;
		h_run(cases[i].argv, &r);
		ck_assert_msg(r.status == 125, "case %zu: status %d (%s)", i, r.status, r.err);
		ck_assert_msg(strstr(r.err, cases[i].msg), "case %zu: stderr '%s' lacks '%s'", i,
			      r.err, cases[i].msg);
		ck_assert_msg(strchr(r.err, '\n') == r.err + r.err_len - 1,
			      "case %zu: error is not one line: '%s'", i, r.err);
		h_free(&r);
	}
	assert_nothing_left();
}
END_TEST

static Suite *run_suite(void)
{
	Suite *s = suite_create("sandbox run");
	TCase *quick = tcase_create("input");
	tcase_add_test(quick, test_bad_input);
	suite_add_tcase(s, quick);
	TCase *vm = tcase_create("vm");
	tcase_set_timeout(vm, 600);
	tcase_add_test(vm, test_echo_kernel_cpus_memory_layers);
	tcase_add_test(vm, test_exit_code_env_user_workdir);
	tcase_add_test(vm, test_stdin_and_big_output);
	tcase_add_test(vm, test_sigterm_reaches_process);
	tcase_add_test(vm, test_missing_command_127);
	tcase_add_test(vm, test_tty_under_script);
	suite_add_tcase(s, vm);
	return s;
}

int main(void)
{
	h_require_kvm();
	if (!mkdtemp(run_root)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	h_template_dir_init();
	fprintf(stderr, "== sandbox run tests, %s\n",
		h_cold() ? "cold boot (--no-template)" : "from VM templates");
	SRunner *sr = srunner_create(run_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rmdir(run_root);
	h_template_dir_done();
	return failed ? 1 : 0;
}
