/*
 * Networking end to end (docs/networking.md): real sandboxes on the default network and in a
 * network namespace the test sets up like a CNI plugin would. Five VM runs in all:
 *   1. a sandbox whose `sandbox` process is SIGKILLed: its lease and ports are left behind ...
 *   2. ... and swept when the next sandbox starts; that one serves HTTP through -p, and
 *   3. a second sandbox next to it reaches an "outside" host (a namespace behind the host, via
 *      NAT) but neither the first sandbox nor a host service;
 *   4. a sandbox in a namespace + veth made here serves the veth's other end;
 *   5. a sandbox whose VMM is SIGKILLed;
 * and after each: no tap, no nft map element, no tc qdisc, no lease left.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define LEASE_DIR "/run/sandbox-net"
#define NS_NAME "sbxtest-cni"
#define NS_PATH "/var/run/netns/" NS_NAME
#define OUT_NS "sbxtest-out"
/* Everything is slow on emulated KVM with other VMs around: be patient, but bounded. */
#define READY_TIMEOUT_S 400
#define HTTP_TIMEOUT_S 180

/* A `sandbox run` in the background with its stdout collected. */
struct bg {
	pid_t pid;
	int out;
	char buf[16384];
	size_t len;
};

static void bg_start(struct bg *b, char *const argv[])
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	b->pid = fork();
	ck_assert_int_ge(b->pid, 0);
	if (b->pid == 0) {
		/* A failed assertion ends the test process: the sandbox must not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		for (int fd = 3; fd < 64; fd++)
			close(fd);
		execv(argv[0], argv);
		_exit(126);
	}
	close(p[1]);
	b->out = p[0];
	b->len = 0;
	b->buf[0] = '\0';
}

/* Reads until `marker` is in the output (true) or timeout / EOF (false). */
static bool bg_wait_for(struct bg *b, const char *marker, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	while (!strstr(b->buf, marker)) {
		int left = (int)(end - time(NULL));
		struct pollfd p = {.fd = b->out, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left * 1000) <= 0)
			return false;
		ssize_t n = read(b->out, b->buf + b->len, sizeof(b->buf) - 1 - b->len);
		if (n <= 0)
			return false;
		b->len += (size_t)n;
		b->buf[b->len] = '\0';
	}
	return true;
}

/* Sends sig (0: none) and reaps; returns the exit status as a shell shows it. */
static int bg_end(struct bg *b, int sig)
{
	if (sig)
		kill(b->pid, sig);
	while (bg_wait_for(b, "\x01never", 600))
		;
	int st;
	ck_assert_int_eq(waitpid(b->pid, &st, 0), b->pid);
	close(b->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *sh_out(const char *cmd)
{
	static char out[8192];
	FILE *f = popen(cmd, "r");
	size_t n = f ? fread(out, 1, sizeof(out) - 1, f) : 0;
	out[n] = '\0';
	if (f)
		pclose(f);
	return out;
}

static char *sh_out_fmt(const char *fmt, unsigned v)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), fmt, v);
	return sh_out(cmd);
}

/* The sandbox id from "ID=<id>" in its output (the guest prints its hostname). */
static void id_from(const char *text, char id[13])
{
	const char *p = strstr(text, "ID=");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "ID=%12[0-9a-f]", id), 1);
}

static void sandbox_id(const struct bg *b, char id[13])
{
	id_from(b->buf, id);
}

/* A host TCP service on every address (the bridge's too) answering "host-svc". */
static pid_t host_service(unsigned port)
{
	char p[16];
	snprintf(p, sizeof(p), "%u", port);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		execl("/bin/busybox", "busybox", "nc", "-ll", "-p", p, "-e", "echo", "host-svc",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static bool lease_of(const char *id)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "grep -l 'id %s' " LEASE_DIR "/lease-* 2>/dev/null", id);
	return sh_out(cmd)[0] != '\0';
}

static bool port_published(unsigned port)
{
	char needle[32];
	snprintf(needle, sizeof(needle), "tcp . %u :", port);
	return strstr(sh_out("nft list map inet sandbox publish 2>/dev/null"), needle) != NULL;
}

