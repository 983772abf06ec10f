/* Host bridge, forwarding and nftables rules of the default network (shim/net_bridge.h). */
#include "net_bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "net_exec.h"

/*
 * Why each rule (docs/networking.md): DNAT from the publish map for traffic to any local address
 * (prerouting: from outside; output: from the host itself, e.g. localhost:PORT); masquerade
 * sandboxes going out, and host-loopback sources going in (so localhost:PORT works); from the
 * bridge the host accepts only replies (no host service, loopback or not, is reachable); the
 * bridge never forwards to itself (no sandbox-to-sandbox through the gateway; at layer 2 the
 * ports are isolated), and into it only replies and published ports.
 */
static const char base_rules[] =
    "table inet " NET_NFT_TABLE " {\n"
    "  map publish { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
    "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;\n"
    "    fib daddr type local dnat ip to meta l4proto . th dport map @publish; }\n"
    "  chain output { type nat hook output priority -100; policy accept;\n"
    "    fib daddr type local dnat ip to meta l4proto . th dport map @publish; }\n"
    "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n"
    "    oifname \"" NET_BRIDGE "\" ip saddr 127.0.0.0/8 masquerade;\n"
    "    ip saddr " NET_SUBNET " oifname != \"" NET_BRIDGE "\" masquerade; }\n"
    "  chain input { type filter hook input priority filter; policy accept;\n"
    "    iifname \"" NET_BRIDGE "\" ct state established,related accept;\n"
    "    iifname \"" NET_BRIDGE "\" drop; }\n"
    "  chain forward { type filter hook forward priority filter; policy accept;\n"
    "    iifname \"" NET_BRIDGE "\" oifname \"" NET_BRIDGE "\" drop;\n"
    "    oifname \"" NET_BRIDGE "\" ct state established,related accept;\n"
    "    oifname \"" NET_BRIDGE "\" ct status dnat accept;\n"
    "    oifname \"" NET_BRIDGE "\" drop; }\n"
    "}\n";

static int write_sysctl(const char *path, const char *val, struct sbx_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		return sbx_err_set(err, errno, "write %s to '%s'", val, path);
	return 0;
}

/* Someone else's addresses or routes in our subnet: refuse rather than break their network. */
static int subnet_free(struct sbx_err *err)
{
	char out[512];
	const char *routes[] = {"ip", "-4", "-o", "route", "show", "root", NET_SUBNET, NULL};
	const char *addrs[] = {"ip", "-4", "-o", "addr", "show", "to", NET_SUBNET, NULL};
	int r = net_exec(routes, NULL, out, sizeof(out), err);
	if (r >= 0 && out[0] == '\0')
		r = net_exec(addrs, NULL, out, sizeof(out), err);
	if (r >= 0 && out[0])
		return sbx_err_setx(err, EADDRINUSE,
				    NET_SUBNET " is already used on this host (%.*s)",
				    (int)strcspn(out, "\n"), out);
	return r;
}

static int bridge_create(struct sbx_err *err)
{
	const char *add[] = {"ip", "link", "add", "name", NET_BRIDGE, "type", "bridge", NULL};
	const char *addr[] = {"ip", "addr", "add", "10.213.0.1/16", "dev", NET_BRIDGE, NULL};
	const char *up[] = {"ip", "link", "set", "dev", NET_BRIDGE, "up", NULL};
	int r = subnet_free(err);
	if (r >= 0)
		r = net_exec(add, NULL, NULL, 0, err);
	if (r >= 0 && (r = net_exec(addr, NULL, NULL, 0, err)) < 0) {
		const char *del[] = {"ip", "link", "del", "dev", NET_BRIDGE, NULL};
		net_exec(del, NULL, NULL, 0, NULL);
		return r;
	}
	return r < 0 ? r : net_exec(up, NULL, NULL, 0, err);
}

