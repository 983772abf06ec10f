/*
 * A hostile guest against the real VMM (issue 5, docs/security.md "Hostile guest"): each attack
 * class of tests/hostile/ runs in its own VM on the ASan/UBSan build of sandbox-vmm, with
 * seccomp on, every device attached (virtio-blk, -vsock with a host listener, -rng, -net on a
 * tap; virtio-fs with virtiofsd behind it in two cases of its own). Each case asserts: no sanitizer
 * report, an orderly VMM exit (status 0 after the guest's reset), every device still served a sane
 * request after the attack, nothing left behind (vsock socket, tap), and a well-behaved neighbour
 * VM running the whole time still answers.
 */
#include "harness.h"

#include <sys/un.h>

#include "../../microvm/legacy.h"

#define GUEST_MEM_MIB "32"
#define VSOCK_PORT 1024
#define DISK_BYTES (1 << 20)
#define BYSTANDER_TIMEOUT_S 30
#define VMM_TIMEOUT_S "120"

static char dir[64] = "/tmp/sandbox-hostile.XXXXXX";
/* bystander_pid: a process of ours that waits for the neighbour's VMM (bystander_vmm) and
 * writes its wait status to bystander.status, so a test (a child of check) can read it. */
static pid_t listener_pid = -1, bystander_pid = -1, bystander_vmm = -1;
static int pings;

static char *tmp_path(const char *name)
{
	static char bufs[16][256];
	static int i;
	char *b = bufs[i++ % 16];
	snprintf(b, 256, "%s/%s", dir, name);
	return b;
}

static void write_file(const char *path, long off, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, len, off), (ssize_t)len);
	close(fd);
}

static char *read_text(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (ssize_t i = 0; i < n; i++) /* the attacks write NUL bytes to the console */
		buf[i] = buf[i] ? buf[i] : ' ';
	return buf;
}

/* The end of a long text: check cannot carry a message of many KiB to its parent. */
static const char *tail(const char *text)
{
	size_t n = strlen(text);
	return n > 1500 ? text + n - 1500 : text;
}

/* A disk whose sector 0 starts with the text the guest's service check expects. */
static void make_disk(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK_BYTES), 0);
	close(fd);
	write_file(path, 0, "HOSTILE-DISK", 12);
}

/* The host end of vsock port VSOCK_PORT: accepts, reads and discards, forever. */
static void listener_run(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0)
		_exit(1);
	struct pollfd p[65] = {{.fd = s, .events = POLLIN}};
	for (int i = 1; i < 65; i++)
		p[i].fd = -1;
	for (;;) {
		if (poll(p, 65, -1) < 0)
			continue;
		if (p[0].revents) {
			int c = accept(s, NULL, NULL);
			for (int i = 1; i < 65 && c >= 0; i++)
				if (p[i].fd < 0) {
					p[i] = (struct pollfd){.fd = c, .events = POLLIN};
					c = -1;
				}
			if (c >= 0)
				close(c);
		}
		char buf[65536];
		for (int i = 1; i < 65; i++)
			if (p[i].fd >= 0 && p[i].revents && read(p[i].fd, buf, sizeof(buf)) <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
			}
	}
}

static pid_t spawn(char *const argv[], const char *err_path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(126);
	}
	return pid;
}

static void wait_for_file(const char *path)
{
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
		usleep(10000);
}

/* The sanitizers must be able to report under the VMM's seccomp filters: no alternate signal
 * stack (sigaltstack is not on the list) and no symbolizer process. */
static void sanitizer_env(void)
{
	setenv("ASAN_OPTIONS", "detect_leaks=0:use_sigaltstack=0:symbolize=0", 1);
	setenv("UBSAN_OPTIONS", "print_stacktrace=1:symbolize=0", 1);
}

