/*
 * `sandbox pull/load/images/inspect/rmi/prune` against a real registry (Debian's
 * docker-registry on 127.0.0.1, one open, one asking for basic auth), fed by skopeo from OCI
 * layouts built by rootfs/build-oci-image.sh (tests/integration/registry/make-fixtures.sh).
 * Token auth, a corrupted blob and truncated downloads go through tests/integration/registry/
 * proxy.py in front of the open registry. No VM is booted: running images is test_image_run.
 * Every failure must be a clear error with the store as it was: same `images`, no temp files.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"

/* harness.h helpers for VM tests, not needed here (no VM is booted). */
static void (*const vm_helpers[])(void)
    __attribute__((unused)) = {h_require_kvm, h_template_dir_init, h_template_dir_done};

static char work[] = "/tmp/sandbox-test-pull.XXXXXX";
static int reg_port, auth_port;
static pid_t reg_pid = -1, auth_pid = -1;
static char busybox_manifest[80], busybox_layer[80];

#define SCRIPTS "tests/integration/registry"
#define USER "tester"
#define PASS "s3cret-pass"

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static bool wait_port(int port)
{
	for (int i = 0; i < 300; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (r == 0)
			return true;
		usleep(50000);
	}
	return false;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Runs argv in the background, its output into log (NULL: discarded). */
static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int out = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : null;
		dup2(null, 0);
		dup2(out, 1);
		dup2(out, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static pid_t start_registry(const char *name, int port, const char *htpasswd)
{
	char dir[256], p[16];
	snprintf(dir, sizeof(dir), "%s/%s", work, name);
	snprintf(p, sizeof(p), "%d", port);
	mkdir(dir, 0755);
	char cfg[512];
	snprintf(cfg, sizeof(cfg), "%s/config.yml", dir);
	FILE *f = fopen(cfg, "w");
	if (!f)
		exit(1);
	fprintf(f,
		"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
		"storage:\n  filesystem:\n    rootdirectory: %s/data\n"
		"http:\n  addr: 127.0.0.1:%d\n",
		dir, port);
	if (htpasswd)
		fprintf(f, "auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd);
	fclose(f);
	char log[512];
	snprintf(log, sizeof(log), "%s/registry.log", dir);
	pid_t pid = spawn((char *const[]){"docker-registry", "serve", cfg, NULL}, log);
	if (!wait_port(port)) {
		fprintf(stderr, "FATAL: docker-registry did not come up on %d\n", port);
		exit(1);
	}
	return pid;
}

/* A copy of the first string value after key in the file (JSON, as the fixtures write it). */
static void json_field(const char *path, const char *after, const char *key, char *out, size_t cap)
{
	char buf[65536] = "";
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *p = after ? strstr(buf, after) : buf;
	p = p ? strstr(p, key) : NULL;
	p = p ? strstr(p, "sha256:") : NULL;
	if (!p) {
		fprintf(stderr, "FATAL: no %s in %s\n", key, path);
		exit(1);
	}
	snprintf(out, cap, "%.71s", p);
}

static pid_t main_pid;
static void teardown_all(void);

static void setup_all(void)
{
	main_pid = getpid();
	if (!mkdtemp(work)) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(teardown_all); /* also when setup fails halfway */
	if (sh("%s/make-fixtures.sh %s %s/rootfs-busybox", SCRIPTS, work, h_build()) != 0) {
		fprintf(stderr, "FATAL: could not build the test images\n");
		exit(1);
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/busybox/index.json", work);
	json_field(path, NULL, "\"digest\"", busybox_manifest, sizeof(busybox_manifest));
	snprintf(path, sizeof(path), "%s/busybox/blobs/sha256/%s", work, busybox_manifest + 7);
	json_field(path, "\"layers\"", "\"digest\"", busybox_layer, sizeof(busybox_layer));

	reg_port = free_port();
	reg_pid = start_registry("reg", reg_port, NULL);
	auth_port = free_port();
	if (sh("htpasswd -Bbc %s/htpasswd %s %s >/dev/null 2>&1", work, USER, PASS) != 0)
		exit(1);
	snprintf(path, sizeof(path), "%s/htpasswd", work);
	auth_pid = start_registry("authreg", auth_port, path);

	static const char *const images[] = {"busybox", "multi", "list", "arm", "armlist"};
	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
		if (sh("skopeo copy -q --all --dest-tls-verify=false oci:%s/%s "
		       "docker://127.0.0.1:%d/t/%s:latest",
		       work, images[i], reg_port, images[i]) ||
		    (i == 0 && sh("skopeo copy -q --dest-tls-verify=false --dest-creds %s:%s "
				  "oci:%s/busybox docker://127.0.0.1:%d/private/busybox:1",
				  USER, PASS, work, auth_port))) {
			fprintf(stderr, "FATAL: skopeo could not push %s\n", images[i]);
			exit(1);
		}
}

/* Once, in the main process: check's forked test processes exit() too. */
static void teardown_all(void)
{
	if (getpid() != main_pid)
		return;
	stop(reg_pid);
	stop(auth_pid);
	reg_pid = auth_pid = -1;
	sh("rm -rf %s", work);
}

/* ---- per-test helpers ---- */

static char store[300];

static void new_store(const char *name)
{
	snprintf(store, sizeof(store), "%s/store-%s", work, name);
	unsetenv("DOCKER_CONFIG");
	unsetenv("REGISTRY_AUTH_FILE");
}

/* sandbox CMD --root STORE ARGS... (at most 6 args) */
static void sbx(struct cmd_result *r, const char *cmd, const char *a1, const char *a2,
		const char *a3)
{
	char *argv[] = {h_path("sandbox"), (char *)cmd, "--root",   store,
			(char *)a1,	   (char *)a2,	(char *)a3, NULL};
	h_run(argv, r);
	fprintf(stderr, "[sandbox %s %s %s]: %d\n%s%s", cmd, a1 ? a1 : "", a2 ? a2 : "", r->status,
		r->out, r->err);
}

static char *ref(const char *repo, int port)
{
	static char bufs[8][256];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, 256, "127.0.0.1:%d/%s", port, repo);
	return b;
}

static char *images(void)
{
	struct cmd_result r;
	sbx(&r, "images", "--no-trunc", NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	free(r.err);
	return r.out;
}

static int store_count(const char *sub)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", store, sub);
	return h_count_entries(p);
}

static void expect_fail(struct cmd_result *r, const char *needle)
{
	ck_assert_int_eq(r->status, 125);
	ck_assert_msg(strstr(r->err, needle), "stderr lacks '%s': %s", needle, r->err);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one line: %s",
		      r->err);
	ck_assert_int_eq(store_count("tmp"), 0);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* proxy.py in front of the open registry with extra args; returns its pid, port in *port. */
static pid_t start_proxy(int *port, const char *a1, const char *a2, const char *a3)
{
	char p[16], up[16], log[300];
	*port = free_port();
	snprintf(p, sizeof(p), "%d", *port);
	snprintf(up, sizeof(up), "%d", reg_port);
	snprintf(log, sizeof(log), "%s/proxy-%d.log", work, *port);
	pid_t pid =
	    spawn((char *const[]){"python3", SCRIPTS "/proxy.py", "--port", p, "--upstream", up,
				  "--log", log, (char *)a1, (char *)a2, (char *)a3, NULL},
		  NULL);
	ck_assert_msg(wait_port(*port), "proxy did not start");
	return pid;
}

static char *proxy_log(int port)
{
	static char buf[65536];
	char path[300];
	snprintf(path, sizeof(path), "%s/proxy-%d.log", work, port);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

static void write_auth_config(const char *user_pass)
{
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/docker-%s", work, user_pass);
	ck_assert_int_eq(
	    sh("mkdir -p '%s' && printf '{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"%%s\"}"
	       ",\"https://127.0.0.1:%d/v1/\":{\"auth\":\"%%s\"}}}' $(printf %%s '%s' "
	       "| base64) $(printf %%s '%s' | base64) > '%s/config.json'",
	       dir, auth_port, reg_port, user_pass, user_pass, dir),
	    0);
	setenv("DOCKER_CONFIG", dir, 1);
}

/* ---- tests ---- */

START_TEST(test_pull_images_inspect_rmi_prune)
{
	struct cmd_result r;
	new_store("basic");
	sbx(&r, "pull", "-q", ref("t/busybox", reg_port), NULL);
	ck_assert_int_eq(r.status, 0);
	char want[300];
	snprintf(want, sizeof(want), "%s:latest\n", ref("t/busybox", reg_port));
	ck_assert_str_eq(r.out, want); /* -q: only the reference */
	ck_assert_str_eq(r.err, "");   /* not a tty: no progress bar */
	h_free(&r);
	/* manifest, config, one layer */
	ck_assert_int_eq(store_count("blobs/sha256"), 3);

	char *list = images();
	ck_assert_ptr_nonnull(strstr(list, "REPOSITORY"));
	ck_assert_ptr_nonnull(strstr(list, ref("t/busybox", reg_port)));
	ck_assert_ptr_nonnull(strstr(list, busybox_manifest));
	ck_assert_ptr_nonnull(strstr(list, "1.0MB"));
	ck_assert_ptr_nonnull(strstr(list, "years ago")); /* created 2024-01-02 */
	free(list);

	char byd[300];
	snprintf(byd, sizeof(byd), "%s@%s", ref("t/busybox", reg_port), busybox_manifest);
	sbx(&r, "pull", byd, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, busybox_manifest));
	h_free(&r);
	list = images();
	ck_assert_int_eq(count(list, busybox_manifest), 2);
	ck_assert_ptr_nonnull(strstr(list, "<none>"));
	free(list);
	ck_assert_int_eq(store_count("blobs/sha256"), 3);

	sbx(&r, "inspect", ref("t/busybox", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert(r.out[0] == '[');
	ck_assert_ptr_nonnull(strstr(r.out, busybox_layer));
	ck_assert_ptr_nonnull(strstr(r.out, "\"Cmd\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"PATH=/usr/bin:/bin\""));
	h_free(&r);

	/* rmi by tag keeps the blobs the by-digest entry still uses */
	sbx(&r, "rmi", ref("t/busybox", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Untagged"));
	h_free(&r);
	ck_assert_int_eq(store_count("blobs/sha256"), 3);
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%.12s", busybox_manifest + 7);
	sbx(&r, "rmi", prefix, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	ck_assert_int_eq(store_count("blobs/sha256"), 0);
	list = images();
	ck_assert_ptr_null(strstr(list, "busybox"));
	free(list);

	/* prune: temp files of a crashed pull */
	char stray[400];
	snprintf(stray, sizeof(stray), "%s/tmp/blob.crashed", store);
	ck_assert_int_eq(sh("echo partial > %s", stray), 0);
	/* and the cached erofs of an image no entry names any more */
	ck_assert_int_eq(sh("mkdir -p %s/rootfs && echo x > %s/rootfs/%s.erofs", store, store,
			    busybox_manifest + 7),
			 0);
	sbx(&r, "prune", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	ck_assert_int_eq(store_count("tmp"), 0);
	snprintf(stray, sizeof(stray), "%s/rootfs/%s.erofs", store, busybox_manifest + 7);
	ck_assert_int_eq(access(stray, F_OK), -1);
}
END_TEST

START_TEST(test_multi_layer_and_manifest_list)
{
	struct cmd_result r;
	new_store("multi");
	sbx(&r, "pull", ref("t/multi", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	sbx(&r, "inspect", ref("t/multi", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(count(r.out, "\"MediaType\""), 3);
	h_free(&r);

	/* a manifest list: the linux/amd64 entry, which is the busybox image */
	sbx(&r, "pull", ref("t/list", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, busybox_manifest));
	h_free(&r);
	sbx(&r, "inspect", ref("t/list", reg_port), NULL, NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "\"IndexDigest\""));
	ck_assert_ptr_nonnull(strstr(r.out, busybox_layer));
	h_free(&r);
}
END_TEST

START_TEST(test_other_platform_only)
{
	struct cmd_result r;
	new_store("arm");
	sbx(&r, "pull", ref("t/multi", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	char *before = images();
	int blobs = store_count("blobs/sha256");
	sbx(&r, "pull", ref("t/arm", reg_port), NULL, NULL);
	expect_fail(&r, "image is for linux/arm64, not linux/amd64");
	h_free(&r);
	sbx(&r, "pull", ref("t/armlist", reg_port), NULL, NULL);
	expect_fail(&r, "no image for linux/amd64 (it has: linux/arm64)");
	h_free(&r);
	char *after = images();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	/* nothing of the arm image was downloaded: its config was refused first */
	ck_assert_int_le(store_count("blobs/sha256"), blobs + 1);
}
END_TEST

START_TEST(test_basic_auth)
{
	struct cmd_result r;
	new_store("basic-auth");
	sbx(&r, "pull", ref("private/busybox:1", auth_port), NULL, NULL);
	expect_fail(&r, "requires authentication");
	h_free(&r);
	write_auth_config(USER ":wrong");
	sbx(&r, "pull", ref("private/busybox:1", auth_port), NULL, NULL);
	expect_fail(&r, "401");
	h_free(&r);
	write_auth_config(USER ":" PASS);
	sbx(&r, "pull", ref("private/busybox:1", auth_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, busybox_manifest));
	h_free(&r);
}
END_TEST

START_TEST(test_token_auth)
{
	struct cmd_result r;
	int port;
	new_store("token");
	pid_t proxy = start_proxy(&port, "--token", USER ":" PASS, NULL);
	sbx(&r, "pull", ref("t/busybox", port), NULL, NULL);
	expect_fail(&r, "token");
	h_free(&r);
	auth_port = port; /* write_auth_config names auth_port */
	write_auth_config(USER ":" PASS);
	sbx(&r, "pull", ref("t/busybox", port), NULL, NULL);
	stop(proxy);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	const char *log = proxy_log(port);
	fprintf(stderr, "[proxy log]\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "scope=repository%3At%2Fbusybox%3Apull - Basic"));
	char blob_line[200];
	snprintf(blob_line, sizeof(blob_line), "blobs/%s - Bearer", busybox_layer);
	ck_assert_ptr_nonnull(strstr(log, blob_line));
}
END_TEST

START_TEST(test_corrupted_blob)
{
	struct cmd_result r;
	int port;
	new_store("corrupt");
	sbx(&r, "pull", ref("t/multi", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	char *before = images();
	pid_t proxy = start_proxy(&port, "--corrupt", busybox_layer, NULL);
	sbx(&r, "pull", ref("t/busybox", port), NULL, NULL);
	stop(proxy);
	expect_fail(&r, "corrupted");
	ck_assert_ptr_nonnull(strstr(r.err, busybox_layer));
	h_free(&r);
	char *after = images();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	char blob[400];
	snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", store, busybox_layer + 7);
	ck_assert_int_ne(access(blob, F_OK), 0);
}
END_TEST

START_TEST(test_truncated_and_resumed_download)
{
	struct cmd_result r;
	int port;
	new_store("truncated");
	char *before = images();
	pid_t proxy = start_proxy(&port, "--truncate", busybox_layer, NULL);
	sbx(&r, "pull", ref("t/busybox", port), NULL, NULL);
	stop(proxy);
	expect_fail(&r, "download incomplete");
	h_free(&r);
	char *after = images();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* cut once: the retry asks for the rest with Range and the blob still verifies */
	proxy = start_proxy(&port, "--truncate", busybox_layer, "--truncate-once");
	sbx(&r, "pull", ref("t/busybox", port), NULL, NULL);
	stop(proxy);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	const char *log = proxy_log(port);
	fprintf(stderr, "[proxy log]\n%s", log);
	char range_line[200];
	snprintf(range_line, sizeof(range_line), "blobs/%s bytes=", busybox_layer);
	ck_assert_ptr_nonnull(strstr(log, range_line));
	ck_assert_int_eq(store_count("tmp"), 0);
}
END_TEST

/* A file named blob.* in <store>/tmp, i.e. a download in progress. */
static bool download_started(void)
{
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/tmp", store);
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d)))
		found |= !strncmp(e->d_name, "blob.", 5);
	if (d)
		closedir(d);
	return found;
}

START_TEST(test_killed_pull_leaves_store_consistent)
{
	struct cmd_result r;
	int port;
	new_store("killed");
	sbx(&r, "pull", ref("t/multi", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	char *before = images();
	pid_t proxy = start_proxy(&port, "--slow", busybox_layer, NULL);
	pid_t pull = fork();
	if (pull == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execl(h_path("sandbox"), "sandbox", "pull", "--root", store, ref("t/busybox", port),
		      (char *)NULL);
		_exit(127);
	}
	bool started = false;
	for (int i = 0; i < 200 && !(started = download_started()); i++)
		usleep(50000);
	kill(pull, SIGKILL);
	waitpid(pull, NULL, 0);
	stop(proxy);
	ck_assert_msg(started, "the pull never began downloading the layer");
	char *after = images();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* what the crash left is temp files; prune takes them, a new pull works */
	sbx(&r, "prune", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	ck_assert_int_eq(store_count("tmp"), 0);
	sbx(&r, "pull", ref("t/busybox", reg_port), NULL, NULL);
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
}
END_TEST

START_TEST(test_concurrent_pulls_and_progress_bar)
{
	new_store("concurrent");
	char cmd[2048];
	const char *s = h_path("sandbox");
	/* two pulls at once sharing the busybox layer, each one index update */
	snprintf(cmd, sizeof(cmd),
		 "%s pull -q --root %s %s & %s pull -q --root %s %s & "
		 "%s pull -q --root %s %s & wait",
		 s, store, ref("t/busybox", reg_port), s, store, ref("t/list", reg_port), s, store,
		 ref("t/multi", reg_port));
	ck_assert_int_eq(sh("{ %s; } >/dev/null", cmd), 0);
	char *list = images();
	ck_assert_ptr_nonnull(strstr(list, ref("t/busybox", reg_port)));
	ck_assert_ptr_nonnull(strstr(list, ref("t/list", reg_port)));
	ck_assert_ptr_nonnull(strstr(list, ref("t/multi", reg_port)));
	free(list);
	ck_assert_int_eq(store_count("tmp"), 0);

	/* on a terminal (script(1) gives it one) a progress bar is drawn on stderr */
	char out[400];
	snprintf(out, sizeof(out), "%s/tty.out", work);
	ck_assert_int_eq(sh("script -qec '%s pull --root %s/tty %s' /dev/null > %s", s, store,
			    ref("t/busybox", reg_port), out),
			 0);
	FILE *f = fopen(out, "r");
	char buf[8192] = "";
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "layers 1/1") && strstr(buf, "1.0 MB/1.0 MB"), "%s", buf);
}
END_TEST

START_TEST(test_load_archives_and_layouts)
{
	struct cmd_result r;
	char in[400];
	new_store("load");
	snprintf(in, sizeof(in), "%s/save.tar", work);
	sbx(&r, "load", "-i", in, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "Loaded image: saved/busybox:1.0\n");
	h_free(&r);
	snprintf(in, sizeof(in), "%s/oci.tar", work);
	sbx(&r, "load", "-i", in, "--name=ocitar:x");
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	snprintf(in, sizeof(in), "%s/multi", work);
	sbx(&r, "load", "-i", in, "--name=multi");
	ck_assert_int_eq(r.status, 0);
	h_free(&r);
	char *list = images();
	ck_assert_ptr_nonnull(strstr(list, "saved/busybox"));
	ck_assert_ptr_nonnull(strstr(list, busybox_manifest)); /* oci.tar: the same bytes */
	ck_assert_ptr_nonnull(strstr(list, "multi "));
	sbx(&r, "inspect", "saved/busybox:1.0", NULL, NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "layer.v1.tar\"")); /* docker save: plain tars */
	h_free(&r);

	snprintf(in, sizeof(in), "%s/hostile.tar", work);
	sbx(&r, "load", "-i", in, "--name=h");
	expect_fail(&r, "'../escape' leaves the archive");
	h_free(&r);
	snprintf(in, sizeof(in), "%s/hostile-link.tar", work);
	sbx(&r, "load", "-i", in, "--name=h");
	expect_fail(&r, "link 'index.json' points out of the archive");
	h_free(&r);
	snprintf(in, sizeof(in), "%s/oci.tar", work);
	sbx(&r, "load", "-i", in, NULL);
	expect_fail(&r, "name it with --name");
	h_free(&r);
	snprintf(in, sizeof(in), "%s/armlist", work);
	sbx(&r, "load", "-i", in, "--name=a");
	expect_fail(&r, "no image for linux/amd64");
	h_free(&r);
	sbx(&r, "load", "-i", "/nonexistent.tar", NULL);
	expect_fail(&r, "/nonexistent.tar");
	h_free(&r);
	char *after = images();
	ck_assert_str_eq(list, after);
	free(list);
	free(after);
}
END_TEST

START_TEST(test_bad_input)
{
	struct cmd_result r;
	new_store("bad");
	sbx(&r, "pull", "Bad/Name", NULL, NULL);
	expect_fail(&r, "invalid image reference 'Bad/Name'");
	h_free(&r);
	sbx(&r, "pull", NULL, NULL, NULL);
	expect_fail(&r, "expected one image reference");
	h_free(&r);
	sbx(&r, "images", "--bogus", NULL, NULL);
	expect_fail(&r, "unknown option '--bogus'");
	h_free(&r);
	sbx(&r, "rmi", "nothere", NULL, NULL);
	expect_fail(&r, "image 'nothere' not found");
	h_free(&r);
	sbx(&r, "inspect", "nothere", NULL, NULL);
	ck_assert_int_eq(r.status, 125);
	h_free(&r);
	sbx(&r, "load", NULL, NULL, NULL);
	expect_fail(&r, "-i FILE");
	h_free(&r);
	sbx(&r, "load", "-i", "/nonexistent.tar", NULL);
	expect_fail(&r, "'/nonexistent.tar': No such file or directory");
	h_free(&r);
	ck_assert_msg(access(store, F_OK) != 0, "bad input created the store %s", store);
	sbx(&r, "pull", ref("t/busybox", free_port()), NULL, NULL);
	expect_fail(&r, "Couldn't connect");
	h_free(&r);
	sbx(&r, "pull", ref("t/nosuch", reg_port), NULL, NULL);
	expect_fail(&r, "HTTP 404");
	h_free(&r);
	ck_assert_int_eq(store_count("blobs/sha256"), 0);
}
END_TEST

int main(void)
{
	if (system("command -v docker-registry skopeo htpasswd python3 >/dev/null") != 0) {
		fprintf(stderr, "SKIP: docker-registry, skopeo, htpasswd or python3 missing "
				"(make deps)\n");
		return 77;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	setup_all();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "setup (images, registries, pushes): %.1f s\n",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	Suite *s = suite_create("image_pull");
	TCase *tc = tcase_create("registry");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pull_images_inspect_rmi_prune);
	tcase_add_test(tc, test_multi_layer_and_manifest_list);
	tcase_add_test(tc, test_other_platform_only);
	tcase_add_test(tc, test_basic_auth);
	tcase_add_test(tc, test_token_auth);
	tcase_add_test(tc, test_corrupted_blob);
	tcase_add_test(tc, test_truncated_and_resumed_download);
	tcase_add_test(tc, test_killed_pull_leaves_store_consistent);
	tcase_add_test(tc, test_concurrent_pulls_and_progress_bar);
	tcase_add_test(tc, test_load_archives_and_layouts);
	tcase_add_test(tc, test_bad_input);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