static void assert_nothing_left(const char *id, unsigned port)
{
	char tap[32];
	snprintf(tap, sizeof(tap), "sbx%s", id);
	ck_assert_msg(if_nametoindex(tap) == 0, "tap %s left behind", tap);
	ck_assert_msg(!lease_of(id), "lease of %s left behind", id);
	if (port)
		ck_assert_msg(!port_published(port), "port %u still published", port);
	ck_assert_int_eq(h_count_vmms_using(id), 0);
}

static unsigned test_port(unsigned off)
{
	return 20000u + (unsigned)getpid() % 20000u + off;
}

static void run_argv(char **argv, size_t max, const char *net, const char *publish,
		     const char *script)
{
	size_t n = 0;
	argv[n++] = h_path("sandbox");
	argv[n++] = "run";
	if (h_cold())
		argv[n++] = "--no-template";
	if (net) {
		argv[n++] = "--network";
		argv[n++] = (char *)net;
	}
	if (publish) {
		argv[n++] = "-p";
		argv[n++] = (char *)publish;
	}
	argv[n++] = "--rootfs";
	argv[n++] = h_path("rootfs-busybox");
	argv[n++] = "--";
	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = (char *)script;
	argv[n] = NULL;
	ck_assert_uint_lt(n, max);
}

#define SERVE_SCRIPT                                                                               \
	"mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && httpd -p 80 -h /www "   \
	"&& ip -4 -o addr show eth0 && echo ID=$(hostname) READY && sleep 900"

/* An "outside" network: a namespace behind the host serving "outside-ok" on 10.98.0.2:PORT. */
static pid_t outside_up(unsigned port)
{
	char p[16];
	sh("ip netns del " OUT_NS " 2>/dev/null; ip link del sbxtout0 2>/dev/null");
	ck_assert_int_eq(
	    sh("ip netns add " OUT_NS " && ip link add name sbxtout0 type veth peer "
	       "name sbxtout1 && ip link set sbxtout1 netns " OUT_NS
	       " && ip addr add 10.98.0.1/24 dev sbxtout0 && ip link set sbxtout0 up && "
	       "ip -n " OUT_NS " addr add 10.98.0.2/24 dev sbxtout1 && ip -n " OUT_NS
	       " link set sbxtout1 up && ip -n " OUT_NS " route add default via 10.98.0.1"),
	    0);
	snprintf(p, sizeof(p), "%u", port);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		execlp("ip", "ip", "netns", "exec", OUT_NS, "busybox", "nc", "-ll", "-p", p, "-e",
		       "echo", "outside-ok", (char *)NULL);
		_exit(127);
	}
	/* Serving before any guest relies on it. */
	char *got = "";
	for (int i = 0; i < 50 && !strstr(got, "outside-ok"); i++) {
		usleep(200000);
		got = sh_out_fmt("busybox nc -w 2 10.98.0.2 %u </dev/null", port);
	}
	ck_assert_msg(strstr(got, "outside-ok"), "the outside server does not answer");
	return pid;
}

static void outside_down(pid_t server)
{
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	sh("ip netns pids " OUT_NS " 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del " OUT_NS
	   " 2>/dev/null; ip link del sbxtout0 2>/dev/null");
}

