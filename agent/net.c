/*
 * Guest network setup (agent/net.h) with the classic interface ioctls: six or seven system calls,
 * each costly under an emulated guest kernel (../shared/guest-kernel-notes.md), and no netlink
 * message building in PID 1. The container shares the guest's network namespace: a VM is the
 * sandbox's isolation boundary, so eth0 is the container's interface.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"

static void set_sin(struct sockaddr *sa, const uint8_t a[4])
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, a, 4);
}

static void prefix_mask(uint8_t prefix, uint8_t mask[4])
{
	uint32_t m = prefix ? htonl(~0u << (32 - prefix)) : 0;
	memcpy(mask, &m, 4);
}

static int if_ioctl(int s, unsigned long req, struct ifreq *ifr, const char *what,
		    struct sbx_err *err)
{
	if (ioctl(s, req, ifr) < 0)
		return sbx_err_set(err, errno, "network: %s on %s", what, ifr->ifr_name);
	return 0;
}

static int if_up(int s, const char *name, struct sbx_err *err)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int r = if_ioctl(s, SIOCGIFFLAGS, &ifr, "get flags", err);
	if (r < 0)
		return r;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return if_ioctl(s, SIOCSIFFLAGS, &ifr, "bring up", err);
}

/*
 * Interfaces agent_net_prewarm brought up before the template point. Up is the expensive step
 * (virtio-net allocates and posts its receive buffers, the qdisc is attached), so clones start
 * with it done and a run only sets what is its own: MAC, MTU, address, routes.
 */
static bool lo_is_up, eth_is_up;

void agent_net_prewarm(void)
{
	struct sbx_err ignored;
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	lo_is_up = if_up(s, "lo", &ignored) == 0;
	/* No eth0 (a VMM without a network slot) is not an error: a run then has no NET. */
	eth_is_up = if_up(s, AGENT_NET_IF, &ignored) == 0;
}

/* MAC (live: virtio-net allows it while up), MTU, address and netmask of eth0, then up. */
static int eth_config(int s, const struct sbx_net_cfg *n, struct sbx_err *err)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), AGENT_NET_IF);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, n->mac, 6);
	int r = if_ioctl(s, SIOCSIFHWADDR, &ifr, "set MAC", err);
	ifr.ifr_mtu = (int)n->mtu;
	if (r >= 0)
		r = if_ioctl(s, SIOCSIFMTU, &ifr, "set MTU", err);
	set_sin(&ifr.ifr_addr, n->addr);
	if (r >= 0)
		r = if_ioctl(s, SIOCSIFADDR, &ifr, "set address", err);
	uint8_t mask[4];
	prefix_mask(n->prefix, mask);
	set_sin(&ifr.ifr_netmask, mask);
	if (r >= 0)
		r = if_ioctl(s, SIOCSIFNETMASK, &ifr, "set netmask", err);
	return r < 0 || eth_is_up ? r : if_up(s, AGENT_NET_IF, err);
}

static int add_route(int s, const struct sbx_net_route *rt, struct sbx_err *err)
{
	struct rtentry e = {0};
	uint8_t mask[4];
	prefix_mask(rt->prefix, mask);
	set_sin(&e.rt_dst, rt->dst);
	set_sin(&e.rt_genmask, mask);
	set_sin(&e.rt_gateway, rt->gw);
	e.rt_flags = RTF_UP | (rt->prefix == 32 ? RTF_HOST : 0);
	if (rt->gw[0] | rt->gw[1] | rt->gw[2] | rt->gw[3])
		e.rt_flags |= RTF_GATEWAY;
	e.rt_dev = (char *)AGENT_NET_IF;
	/* The address's own subnet route already exists: not an error. */
	if (ioctl(s, SIOCADDRT, &e) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "network: add route %u.%u.%u.%u/%u via %u.%u.%u.%u",
				   rt->dst[0], rt->dst[1], rt->dst[2], rt->dst[3], rt->prefix,
				   rt->gw[0], rt->gw[1], rt->gw[2], rt->gw[3]);
	return 0;
}

/* Replaces root/etc/NAME (never through a symlink the image put there). */
static int write_etc(const char *root, const char *name, const char *text, struct sbx_err *err)
{
	char dir[512], path[600];
	snprintf(dir, sizeof(dir), "%s/etc", root);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "network: mkdir '%s'", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return sbx_err_set(err, errno, "network: replace '/etc/%s'", name);
	cleanup_close int fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return sbx_err_set(err, errno, "network: create '/etc/%s'", name);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return sbx_err_set(err, errno, "network: write '/etc/%s'", name);
		off += (size_t)w;
	}
	return 0;
}

int agent_net_setup(const struct sbx_run_req *req, const char *root, struct sbx_err *err)
{
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return sbx_err_set(err, errno, "network: socket");
	int r = lo_is_up ? 0 : if_up(s, "lo", err);
	if (r >= 0 && req->net.present)
		r = eth_config(s, &req->net, err);
	for (unsigned i = 0; r >= 0 && req->net.present && i < req->net.n_routes; i++)
		r = add_route(s, &req->net.routes[i], err);
	if (r >= 0 && req->resolv_conf)
		r = write_etc(root, "resolv.conf", req->resolv_conf, err);
	if (r >= 0 && req->hosts)
		r = write_etc(root, "hosts", req->hosts, err);
	return r;
}
