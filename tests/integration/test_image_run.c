/*
 * `sandbox run IMAGE` end to end: OCI layouts built with rootfs/build-oci-image.sh (and hostile
 * ones with image_fixture.py), loaded with `sandbox load` into a temp store, run in real VMs.
 * Five VM runs in all (the fifth a detached container, exec'd into): the image config's
 * Entrypoint/Cmd/Env/WorkingDir/User, docker's overrides and the erofs cache are checked together;
 * failures before a VM cost no boot.
 */
#include "harness.h"

#include <sys/sysmacros.h>

static char base[] = "/tmp/sandbox-test-image.XXXXXX";
static char store[128], run_root[128], outside[128];
static char cfg_digest[128]; /* manifest digest of the "cfgtest" image */

#define SBX(...)                                                                                   \
	(char *const[])                                                                            \
	{                                                                                          \
		h_path("sandbox"), "run", h_mode(), "--root", store, __VA_ARGS__, NULL             \
	}

static void must(char *const argv[], const char *what)
{
	struct cmd_result r;
	h_run(argv, &r);
	if (r.status != 0) {
		h_show(what, &r);
		ck_abort_msg("%s failed", what);
	}
	h_free(&r);
}

/* Runs build-oci-image.sh; returns the manifest digest it prints (static). */
static const char *build_layout(char *const argv[])
{
	static char digest[128];
	struct cmd_result r;
	h_run(argv, &r);
	if (r.status != 0)
		h_show("build-oci-image.sh", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(sscanf(r.out, "%127s", digest), 1);
	h_free(&r);
	return digest;
}

static char *sub(const char *name)
{
	static char bufs[16][256];
	static int i;
	char *b = bufs[i++ % 16];
	snprintf(b, 256, "%s/%s", base, name);
	return b;
}

static void load(const char *layout, const char *name)
{
	must((char *const[]){h_path("sandbox"), "load", "--root", store, "--name", (char *)name,
			     "-q", "-i", (char *)layout, NULL},
	     "sandbox load");
}

/*
 * busybox: the busybox rootfs, Cmd ["sh"]. cfgtest: two layers (the second whites out
 * /opt/old and adds /opt/new) and every config field set. evil-path / evil-link: busybox plus
 * a hostile layer.
 */
static void make_images(void)
{
	char bb[256];
	snprintf(bb, sizeof(bb), "%s", sub("bb"));
	build_layout((char *const[]){"rootfs/build-oci-image.sh", "--cmd", "[\"sh\"]",
				     h_path("rootfs-busybox"), (char *)bb, NULL});
	load(bb, "busybox");

	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cp -a %s/rootfs-busybox %s && mkdir -p %s/opt %s/opt && echo o > %s/opt/old && "
		 "echo k > %s/opt/keep && echo n > %s/opt/new && touch %s/opt/.wh.old",
		 h_build(), sub("l1"), sub("l1"), sub("l2"), sub("l1"), sub("l1"), sub("l2"),
		 sub("l2"));
	ck_assert_int_eq(system(cmd), 0);
	build_layout((char *const[]){
	    "rootfs/build-oci-image.sh", "--entrypoint", "[\"/bin/sh\",\"-c\"]", "--cmd",
	    "[\"echo default-cmd FOO=$FOO BAR=$BAR PWD=$(pwd) UID=$(id -u); ls /opt\"]", "--env",
	    "FOO=image", "--env", "BAR=keep", "--workdir", "/etc", "--user", "nobody", sub("l1"),
	    sub("cfg"), NULL});
	snprintf(cfg_digest, sizeof(cfg_digest), "%s",
		 build_layout((char *const[]){"rootfs/build-oci-image.sh", "--add-layer", sub("l2"),
					      sub("cfg"), NULL}));
	load(sub("cfg"), "cfgtest");

	static const char *const kinds[] = {"path", "link"};
	for (size_t i = 0; i < 2; i++) {
		char layout[64], name[32];
		snprintf(layout, sizeof(layout), "evil-%s", kinds[i]);
		snprintf(name, sizeof(name), "evil-%s", kinds[i]);
		snprintf(cmd, sizeof(cmd), "cp -a %s %s", bb, sub(layout));
		ck_assert_int_eq(system(cmd), 0);
		must((char *const[]){"tests/integration/image_fixture.py", "hostile", sub(layout),
				     (char *)kinds[i], outside, NULL},
		     "image_fixture.py");
		load(sub(layout), name);
	}
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(store, sizeof(store), "%s/store", base);
	snprintf(run_root, sizeof(run_root), "%s/run", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	ck_assert_int_eq(mkdir(run_root, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	setenv("SANDBOX_RUN_ROOT", run_root, 1);
	make_images();
}

static void teardown(void)
{
	/* A failed assertion in the detached case leaves its VM, tap and state: remove them, or
	 * the next run finds the tap taken. */
	char state[256];
	snprintf(state, sizeof(state), "%s/state", base);
	if (access(state, F_OK) == 0) {
		struct cmd_result r;
		h_run((char *const[]){h_path("sandbox"), "--root", state, "rm", "-f", "web", NULL},
		      &r);
		h_free(&r);
	}
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", base);
}

static void assert_nothing_left(void)
{
	ck_assert_msg(h_count_vmms_using(run_root) == 0, "a sandbox-vmm of ours was left running");
	ck_assert_msg(h_count_entries(run_root) == 0, "state left behind in %s", run_root);
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/rootfs", store);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		ck_assert_msg(strncmp(e->d_name, ".build-", 7), "build dir %s left behind",
			      e->d_name);
	if (d)
		closedir(d);
	snprintf(dir, sizeof(dir), "%s/tmp", store);
	ck_assert_int_eq(h_count_entries(dir), 0);
}

static int count_erofs(void)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/rootfs", store);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strlen(e->d_name) > 6 && !strcmp(e->d_name + strlen(e->d_name) - 6, ".erofs");
	if (d)
		closedir(d);
	return n;
}

static void cfg_erofs(char *path, size_t len)
{
	snprintf(path, len, "%s/rootfs/%s.erofs", store, cfg_digest + strlen("sha256:"));
}

/* No VM boots here: each of these fails while the run is prepared. */
START_TEST(test_bad_images_fail_cleanly)
{
	struct cmd_result r;
	h_run(h_argv(SBX("nosuch", "true")), &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "image 'nosuch' not found"));
	h_free(&r);

	h_run(h_argv(SBX("evil-path", "true")), &r);
	h_show("evil-path", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "'..' in path"));
	h_free(&r);
	h_run(h_argv(SBX("evil-link", "true")), &r);
	h_show("evil-link", &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "outside the rootfs"));
	h_free(&r);
	ck_assert_int_eq(h_count_entries(outside), 0);
	ck_assert_int_ne(access(sub("escape"), F_OK), 0);
	ck_assert_int_ne(access(sub("store/escape"), F_OK), 0);

	/* --entrypoint "" and no CMD: nothing to run. */
	h_run(h_argv(SBX("--entrypoint", "", "busybox")), &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "no command"));
	h_free(&r);
	assert_nothing_left();
	ck_assert_int_eq(count_erofs(), 0); /* the hostile images left no cache entry */
}
END_TEST

