/*
 * podman (Debian 4.3) with `--runtime sandbox` end to end (docs/oci.md, "podman"): conmon drives
 * create/start/state/kill/delete, every container lives in its own micro-VM whose root and bind
 * mounts are virtio-fs shares. Five VM runs: `run --rootfs` with a non-zero exit and a write to
 * the root that lands on the host; an image from `podman load` with `-v`, `--memory`, `--cpus`;
 * `-it` through a pty (script); one `-d -p` container serving HTTP that carries logs, exec,
 * stop, start again, kill and rm. podman's store is a temp dir; after each case no monitor,
 * VMM or virtiofsd of ours is left.
 */
#include <sys/stat.h>

#include "harness.h"

static char store[] = "/tmp/sandbox-test-podman.XXXXXX";
static char sandbox_bin[4096], runtime[4200], rootfs[4200], image_tar[4200], image[256];

#define PODMAN(...)                                                                                \
	(char *const[])                                                                            \
	{                                                                                          \
		"/usr/bin/podman", "--root", sub("root"), "--runroot", sub("run"), "--tmpdir",     \
		    sub("tmp"), "--runtime", runtime, "--cgroup-manager", "cgroupfs",              \
		    "--events-backend", "file", __VA_ARGS__, NULL                                  \
	}

static char *sub(const char *name)
{
	static char bufs[32][4200];
	static int i;
	char *b = bufs[i++ % 32];
	snprintf(b, 4200, "%s/%s", store, name);
	return b;
}

static void run_ok(char *const argv[], const char *what, struct cmd_result *r)
{
	h_run(argv, r);
	if (r->status != 0)
		h_show(what, r);
	ck_assert_msg(r->status == 0, "%s failed with %d", what, r->status);
}

/* The parent pid of pid (0 when gone). */
static int parent_of(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	int pp = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &pp) == 1)
			break;
	if (f)
		fclose(f);
	return pp;
}