static void fixture_up(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	sanitizer_env();
	make_disk(tmp_path("disk.img"));
	make_disk(tmp_path("bystander.img"));
	write_file(tmp_path("initrd"), 0, "unused", 6);
	char vs_port[256];
	snprintf(vs_port, sizeof(vs_port), "%s_%d", tmp_path("vsock.sock"), VSOCK_PORT);
	listener_pid = fork();
	if (listener_pid == 0)
		listener_run(vs_port);
	wait_for_file(vs_port);
	/* The neighbour: the same tiny guest in well-behaved mode, on the same ASan VMM. */
	char *argv[] = {h_path("asan/sandbox-vmm"),
			"--kernel",
			h_path("hostile/guest.elf"),
			"--initrd",
			tmp_path("initrd"),
			"--memory",
			GUEST_MEM_MIB,
			"--disk",
			tmp_path("bystander.img"),
			"--rng",
			"--serial-log",
			tmp_path("bystander.log"),
			"--cmdline",
			"hostile=bystander",
			NULL};
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	bystander_pid = fork();
	if (bystander_pid == 0) {
		pid_t vmm = spawn(argv, tmp_path("bystander.err"));
		if (write(p[1], &vmm, sizeof(vmm)) != sizeof(vmm))
			_exit(1);
		int st = 0;
		waitpid(vmm, &st, 0);
		char text[16];
		int n = snprintf(text, sizeof(text), "%d", st);
		write_file(tmp_path("bystander.status"), 0, text, (size_t)n);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &bystander_vmm, sizeof(bystander_vmm)), sizeof(bystander_vmm));
	close(p[0]);
}

