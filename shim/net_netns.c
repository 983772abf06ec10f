/* Tap + tc mirred wiring inside a CNI-style network namespace (shim/net_netns.h). */
#include "net_netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "net_exec.h"

/* Enters the namespace at path; returns the fd of the one we came from (to go back). */
static int ns_enter(const char *path, struct sbx_err *err)
{
	cleanup_close int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return sbx_err_set(err, errno, "network namespace '%s'", path);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return sbx_err_set(err, errno, "open /proc/thread-self/ns/net");
	if (setns(target, CLONE_NEWNET) < 0) {
		int e = errno;
		close(self);
		return sbx_err_set(err, e, "join network namespace '%s'", path);
	}
	return self;
}

static void ns_leave(int self)
{
	if (self < 0)
		return;
	/* Failing to come back would leave `sandbox` in the pod's namespace: nothing sane to do. */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	close(self);
}

static uint8_t mask_prefix(uint32_t mask_be)
{
	return (uint8_t)__builtin_popcount(mask_be);
}

/* The first up, non-loopback interface with an IPv4 address: its name, address, prefix. */
static int find_iface(struct net_netns *n, struct sbx_err *err)
{
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return sbx_err_set(err, errno, "getifaddrs");
	int r = -ENODEV;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK) || !i->ifa_netmask ||
		    strlen(i->ifa_name) >= sizeof(n->ifname))
			continue;
		snprintf(n->ifname, sizeof(n->ifname), "%s", i->ifa_name);
		memcpy(n->cfg.addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		n->cfg.prefix =
		    mask_prefix(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	if (r < 0)
		return sbx_err_setx(err, ENODEV,
				    "network namespace '%s' has no interface with an IPv4 address",
				    n->path);
	return n->cfg.prefix ? 0 : sbx_err_setx(err, EINVAL, "interface %s: /0 address", n->ifname);
}

static int read_link(struct net_netns *n, struct sbx_err *err)
{
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->ifname);
	if (s < 0 || ioctl(s, SIOCGIFMTU, &ifr) < 0)
		return sbx_err_set(err, errno, "MTU of %s", n->ifname);
	n->cfg.mtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		return sbx_err_set(err, errno, "MAC of %s", n->ifname);
	memcpy(n->cfg.mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* IPv4 routes through the interface, from /proc/net/route (hex, network byte order). */
static void read_routes(struct net_netns *n)
{
	cleanup_fclose FILE *f = fopen("/proc/thread-self/net/route", "re");
	char line[256], dev[32];
	unsigned dst, gw, flags, mask;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n->cfg.n_routes < SBX_NET_MAX_ROUTES) {
		if (sscanf(line, "%31s %x %x %x %*d %*d %*d %x", dev, &dst, &gw, &flags, &mask) !=
			5 ||
		    strcmp(dev, n->ifname) || !(flags & RTF_UP))
			continue;
		struct sbx_net_route *r = &n->cfg.routes[n->cfg.n_routes++];
		memcpy(r->dst, &dst, 4);
		memcpy(r->gw, &gw, 4);
		r->prefix = mask_prefix(mask);
	}
}

static int tc_redirect(const char *from, const char *to, struct sbx_err *err)
{
	const char *q[] = {"tc", "qdisc", "add", "dev", from, "ingress", NULL};
	const char *f[] = {"tc",       "filter", "add",	   "dev",      from,  "parent", "ffff:",
			   "protocol", "all",	 "u32",	   "match",    "u8",  "0",	"0",
			   "action",   "mirred", "egress", "redirect", "dev", to,	NULL};
	int r = net_exec(q, NULL, NULL, 0, err);
	return r < 0 ? r : net_exec(f, NULL, NULL, 0, err);
}

static void tc_remove(const char *dev)
{
	const char *q[] = {"tc", "qdisc", "del", "dev", dev, "ingress", NULL};
	net_exec(q, NULL, NULL, 0, NULL);
}

/* Inside the namespace: tap up with the interface's MTU, then the two redirects. */
static int wire(struct net_netns *n, const char *id, struct sbx_err *err)
{
	snprintf(n->tap, sizeof(n->tap), "sbx%.12s", id);
	n->tap_fd = net_tap_create(n->tap, err);
	if (n->tap_fd < 0)
		return n->tap_fd;
	char mtu[16];
	snprintf(mtu, sizeof(mtu), "%u", n->cfg.mtu);
	const char *up[] = {"ip", "link", "set", "dev", n->tap, "mtu", mtu, "up", NULL};
	int r = net_exec(up, NULL, NULL, 0, err);
	if (r >= 0 && (r = tc_redirect(n->ifname, n->tap, err)) >= 0)
		n->tc_if = true;
	if (r >= 0 && (r = tc_redirect(n->tap, n->ifname, err)) >= 0)
		n->tc_tap = true;
	return r;
}

static void build_files(struct net_netns *n, const char *hostname)
{
	/* A namespace has no DNS of its own: podman/CNI users expect the host's (or the pod's,
	 * which the OCI bundle mounts over this one). */
	cleanup_fclose FILE *f = fopen("/etc/resolv.conf", "re");
	size_t len = f ? fread(n->resolv_conf, 1, sizeof(n->resolv_conf) - 1, f) : 0;
	n->resolv_conf[len] = '\0';
	const uint8_t *a = n->cfg.addr;
	snprintf(n->hosts, sizeof(n->hosts),
		 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "%u.%u.%u.%u\t%s\n",
		 a[0], a[1], a[2], a[3], hostname);
}

int net_netns_setup(struct net_netns *n, const char *netns_path, const char *id,
		    const char *hostname, struct sbx_err *err)
{
	*n = (struct net_netns){.tap_fd = -1, .active = true};
	if (strlen(netns_path) >= sizeof(n->path))
		return sbx_err_setx(err, ENAMETOOLONG, "network namespace path too long");
	strcpy(n->path, netns_path);
	int self = ns_enter(netns_path, err);
	if (self < 0) {
		n->active = false;
		return self;
	}
	int r = find_iface(n, err);
	if (r >= 0 && (r = read_link(n, err)) >= 0) {
		read_routes(n);
		r = wire(n, id, err);
	}
	ns_leave(self);
	if (r < 0) {
		net_netns_teardown(n);
		return sbx_err_wrap(err, "network namespace '%s'", netns_path);
	}
	n->cfg.present = true;
	build_files(n, hostname);
	return 0;
}

void net_netns_to_run(struct net_netns *n, struct sbx_run_req *req)
{
	if (!n->active)
		return;
	req->net = n->cfg;
	req->resolv_conf = n->resolv_conf[0] ? n->resolv_conf : NULL;
	req->hosts = n->hosts;
}

void net_netns_teardown(struct net_netns *n)
{
	if (!n->active)
		return;
	if (n->tap_fd >= 0)
		close(n->tap_fd); /* the tap, and the qdisc on it, go once the VMM's copy is gone */
	n->tap_fd = -1;
	if (n->tc_if) {
		int self = ns_enter(n->path, NULL);
		if (self >= 0) { /* the pod's namespace may be gone already: nothing left then */
			tc_remove(n->ifname);
			ns_leave(self);
		}
	}
	n->tc_if = n->tc_tap = false;
	n->active = false;
}