/* Cases 1-3: stale state swept, -p, isolation and NAT. */
START_TEST(default_network)
{
	char *argv[32];
	char pub[32], id0[13], id1[13], id2[13];
	unsigned port = test_port(0), stale_port = test_port(1), host_svc = test_port(2),
		 out_port = test_port(3);
	/* 1: SIGKILL `sandbox` itself: its VMM dies with it (PDEATHSIG), lease and port stay. */
	struct bg k;
	snprintf(pub, sizeof(pub), "%u:80", stale_port);
	run_argv(argv, 32, NULL, pub, "echo ID=$(hostname) READY; sleep 900");
	bg_start(&k, argv);
	ck_assert_msg(bg_wait_for(&k, "READY", READY_TIMEOUT_S), "no READY: %s", k.buf);
	sandbox_id(&k, id0);
	ck_assert(lease_of(id0) && port_published(stale_port));
	ck_assert_int_eq(bg_end(&k, SIGKILL), 128 + SIGKILL);
	for (int i = 0; i < 100 && h_count_vmms_using(id0); i++)
		usleep(100000);
	ck_assert(lease_of(id0) && port_published(stale_port)); /* nobody cleaned up ... */

	/* 2: the next start sweeps it; this sandbox serves HTTP on a published port. */
	struct bg a;
	snprintf(pub, sizeof(pub), "%u:80", port);
	run_argv(argv, 32, NULL, pub, SERVE_SCRIPT);
	bg_start(&a, argv);
	ck_assert_msg(bg_wait_for(&a, "READY", READY_TIMEOUT_S), "no READY: %s", a.buf);
	sandbox_id(&a, id1);
	assert_nothing_left(id0, stale_port); /* ... until now */
	char a_ip[32] = "";
	const char *inet = strstr(a.buf, "inet 10.213.");
	ck_assert_msg(inet && sscanf(inet, "inet %31[0-9.]/16", a_ip) == 1, "no address: %s",
		      a.buf);
	char want[64];
	snprintf(want, sizeof(want), "hello-from-%s", id1);
	ck_assert_ptr_nonnull(strstr(h_http_get("127.0.0.1", port, HTTP_TIMEOUT_S), want));
	ck_assert_ptr_nonnull(strstr(h_http_get(a_ip, 80, 60), want));

	/* 3: a neighbour reaches the outside through NAT, but not sandbox 2 nor the host. */
	pid_t out_srv = outside_up(out_port);
	char script[1024];
	pid_t svc = host_service(host_svc);
	/*
	 * One client for the positive and the negative checks alike: busybox nc's status says
	 * whether the TCP connection was made, which does not depend on how slowly a loaded,
	 * emulated guest answers.
	 */
	snprintf(script, sizeof(script),
		 "echo ID=$(hostname); "
		 "for i in 1 2 3; do nc -w 30 10.98.0.2 %u </dev/null && echo CONNECTED-OUTSIDE "
		 "&& break; done; "
		 "nc -w 20 %s 80 </dev/null && echo REACHED-NEIGHBOUR; "
		 "nc -w 20 10.213.0.1 %u </dev/null && echo REACHED-HOST; "
		 "nc -w 20 10.213.0.1 %u </dev/null && echo REACHED-PUBLISHED; echo B-DONE",
		 out_port, a_ip, host_svc, port);
	struct cmd_result b;
	run_argv(argv, 32, NULL, NULL, script);
	h_run(argv, &b);
	kill(svc, SIGTERM);
	waitpid(svc, NULL, 0);
	outside_down(out_srv);
	ck_assert_msg(strstr(b.out, "B-DONE"), "neighbour did not finish: %s / %s", b.out, b.err);
	id_from(b.out, id2);
	assert_nothing_left(id2, 0);
	ck_assert_msg(strstr(b.out, "CONNECTED-OUTSIDE"), "no NAT to the outside: %s / %s", b.out,
		      b.err);
	ck_assert_msg(!strstr(b.out, "REACHED-"), "isolation broken: %s", b.out);
	h_free(&b);

	ck_assert_int_eq(bg_end(&a, SIGTERM), 128 + SIGTERM);
	assert_nothing_left(id1, port);
}
END_TEST

/* Case 4: a namespace + veth made like a CNI plugin would; served from the veth's other end. */
START_TEST(cni_namespace)
{
	sh("ip netns del " NS_NAME " 2>/dev/null; ip link del sbxtcni0 2>/dev/null");
	ck_assert_int_eq(sh("ip netns add " NS_NAME " && ip link add name sbxtcni0 type veth peer "
			    "name eth0 netns " NS_NAME
			    " && ip addr add 10.97.0.1/24 dev sbxtcni0 && "
			    "ip link set sbxtcni0 up && ip -n " NS_NAME
			    " addr add 10.97.0.2/24 dev eth0 && ip -n " NS_NAME
			    " link set eth0 mtu 1400 up && ip -n " NS_NAME
			    " link set lo up && ip -n " NS_NAME " route add default via 10.97.0.1"),
			 0);
	char *mac = strdup(sh_out("ip -n " NS_NAME " -o link show eth0 | "
				  "sed -n 's/.*link\\/ether \\([0-9a-f:]*\\).*/\\1/p'"));
	char *argv[32];
	run_argv(argv, 32, "ns:" NS_PATH, NULL, "ip -o link show eth0; ip route; " SERVE_SCRIPT);
	struct bg a;
	bg_start(&a, argv);
	ck_assert_msg(bg_wait_for(&a, "READY", READY_TIMEOUT_S), "no READY: %s", a.buf);
	char id[13];
	sandbox_id(&a, id);
	/* The guest has the namespace's address, MTU, MAC and default route. */
	ck_assert_msg(strstr(a.buf, "inet 10.97.0.2/24"), "%s", a.buf);
	ck_assert_msg(strstr(a.buf, "mtu 1400"), "%s", a.buf);
	mac[strcspn(mac, "\n")] = '\0';
	ck_assert_msg(mac[0] && strstr(a.buf, mac), "MAC %s not in %s", mac, a.buf);
	ck_assert_msg(strstr(a.buf, "default via 10.97.0.1"), "%s", a.buf);
	ck_assert_ptr_nonnull(
	    strstr(sh_out("ip netns exec " NS_NAME " tc filter show dev eth0 ingress"), "mirred"));
	char want[64];
	snprintf(want, sizeof(want), "hello-from-%s", id);
	ck_assert_ptr_nonnull(strstr(h_http_get("10.97.0.2", 80, HTTP_TIMEOUT_S), want));
	ck_assert_int_eq(bg_end(&a, SIGTERM), 128 + SIGTERM);
	/* The namespace is as the plugin left it: no tap, no qdisc. */
	ck_assert_str_eq(sh_out("ip netns exec " NS_NAME " tc qdisc show dev eth0 ingress"), "");
	ck_assert_ptr_null(strstr(sh_out("ip -n " NS_NAME " -o link"), "sbx"));
	sh("ip netns del " NS_NAME "; ip link del sbxtcni0 2>/dev/null");
	free(mac);
}
END_TEST