static bool mentions_store(int pid)
{
	char path[64], args[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(args, 1, sizeof(args) - 1, f) : 0;
	if (f)
		fclose(f);
	for (size_t i = 0; i < n; i++)
		args[i] = args[i] ? args[i] : ' ';
	args[n] = '\0';
	return strstr(args, store) != NULL;
}

/* VMMs started by one of our monitors (a VMM dies with its monitor: PR_SET_PDEATHSIG). */
static int our_vmms(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "";
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
		if (f && fgets(comm, sizeof(comm), f) && !strcmp(comm, "sandbox-vmm\n"))
			n += mentions_store(parent_of(atoi(e->d_name)));
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* podman's container ids are 64 hex digits: their runtime state lives in /run/sandbox/<id>. */
static int podman_state_dirs(void)
{
	DIR *d = opendir("/run/sandbox");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strlen(e->d_name) == 64 && strspn(e->d_name, "0123456789abcdef") == 64;
	if (d)
		closedir(d);
	return n;
}

/* Our processes: monitors, conmon and virtiofsd name the store in their command line. */
static int our_leftovers(void)
{
	return h_count_procs_mentioning("sandbox", store) +
	       h_count_procs_mentioning("virtiofsd", store) +
	       h_count_procs_mentioning("conmon", store) + our_vmms();
}

static void assert_nothing_left(void)
{
	/* conmon reaps the monitor and runs `delete` right after the container's exit. */
	for (int i = 0; i < 100 && (our_leftovers() > 0 || podman_state_dirs() > 0); i++)
		usleep(100 * 1000);
	ck_assert_msg(our_leftovers() == 0, "a monitor, VMM, conmon or virtiofsd of ours is left");
	ck_assert_msg(podman_state_dirs() == 0, "a container's state is left in /run/sandbox");
}

static unsigned free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

START_TEST(test_rootfs_exit_code_and_root_writes)
{
	struct cmd_result r;
	h_run(PODMAN("run", "--rm", "--rootfs", rootfs, "sh", "-c",
		     "echo out; echo written > /root-write; exit 3"),
	      &r);
	if (r.status != 3)
		h_show("run --rootfs exit 3", &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.out, "out") != NULL, "stdout: %s", r.out);
	char path[4300];
	snprintf(path, sizeof(path), "%s/root-write", rootfs);
	ck_assert_str_eq(h_slurp(path), "written\n");
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_image_volume_memory_cpus)
{
	struct cmd_result r;
	run_ok(PODMAN("load", "-i", image_tar), "podman load", &r);
	const char *name = strstr(r.out, "Loaded image: ");
	ck_assert_msg(name != NULL, "podman load said: %s", r.out);
	snprintf(image, sizeof(image), "%s", name + strlen("Loaded image: "));
	image[strcspn(image, "\n")] = '\0';
	h_free(&r);
	char vol[4300];
	snprintf(vol, sizeof(vol), "%s:/data", sub("vol"));
	h_run(PODMAN("run", "--rm", "-v", vol, "--memory", "300m", "--cpus", "2", image, "sh", "-c",
		     "echo from-guest > /data/f && nproc && grep MemTotal /proc/meminfo"),
	      &r);
	if (r.status != 0)
		h_show("run image -v --memory --cpus", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(h_slurp(sub("vol/f")), "from-guest\n");
	ck_assert_msg(strstr(r.out, "2\n") == r.out, "nproc: %s", r.out);
	const char *mt = strstr(r.out, "MemTotal:");
	ck_assert_ptr_nonnull(mt);
	long kib = strtol(mt + 9, NULL, 10);
	ck_assert_msg(kib > 200 * 1024 && kib <= 300 * 1024, "MemTotal %ld KiB for --memory 300m",
		      kib);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

START_TEST(test_interactive_tty)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/podman --root %s --runroot %s --tmpdir %s --runtime %s "
		 "--cgroup-manager cgroupfs --events-backend file run -it --rm --rootfs %s "
		 "sh -c 'tty; read l; echo got-$l'",
		 sub("root"), sub("run"), sub("tmp"), runtime, rootfs);
	struct cmd_result r;
	/* script gives podman a terminal; the line typed reaches the guest through the pty. */
	h_run_full((char *const[]){"/usr/bin/script", "-qec", cmd, "/dev/null", NULL}, "hello\n", 6,
		   NULL, 0, &r);
	if (r.status != 0 || !strstr(r.out, "got-hello"))
		h_show("run -it", &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "/dev/pts/") != NULL, "no tty in: %s", r.out);
	ck_assert_msg(strstr(r.out, "got-hello") != NULL, "stdin did not arrive: %s", r.out);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

static const char *web_script =
    "mkdir -p /www && echo hello-from-vm > /www/index.html && echo started && "
    "httpd -p 80 -h /www && trap 'exit 7' TERM && while :; do sleep 1; done";

static char *inspect(const char *what)
{
	static char out[256];
	struct cmd_result r;
	run_ok(PODMAN("inspect", "--format", (char *)what, "web"), "podman inspect", &r);
	snprintf(out, sizeof(out), "%s", r.out);
	out[strcspn(out, "\n")] = '\0';
	h_free(&r);
	return out;
}

START_TEST(test_detached_port_logs_exec_stop_kill_rm)
{
	struct cmd_result r;
	char publish[64];
	unsigned port = free_port();
	snprintf(publish, sizeof(publish), "%u:80", port);
	run_ok(PODMAN("run", "-d", "--name", "web", "-p", publish, "--rootfs", rootfs, "sh", "-c",
		      (char *)web_script),
	       "run -d -p", &r);
	h_free(&r);
	/* Through podman's CNI network namespace (portmap) to the VM's tap and httpd. */
	char *body = h_http_get("127.0.0.1", port, 120);
	ck_assert_msg(strstr(body, "hello-from-vm") != NULL, "HTTP body: '%s'", body);
	run_ok(PODMAN("logs", "web"), "podman logs", &r);
	ck_assert_msg(strstr(r.out, "started") != NULL, "logs: %s", r.out);
	h_free(&r);
	run_ok(PODMAN("exec", "web", "cat", "/www/index.html"), "podman exec", &r);
	ck_assert_str_eq(r.out, "hello-from-vm\n");
	h_free(&r);
	run_ok(PODMAN("stop", "-t", "30", "web"), "podman stop", &r);
	h_free(&r);
	ck_assert_str_eq(inspect("{{.State.ExitCode}}"), "7");
	run_ok(PODMAN("start", "web"), "podman start", &r);
	h_free(&r);
	ck_assert_str_eq(inspect("{{.State.Status}}"), "running");
	run_ok(PODMAN("kill", "web"), "podman kill", &r);
	h_free(&r);
	run_ok(PODMAN("wait", "web"), "podman wait", &r);
	ck_assert_str_eq(r.out, "137\n");
	h_free(&r);
	run_ok(PODMAN("rm", "web"), "podman rm", &r);
	h_free(&r);
	assert_nothing_left();
}
END_TEST

static int sh(const char *fmt, const char *a, const char *b)
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), fmt, a, b);
	return system(cmd);
}

