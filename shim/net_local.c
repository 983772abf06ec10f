/* Default-network state of one sandbox (shim/net_local.h). */
#include "net_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "net_exec.h"

#define LEASE_PREFIX "lease-"
/* Host numbers handed out: 10.213.0.2 .. 10.213.255.254 (.0.1 is the bridge). */
#define HOST_FIRST 2u
#define HOST_LAST 0xfffeu

static int lock_state(struct sbx_err *err)
{
	if (mkdir(NET_STATE_DIR, 0700) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "create '%s'", NET_STATE_DIR);
	int fd = open(NET_STATE_DIR "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return sbx_err_set(err, errno, "open '%s/lock'", NET_STATE_DIR);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "lock '%s/lock'", NET_STATE_DIR);
	}
	return fd;
}

/* Lease file: "pid <pid>\nid <id>\n" then "port tcp|udp <hostport>\n" per published port. */
static void lease_write(int fd, const char *id, const struct net_publish *p, size_t n)
{
	dprintf(fd, "pid %d\nid %s\n", (int)getpid(), id);
	for (size_t i = 0; i < n; i++)
		dprintf(fd, "port %s %u\n", p[i].udp ? "udp" : "tcp", p[i].host_port);
}

/* The ports of a stale lease, so the sweep can unpublish them; false if the owner lives. */
static bool lease_stale(const char *path, struct net_publish *p, size_t *n)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	char line[128], proto[8];
	int pid = 0;
	unsigned port;
	*n = 0;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "pid %d", &pid) == 1)
			continue;
		if (sscanf(line, "port %7s %u", proto, &port) == 2 && *n < NET_MAX_PUBLISH &&
		    port > 0 && port < 65536)
			p[(*n)++] = (struct net_publish){.host_port = (uint16_t)port,
							 .udp = strcmp(proto, "udp") == 0};
	}
	/* pid 0: a lease being written right now by a holder of the lock; cannot happen here. */
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

void net_local_sweep(void)
{
	DIR *d = opendir(NET_STATE_DIR);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, LEASE_PREFIX, strlen(LEASE_PREFIX)) != 0)
			continue;
		char path[PATH_MAX];
		struct net_publish p[NET_MAX_PUBLISH];
		size_t n;
		snprintf(path, sizeof(path), "%s/%s", NET_STATE_DIR, e->d_name);
		if (!lease_stale(path, p, &n))
			continue;
		net_bridge_unpublish(p, n);
		unlink(path);
	}
	closedir(d);
}

/* Takes the first free address; the lease file is created exclusively. */
static int lease_take(struct net_local *n, const char *id, struct sbx_err *err)
{
	for (unsigned h = HOST_FIRST; h <= HOST_LAST; h++) {
		if ((h & 0xff) == 0 || (h & 0xff) == 0xff)
			continue; /* keep .0/.255 out: some stacks still treat them specially */
		snprintf(n->lease, sizeof(n->lease), "%s/" LEASE_PREFIX "10.213.%u.%u",
			 NET_STATE_DIR, h >> 8, h & 0xff);
		int fd = open(n->lease, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0) {
			int e = errno;
			n->lease[0] = '\0';
			return sbx_err_set(err, e, "create address lease");
		}
		lease_write(fd, id, n->pub, n->npub);
		close(fd);
		uint8_t a[4] = {10, 213, (uint8_t)(h >> 8), (uint8_t)h};
		memcpy(n->cfg.addr, a, 4);
		return 0;
	}
	n->lease[0] = '\0';
	return sbx_err_setx(err, EADDRNOTAVAIL, "default network: no free address in " NET_SUBNET);
}