START_TEST(test_run_busybox_image)
{
	struct cmd_result r;
	h_run(h_argv(SBX("busybox", "echo", "hi")), &r);
	h_show("busybox echo hi", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "hi\n");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_image_config_applies)
{
	struct cmd_result r;
	h_run(h_argv(SBX("cfgtest")), &r);
	h_show("cfgtest", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "default-cmd FOO=image BAR=keep PWD=/etc UID=65534\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "\nkeep\nnew\n")); /* /opt/old whited out */
	ck_assert_ptr_nonnull(strstr(r.err, "built the root filesystem of cfgtest"));
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* -e, -w, -u and CMD args override the config; the cached erofs is used as it is. */
START_TEST(test_overrides_use_cache)
{
	char erofs[256];
	cfg_erofs(erofs, sizeof(erofs));
	struct stat before, after;
	ck_assert_int_eq(stat(erofs, &before), 0);
	struct cmd_result r;
	h_run(h_argv(SBX("--rm", "-e", "FOO=cli", "-w", "/", "-u", "0:0", "cfgtest",
			 "echo override FOO=$FOO BAR=$BAR PWD=$(pwd) UID=$(id -u)")),
	      &r);
	h_show("cfgtest overrides", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "override FOO=cli BAR=keep PWD=/ UID=0\n");
	ck_assert_ptr_null(strstr(r.err, "built the root filesystem"));
	h_free(&r);
	ck_assert_int_eq(stat(erofs, &after), 0);
	ck_assert(before.st_ino == after.st_ino && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		  before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	assert_nothing_left();
}
END_TEST

/* --entrypoint replaces the Entrypoint and drops the image's Cmd. */
START_TEST(test_entrypoint_override)
{
	struct cmd_result r;
	h_run(h_argv(SBX("--entrypoint", "/bin/echo", "cfgtest", "hi", "there")), &r);
	h_show("cfgtest --entrypoint", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "hi there\n");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

/* One detached busybox VM: run -d --name, ps, logs, exec, stop, ps -a, rm; nothing left. */
START_TEST(test_detached_lifecycle)
{
	char state[256];
	snprintf(state, sizeof(state), "%s/state", base);
#define DET(...) h_argv((char *const[]){h_path("sandbox"), "--root", state, __VA_ARGS__, NULL})
	struct cmd_result r;
	/* A published port, as `docker run -d -p` is mostly used (the default network). */
	unsigned port = 20000 + (unsigned)getpid() % 20000;
	char publish[32];
	snprintf(publish, sizeof(publish), "%u:80", port);
	h_run(DET("run", "-d", "--name", "web", "-p", publish, h_mode(), "--root", store, "busybox",
		  "sh", "-c",
		  "mkdir -p /w && echo detached-web > /w/index.html && httpd -p 80 -h /w; "
		  "echo started; while true; do sleep 1; done"),
	      &r);
	h_show("run -d", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "web\n");
	h_free(&r);

	/* A taken name fails before anything starts, and leaves the first container alone. */
	h_run(DET("run", "-d", "--name", "web", "--root", store, "busybox", "true"), &r);
	ck_assert_int_eq(r.status, 125);
	ck_assert_ptr_nonnull(strstr(r.err, "already in use"));
	h_free(&r);

	h_run(DET("ps"), &r);
	h_show("ps", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "web "));
	ck_assert_ptr_nonnull(strstr(r.out, " running "));
	h_free(&r);

	h_run(DET("rm", "web"), &r); /* running: refused without -f */
	ck_assert_int_eq(r.status, 125);
	h_free(&r);

	h_run(DET("exec", "-i", "web", "echo", "hi"), &r);
	h_show("exec", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "hi\n");
	h_free(&r);

	ck_assert_ptr_nonnull(strstr(h_http_get("127.0.0.1", port, 120), "detached-web"));

	h_run(DET("logs", "web"), &r);
	h_show("logs", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "started\n"));
	h_free(&r);

	h_run(DET("stop", "-t", "2", "web"), &r);
	h_show("stop", &r);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	ck_assert_msg(h_count_vmms_using(state) == 0, "the VMM outlived stop");

	h_run(DET("ps"), &r);
	ck_assert_ptr_null(strstr(r.out, "web "));
	h_free(&r);
	h_run(DET("ps", "-a"), &r);
	h_show("ps -a", &r);
	ck_assert_ptr_nonnull(strstr(r.out, " exited ("));
	h_free(&r);

	must(DET("rm", "web"), "rm");
	h_run(DET("ps", "-a", "-q"), &r);
	ck_assert_str_eq(r.out, "");
	h_free(&r);
	ck_assert_int_eq(h_count_entries(state), 0);
#undef DET
	assert_nothing_left();
}
END_TEST

int main(void)
{
	h_require_kvm();
	h_template_dir_init();
	Suite *s = suite_create("image_run");
	TCase *tc = tcase_create("image");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_bad_images_fail_cleanly);
	tcase_add_test(tc, test_run_busybox_image);
	tcase_add_test(tc, test_image_config_applies);
	tcase_add_test(tc, test_overrides_use_cache);
	tcase_add_test(tc, test_entrypoint_override);
	tcase_add_test(tc, test_detached_lifecycle);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_template_dir_done();
	return failed ? 1 : 0;
}