/*
 * conmon starts the runtime with its own environment (LC_* and a few podman variables): the
 * runtime podman calls is a script that restores the test's SANDBOX_TEMPLATE_DIR (the harness's
 * template store), SANDBOX_NO_JAIL and SANDBOX_BOOT_TIMEOUT, when set.
 */
static int write_runtime(void)
{
	snprintf(runtime, sizeof(runtime), "%s/sandbox-runtime", store);
	FILE *f = fopen(runtime, "w");
	if (!f)
		return -1;
	fprintf(f, "#!/bin/sh\n");
	const char *vars[] = {"SANDBOX_TEMPLATE_DIR", "SANDBOX_NO_JAIL", "SANDBOX_BOOT_TIMEOUT"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && v[0] && !strchr(v, '\''))
			fprintf(f, "export %s='%s'\n", vars[i], v);
	}
	fprintf(f, "exec '%s' \"$@\"\n", sandbox_bin);
	return fclose(f) == 0 && chmod(runtime, 0755) == 0 ? 0 : -1;
}

/* Skips (77) without podman, except in CI where a missing podman is a failure. */
static void require_podman(void)
{
	if (access("/usr/bin/podman", X_OK) == 0 && access("/usr/bin/script", X_OK) == 0)
		return;
	const char *ci = getenv("CI");
	if (ci && !strcmp(ci, "true")) {
		fprintf(stderr, "FATAL: podman or script is not installed (make deps)\n");
		exit(1);
	}
	fprintf(stderr, "SKIP: podman is not installed (make deps installs it)\n");
	exit(77);
}

static int setup(void)
{
	if (!mkdtemp(store) || !realpath(h_path("sandbox"), sandbox_bin)) {
		perror("setup");
		return -1;
	}
	char oci[4096];
	if (!realpath(h_path("busybox-oci"), oci)) {
		fprintf(stderr, "%s missing: make B=%s %s/busybox-oci/index.json\n",
			h_path("busybox-oci"), h_build(), h_build());
		return -1;
	}
	/* A private copy of the rootfs: the container writes to it. */
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", store);
	snprintf(image_tar, sizeof(image_tar), "%s/busybox.tar", store);
	mkdir(sub("vol"), 0755);
	mkdir(sub("tmp"), 0700);
	if (sh("cp -a '%s' '%s'", h_path("rootfs-busybox"), rootfs) != 0 ||
	    sh("tar -C '%s' -cf '%s/busybox.tar' .", oci, store) != 0 || write_runtime() < 0)
		return -1;
	/* Templates for both VM sizes, built before podman's 4-minute create timeout runs. */
	if (sh("'%s' run --rootfs '%s' -- true", runtime, rootfs) != 0 ||
	    sh("'%s' run --cpus 2 --memory 300M --rootfs '%s' -- true", runtime, rootfs) != 0) {
		fprintf(stderr, "template warm-up: sandbox run failed\n");
		return -1;
	}
	return 0;
}

static void teardown(void)
{
	/* After a failure, containers may remain: podman removes them and their VMs. */
	char cmd[9000];
	snprintf(cmd, sizeof(cmd),
		 "podman --root %s --runroot %s --runtime %s --cgroup-manager cgroupfs "
		 "--events-backend file rm -af -t 0 >/dev/null 2>&1; "
		 "podman --root %s --runroot %s system reset -f >/dev/null 2>&1; "
		 "findmnt -rn -o TARGET | grep '^%s/' | sort -r | xargs -r umount; rm -rf '%s'",
		 sub("root"), sub("run"), runtime, sub("root"), sub("run"), store, store);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", store);
}

int main(void)
{
	h_require_kvm();
	require_podman();
	h_template_dir_init();
	if (setup() < 0) {
		teardown();
		return 1;
	}
	Suite *s = suite_create("podman");
	TCase *tc = tcase_create("run");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_rootfs_exit_code_and_root_writes);
	tcase_add_test(tc, test_image_volume_memory_cpus);
	tcase_add_test(tc, test_interactive_tty);
	suite_add_tcase(s, tc);
	TCase *detached = tcase_create("detached");
	tcase_set_timeout(detached, 900);
	tcase_add_test(detached, test_detached_port_logs_exec_stop_kill_rm);
	suite_add_tcase(s, detached);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	teardown();
	h_template_dir_done();
	return failed ? 1 : 0;
}