/* The VMM's pid: the sandbox-vmm child of `sandbox` pid. */
static pid_t vmm_of(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && (e = readdir(d)) && !found) {
		char p[300], comm[64];
		int pid, ppid;
		snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fscanf(f, "%d (%63[^)]) %*c %d", &pid, comm, &ppid) == 3 && ppid == parent &&
		    !strcmp(comm, "sandbox-vmm"))
			found = pid;
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* Case 5: SIGKILL of the VMM: `sandbox` fails (125) and removes tap, lease and port. */
START_TEST(vmm_killed)
{
	char *argv[32], pub[32], id[13];
	unsigned port = test_port(4);
	snprintf(pub, sizeof(pub), "%u:80", port);
	run_argv(argv, 32, NULL, pub, "echo ID=$(hostname) READY; sleep 900");
	struct bg a;
	bg_start(&a, argv);
	ck_assert_msg(bg_wait_for(&a, "READY", READY_TIMEOUT_S), "no READY: %s", a.buf);
	sandbox_id(&a, id);
	pid_t vmm = vmm_of(a.pid);
	ck_assert_int_gt(vmm, 0);
	ck_assert_int_eq(kill(vmm, SIGKILL), 0);
	ck_assert_int_eq(bg_end(&a, 0), 125);
	assert_nothing_left(id, port);
}
END_TEST

/* Bad input: one line naming it, exit 125, nothing started. */
START_TEST(bad_options)
{
	const char *bad[][2] = {{"-p", "80"},
				{"-p", "0:80"},
				{"-p", "8080:80/sctp"},
				{"--network", "bridge"},
				{"--network", "ns:/nonexistent/netns"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {h_path("sandbox"),
				"run",
				(char *)bad[i][0],
				(char *)bad[i][1],
				"--rootfs",
				h_path("rootfs-busybox"),
				"--",
				"true",
				NULL};
		struct cmd_result r;
		h_run(argv, &r);
		ck_assert_msg(r.status == 125, "%s %s: status %d", bad[i][0], bad[i][1], r.status);
		ck_assert_msg(strstr(r.err, "sandbox:") &&
				  strchr(r.err, '\n') == r.err + r.err_len - 1,
			      "%s %s: %s", bad[i][0], bad[i][1], r.err);
		h_free(&r);
	}
}
END_TEST

int main(void)
{
	(void)h_count_entries; /* harness helper this program does not need */
	h_require_kvm();
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: networking tests need root\n");
		return 77;
	}
	h_template_dir_init();
	Suite *s = suite_create("net");
	/* One case each, so CK_RUN_CASE can pick one. */
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {{"options", bad_options},
		     {"default", default_network},
		     {"netns", cni_namespace},
		     {"kill", vmm_killed}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *c = tcase_create(cases[i].name);
		tcase_set_timeout(c, 1800);
		tcase_add_test(c, cases[i].test);
		suite_add_tcase(s, c);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_template_dir_done();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