/* The host's nameservers, unless they are loopback ones a guest cannot reach. */
static void build_resolv_conf(char *out, size_t cap)
{
	cleanup_fclose FILE *f = fopen("/etc/resolv.conf", "re");
	char line[256];
	size_t len = 0;
	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f) && len < cap) {
		char ns[64];
		if (sscanf(line, "nameserver %63s", ns) == 1 &&
		    (strncmp(ns, "127.", 4) == 0 || strchr(ns, ':')))
			continue; /* loopback (systemd-resolved, dnsmasq) or IPv6: not for the guest
				   */
		if (strncmp(line, "nameserver", 10) == 0 || strncmp(line, "search", 6) == 0 ||
		    strncmp(line, "options", 7) == 0)
			len += (size_t)snprintf(out + len, cap - len, "%s", line);
	}
	if (!strstr(out, "nameserver") && len < cap)
		snprintf(out + len, cap - len,
			 "nameserver 10.213.0.1\n"); /* the host, if it serves */
}

static void build_guest_cfg(struct net_local *n, const char *hostname)
{
	static const uint8_t gw[4] = NET_GATEWAY_ADDR;
	const uint8_t *a = n->cfg.addr;
	/* Docker's scheme: 02:42 then the IPv4 address, unique while the lease is held. */
	uint8_t mac[6] = {0x02, 0x42, a[0], a[1], a[2], a[3]};
	memcpy(n->cfg.mac, mac, 6);
	n->cfg.present = true;
	n->cfg.mtu = NET_MTU;
	n->cfg.prefix = NET_PREFIX;
	n->cfg.n_routes = 1;
	n->cfg.routes[0] = (struct sbx_net_route){.prefix = 0};
	memcpy(n->cfg.routes[0].gw, gw, 4);
	build_resolv_conf(n->resolv_conf, sizeof(n->resolv_conf));
	snprintf(n->hosts, sizeof(n->hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "%u.%u.%u.%u\t%s\n",
		 a[0], a[1], a[2], a[3], hostname);
}

static int setup_locked(struct net_local *n, const char *id, struct sbx_err *err)
{
	net_local_sweep();
	int r = net_bridge_ensure(err);
	if (r >= 0)
		r = lease_take(n, id, err);
	if (r < 0)
		return r;
	snprintf(n->tap, sizeof(n->tap), "sbx%.12s", id);
	n->tap_fd = net_tap_create(n->tap, err);
	if (n->tap_fd < 0)
		return n->tap_fd;
	if ((r = net_bridge_attach(n->tap, err)) < 0)
		return r;
	r = net_bridge_publish(n->cfg.addr, n->pub, n->npub, err);
	n->published = r >= 0;
	return r;
}

int net_local_setup(struct net_local *n, const char *id, const char *hostname,
		    const struct net_publish *pub, size_t npub, struct sbx_err *err)
{
	*n = (struct net_local){.tap_fd = -1, .active = true};
	if (npub > NET_MAX_PUBLISH)
		return sbx_err_setx(err, E2BIG, "more than %d published ports", NET_MAX_PUBLISH);
	memcpy(n->pub, pub, npub * sizeof(*pub));
	n->npub = npub;
	cleanup_close int lock = lock_state(err);
	if (lock < 0)
		return lock;
	int r = setup_locked(n, id, err);
	if (r < 0) {
		net_local_teardown(n);
		return r;
	}
	build_guest_cfg(n, hostname);
	return 0;
}

void net_local_to_run(struct net_local *n, struct sbx_run_req *req)
{
	if (!n->active)
		return;
	req->net = n->cfg;
	req->resolv_conf = n->resolv_conf;
	req->hosts = n->hosts;
}

void net_local_teardown(struct net_local *n)
{
	if (!n->active)
		return;
	if (n->published)
		net_bridge_unpublish(n->pub, n->npub);
	n->published = false;
	if (n->tap_fd >= 0)
		close(n->tap_fd); /* the VMM's copy goes with it: the tap and its bridge port vanish
				   */
	n->tap_fd = -1;
	if (n->lease[0])
		unlink(n->lease);
	n->lease[0] = '\0';
	n->active = false;
}