static void fixture_down(void)
{
	if (bystander_vmm > 0)
		kill(bystander_vmm, SIGKILL);
	if (bystander_pid > 0)
		waitpid(bystander_pid, NULL, 0);
	if (listener_pid > 0 && kill(listener_pid, SIGKILL) == 0)
		waitpid(listener_pid, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void assert_no_sanitizer_report(const char *who, const char *err)
{
	static const char *marks[] = {"AddressSanitizer", "LeakSanitizer", "runtime error",
				      "SUMMARY:"};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		ck_assert_msg(!strstr(err, marks[i]), "%s: sanitizer report:\n%.1500s", who,
			      strstr(err, marks[i]));
}

/* The neighbour answers a new PING within the timeout (it polls its disk every 20 ms). */
static void assert_bystander_answers(void)
{
	char ping[32], pong[32];
	snprintf(ping, sizeof(ping), "PING %d-%d", getpid(), ++pings);
	snprintf(pong, sizeof(pong), "PONG %d-%d\n", getpid(), pings);
	char sector[512] = {0};
	memcpy(sector, ping, strlen(ping));
	write_file(tmp_path("bystander.img"), 512, sector, sizeof(sector));
	for (int i = 0; i < BYSTANDER_TIMEOUT_S * 20; i++) {
		if (strstr(read_text(tmp_path("bystander.log")), pong))
			return;
		ck_assert_msg(access(tmp_path("bystander.status"), F_OK) != 0,
			      "the neighbour VM died: %s",
			      tail(read_text(tmp_path("bystander.err"))));
		usleep(50000);
	}
	ck_abort_msg("the neighbour VM did not answer '%s'; its console:\n%s", ping,
		     tail(read_text(tmp_path("bystander.log"))));
}

/* The VMM removes its vsock socket and its tap goes with it. Whatever is left is removed here
 * at once, so that one failing case does not fail the next ones; the caller asserts later. */
static void remove_leftovers(const char *tap, bool *sock_left, bool *tap_left)
{
	*sock_left = unlink(tmp_path("vsock.sock")) == 0;
	char sys[64], cmd[96];
	snprintf(sys, sizeof(sys), "/sys/class/net/%s", tap);
	*tap_left = access(sys, F_OK) == 0;
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", tap);
	if (*tap_left && system(cmd) != 0)
		fprintf(stderr, "could not delete tap %s\n", tap);
}

static int count(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* The ASan VMM's command line for the hostile guest: the fixed part, the device options
 * (`devices`, NULL-terminated), the console log and the kernel command line. */
#define VMM_ARGV_MAX 48
static void vmm_argv(char **argv, const char *cpus, char *const *devices, const char *log,
		     const char *cmdline)
{
	char *fixed[] = {"/usr/bin/timeout",
			 "-s",
			 "KILL",
			 VMM_TIMEOUT_S,
			 h_path("asan/sandbox-vmm"),
			 "--cpus",
			 (char *)cpus,
			 "--kernel",
			 h_path("hostile/guest.elf"),
			 "--initrd",
			 tmp_path("initrd"),
			 "--memory",
			 GUEST_MEM_MIB};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[n++] = fixed[i];
	for (; devices && *devices && n < VMM_ARGV_MAX - 5; devices++)
		argv[n++] = *devices;
	argv[n++] = "--serial-log";
	argv[n++] = (char *)log;
	argv[n++] = "--cmdline";
	argv[n++] = (char *)cmdline;
	argv[n] = NULL;
}

/* Boots the hostile guest with `attack` in a VM of `cpus` vCPUs with every device, and checks
 * what every case needs: no sanitizer report, VMM exit 0, no vsock socket or tap left behind.
 * Returns the guest's console. */
static const char *run_vm(const char *attack, const char *cpus)
{
	char tap[16], cmdline[128], log[64];
	snprintf(tap, sizeof(tap), "sbxh%d", getpid() % 100000);
	snprintf(cmdline, sizeof(cmdline), "hostile=%s hostile.port=%d", attack, VSOCK_PORT);
	snprintf(log, sizeof(log), "%s.log", attack);
	char net[32];
	snprintf(net, sizeof(net), "tap=%s", tap);
	unlink(tmp_path("boot-timer"));
	char *devices[] = {"--disk",
			   tmp_path("disk.img"),
			   "--rng",
			   "--vsock-cid",
			   "3",
			   "--vsock-uds",
			   tmp_path("vsock.sock"),
			   "--net",
			   net,
			   "--boot-timer",
			   tmp_path("boot-timer"),
			   NULL};
	char *argv[VMM_ARGV_MAX];
	vmm_argv(argv, cpus, devices, tmp_path(log), cmdline);
	struct cmd_result r;
	h_run(argv, &r);
	const char *con = read_text(tmp_path(log));
	bool sock_left, tap_left;
	remove_leftovers(tap, &sock_left, &tap_left);
	assert_no_sanitizer_report(attack, r.err);
	ck_assert_msg(r.status == 0, "%s: VMM exit %d\nstderr:\n%s\nconsole:\n%s", attack, r.status,
		      tail(r.err), tail(con));
	ck_assert_msg(!sock_left, "vsock socket left behind");
	ck_assert_msg(!tap_left, "tap %s left behind", tap);
	h_free(&r);
	return con;
}

/* Runs one attack class in its own VM and checks everything the header promises. */
static void run_attack_on(const char *attack, const char *cpus)
{
	const char *con = run_vm(attack, cpus);
	char end[64];
	snprintf(end, sizeof(end), "ATTACK %s end\n", attack);
	ck_assert_msg(strstr(con, end) && strstr(con, "HOSTILE DONE"),
		      "%s: guest did not finish:\n%s", attack, tail(con));
	ck_assert_msg(!strstr(con, "BAD ") && !strstr(con, " FAIL "), "%s: %s", attack,
		      tail(strstr(con, "BAD ") ? strstr(con, "BAD ") : strstr(con, " FAIL ")));
	/* blk, vsock, rng, net: each answered its service check after the attack. */
	ck_assert_msg(count(con, "CHECK ") == 4 && count(con, " ok\n") == 4,
		      "%s: service checks:\n%s", attack, tail(con));
	/* The guest wrote port 0x440 6,000 times: the file stops at its limit and says so. */
	if (strcmp(attack, "legacy") == 0) {
		const char *bt = read_text(tmp_path("boot-timer"));
		ck_assert_msg((unsigned)count(bt, "\n") == LEGACY_BOOT_TIMER_MAX_LINES + 1 &&
				  count(bt, " boot-timer-limit-reached ") == 1,
			      "boot-timer file: %d lines, ends:\n%s", count(bt, "\n"), tail(bt));
	}
	assert_bystander_answers();
}

static void run_attack(const char *attack)
{
	run_attack_on(attack, "1");
}

#define ATTACK_TEST(fn, name)                                                                      \
	START_TEST(fn)                                                                             \
	{                                                                                          \
		run_attack(name);                                                                  \
	}                                                                                          \
	END_TEST

ATTACK_TEST(test_regs, "regs")
ATTACK_TEST(test_features, "features")
ATTACK_TEST(test_queues, "queues")
ATTACK_TEST(test_mmio_unclaimed, "mmio")
ATTACK_TEST(test_pio, "pio")
ATTACK_TEST(test_legacy, "legacy")
ATTACK_TEST(test_desc_addr, "desc-addr")
ATTACK_TEST(test_desc_loop, "desc-loop")
ATTACK_TEST(test_desc_len, "desc-len")
ATTACK_TEST(test_indirect, "indirect")
ATTACK_TEST(test_chains, "chains")
ATTACK_TEST(test_notify_flood, "notify-flood")
ATTACK_TEST(test_vsock, "vsock")
ATTACK_TEST(test_net, "net")
ATTACK_TEST(test_width, "width")

/* Two vCPUs: the second hammers each device's registers while the first drives its queues. */
START_TEST(test_race)
{
	run_attack_on("race", "2");
}
END_TEST

/* The same race, ended by the second vCPU's reset (i8042) in the middle of it: the VMM stops
 * both vCPUs and tears the devices down while requests are in flight. */
START_TEST(test_race_reset)
{
	const char *con = run_vm("race-reset", "2");
	ck_assert_msg(strstr(con, "ATTACK race-reset begin") && !strstr(con, "BAD ") &&
			  !strstr(con, "HOSTILE DONE"),
		      "race-reset: %s", tail(con));
	assert_bystander_answers();
}
END_TEST

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/*
 * virtio-fs with a real vhost-user back end (virtiofsd, a fresh one per VM). The VMM owns the
 * transport and hands the rings to virtiofsd; after one bad chain virtiofsd gives up on the
 * queue for good (libvhost-user "panics"), which hurts only this VM's shares. So: register-level
 * attacks must leave the share working; ring attacks must leave the VMM and the disk working.
 */
static void run_fs(const char *attacks, bool fs_must_work)
{
	if (access(VIRTIOFSD, X_OK) != 0) {
		fprintf(stderr, "SKIP: %s not installed\n", VIRTIOFSD);
		return;
	}
	mkdir(tmp_path("share"), 0755);
	unlink(tmp_path("fs.sock"));
	char sock_opt[300], src_opt[300], fs_opt[300], cmdline[160];
	snprintf(sock_opt, sizeof(sock_opt), "--socket-path=%s", tmp_path("fs.sock"));
	snprintf(src_opt, sizeof(src_opt), "source=%s", tmp_path("share"));
	snprintf(fs_opt, sizeof(fs_opt), "tag=hostile,socket=%s", tmp_path("fs.sock"));
	snprintf(cmdline, sizeof(cmdline), "hostile=%s%s", attacks,
		 fs_must_work ? "" : " hostile.skipcheck=fs");
	char *vfs[] = {VIRTIOFSD, sock_opt, "-o", src_opt, "-o", "cache=none", NULL};
	pid_t daemon = spawn(vfs, tmp_path("virtiofsd.err"));
	wait_for_file(tmp_path("fs.sock"));
	char *devices[] = {"--disk", tmp_path("disk.img"), "--fs", fs_opt, NULL};
	char *argv[VMM_ARGV_MAX];
	/* Two vCPUs for the race attack; the other attacks leave the second waiting for a SIPI. */
	vmm_argv(argv, "2", devices, tmp_path("fs.log"), cmdline);
	struct cmd_result r;
	h_run(argv, &r);
	kill(daemon, SIGKILL);
	waitpid(daemon, NULL, 0);
	const char *con = read_text(tmp_path("fs.log"));
	assert_no_sanitizer_report("fs", r.err);
	ck_assert_msg(r.status == 0 && strstr(con, "HOSTILE DONE"), "fs: VMM exit %d\n%s\n%s",
		      r.status, tail(r.err), tail(con));
	int nattacks = count(con, "ATTACK ") / 2;
	ck_assert_msg(!strstr(con, "BAD ") && !strstr(con, " FAIL ") &&
			  count(con, "CHECK blk") == nattacks &&
			  count(con, "CHECK fs") == (fs_must_work ? nattacks : 0),
		      "fs: %s", tail(con));
	h_free(&r);
	assert_bystander_answers();
}

START_TEST(test_fs_registers)
{
	run_fs("regs,mmio,width", true);
}
END_TEST

START_TEST(test_fs_rings)
{
	run_fs("desc-addr,desc-loop,indirect,race", false);
}
END_TEST

/* A guest that prints a kernel-panic line ends its VM with status 3 and a clear message. */
START_TEST(test_panic_line_stops_vm)
{
	char *argv[VMM_ARGV_MAX];
	vmm_argv(argv, "1", NULL, tmp_path("panic.log"), "hostile=panic");
	struct cmd_result r;
	h_run(argv, &r);
	assert_no_sanitizer_report("panic", r.err);
	ck_assert_msg(r.status == 3 && strstr(r.err, "guest kernel panic: Kernel panic - hostile"),
		      "exit %d: %s", r.status, tail(r.err));
	h_free(&r);
}
END_TEST

/* Last: the neighbour stops on request, cleanly, and its sanitizers saw nothing either. */
START_TEST(test_neighbour_untouched)
{
	assert_bystander_answers();
	char sector[512] = "STOP";
	write_file(tmp_path("bystander.img"), 512, sector, sizeof(sector));
	for (int i = 0; i < BYSTANDER_TIMEOUT_S * 20 && access(tmp_path("bystander.status"), F_OK);
	     i++)
		usleep(50000);
	int st = atoi(read_text(tmp_path("bystander.status")));
	const char *err = read_text(tmp_path("bystander.err"));
	assert_no_sanitizer_report("neighbour", err);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "neighbour status %#x: %s", st,
		      tail(err));
	const char *con = read_text(tmp_path("bystander.log"));
	ck_assert_msg(strstr(con, "BYSTANDER stopping") && !strstr(con, "BAD "), "%s", tail(con));
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile guest");
	TCase *tc = tcase_create("attacks");
	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, fixture_up, fixture_down);
	tcase_add_test(tc, test_regs);
	tcase_add_test(tc, test_features);
	tcase_add_test(tc, test_queues);
	tcase_add_test(tc, test_mmio_unclaimed);
	tcase_add_test(tc, test_pio);
	tcase_add_test(tc, test_legacy);
	tcase_add_test(tc, test_desc_addr);
	tcase_add_test(tc, test_desc_loop);
	tcase_add_test(tc, test_desc_len);
	tcase_add_test(tc, test_indirect);
	tcase_add_test(tc, test_chains);
	tcase_add_test(tc, test_notify_flood);
	tcase_add_test(tc, test_vsock);
	tcase_add_test(tc, test_net);
	tcase_add_test(tc, test_width);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_race_reset);
	tcase_add_test(tc, test_fs_registers);
	tcase_add_test(tc, test_fs_rings);
	tcase_add_test(tc, test_panic_line_stops_vm);
	tcase_add_test(tc, test_neighbour_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* No VM templates here: the guest is not Linux and boots in well under a second. */
	(void)h_template_dir_init;
	(void)h_template_dir_done;
	h_require_kvm();
	if (access(h_path("asan/sandbox-vmm"), X_OK) || access(h_path("hostile/guest.elf"), R_OK)) {
		fprintf(stderr, "test_hostile: build it with `make B=%s %s/tests/test_hostile`\n",
			h_build(), h_build());
		return 1;
	}
	SRunner *sr = srunner_create(hostile_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