int net_bridge_ensure(struct sbx_err *err)
{
	int r = 0;
	if (!if_nametoindex(NET_BRIDGE))
		r = bridge_create(err);
	if (r >= 0)
		r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
	/* Lets DNAT'd packets from the host's loopback leave through the bridge (masqueraded). */
	if (r >= 0)
		r = write_sysctl("/proc/sys/net/ipv4/conf/" NET_BRIDGE "/route_localnet", "1", err);
	if (r < 0)
		return sbx_err_wrap(err, "default network");
	const char *list[] = {"nft", "list", "table", "inet", NET_NFT_TABLE, NULL};
	if (net_exec(list, NULL, NULL, 0, NULL) == 0)
		return 0;
	const char *load[] = {"nft", "-f", "-", NULL};
	r = net_exec(load, base_rules, NULL, 0, err);
	return r < 0 ? sbx_err_wrap(err, "default network: nftables table") : 0;
}

int net_bridge_attach(const char *tap, struct sbx_err *err)
{
	const char *link[] = {"ip", "link", "set", "dev", tap, "master", NET_BRIDGE, "up", NULL};
	const char *iso[] = {"bridge", "link", "set", "dev", tap, "isolated", "on", NULL};
	int r = net_exec(link, NULL, NULL, 0, err);
	return r < 0 ? r : net_exec(iso, NULL, NULL, 0, err);
}

static size_t publish_elements(char *buf, size_t cap, const uint8_t *addr,
			       const struct net_publish *p, size_t n)
{
	size_t len = (size_t)snprintf(buf, cap, "{ ");
	for (size_t i = 0; i < n && len < cap; i++) {
		len += (size_t)snprintf(buf + len, cap - len, "%s%s . %u", i ? ", " : "",
					p[i].udp ? "udp" : "tcp", p[i].host_port);
		if (addr && len < cap)
			len +=
			    (size_t)snprintf(buf + len, cap - len, " : %u.%u.%u.%u . %u", addr[0],
					     addr[1], addr[2], addr[3], p[i].guest_port);
	}
	if (len < cap)
		len += (size_t)snprintf(buf + len, cap - len, " }");
	return len;
}

int net_bridge_publish(const uint8_t addr[4], const struct net_publish *p, size_t n,
		       struct sbx_err *err)
{
	char elems[4096];
	if (n == 0)
		return 0;
	if (publish_elements(elems, sizeof(elems), addr, p, n) >= sizeof(elems))
		return sbx_err_setx(err, E2BIG, "too many published ports");
	/* `create` (not `add`) fails on a host port another sandbox already publishes. */
	const char *cmd[] = {"nft",	    "create",  "element", "inet",
			     NET_NFT_TABLE, "publish", elems,	  NULL};
	int r = net_exec(cmd, NULL, NULL, 0, err);
	return r < 0 ? sbx_err_wrap(err, "publish ports (is a port already published?)") : 0;
}

void net_bridge_unpublish(const struct net_publish *p, size_t n)
{
	char elems[64];
	/* One element per call: a missing one must not keep the others. */
	for (size_t i = 0; i < n; i++) {
		publish_elements(elems, sizeof(elems), NULL, &p[i], 1);
		const char *cmd[] = {"nft",	    "delete",  "element", "inet",
				     NET_NFT_TABLE, "publish", elems,	  NULL};
		net_exec(cmd, NULL, NULL, 0, NULL);
	}
}

static int parse_port(const char *s, size_t len, uint16_t *out)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int net_publish_parse(const char *s, struct net_publish *p, struct sbx_err *err)
{
	const char *colon = strchr(s, ':');
	const char *slash = strchr(s, '/');
	*p = (struct net_publish){0};
	if (slash) {
		if (strcmp(slash + 1, "udp") == 0)
			p->udp = true;
		else if (strcmp(slash + 1, "tcp") != 0)
			goto bad;
	}
	size_t end = slash ? (size_t)(slash - s) : strlen(s);
	if (!colon || (size_t)(colon - s) >= end ||
	    parse_port(s, (size_t)(colon - s), &p->host_port) ||
	    parse_port(colon + 1, end - (size_t)(colon - s) - 1, &p->guest_port))
		goto bad;
	return 0;
bad:
	return sbx_err_setx(
	    err, EINVAL, "-p '%s': expected HOSTPORT:CONTAINERPORT[/tcp|/udp], ports 1..65535", s);
}
