/*
 * A sandbox in an existing network namespace, as CNI plugins, podman and Kubernetes prepare one
 * (docs/networking.md "Network namespaces"): the tap is created inside that namespace and tied
 * to the namespace's interface by tc ingress filters with mirred redirect, both ways (the Kata /
 * firecracker-containerd approach), and the guest gets that interface's MAC, address, routes
 * and MTU. The CNI plugins are not changed: whatever they configured, the guest now has.
 */
#ifndef SANDBOX_NET_NETNS_H
#define SANDBOX_NET_NETNS_H

#include <limits.h>
#include <stdbool.h>

#include "../common/proto.h"

struct net_netns {
	bool active;
	int tap_fd; /* -1 when none; passed to the VMM as --net fd=N */
	char tap[16], ifname[16];
	char path[PATH_MAX];
	bool tc_if, tc_tap; /* ingress qdiscs we added */
	struct sbx_net_cfg cfg;
	char resolv_conf[1024];
	char hosts[512];
};

/*
 * Joins netns_path (e.g. /var/run/netns/NAME or /proc/PID/ns/net) for the time of the setup and
 * wires a new tap to its first interface with an IPv4 address. id names the tap (sbx<id>).
 */
int net_netns_setup(struct net_netns *n, const char *netns_path, const char *id,
		    const char *hostname, struct sbx_err *err);
/* The guest's side into a RUN request (pointers into n). */
void net_netns_to_run(struct net_netns *n, struct sbx_run_req *req);
/* Removes the tc qdisc on the namespace's interface and closes the tap; accepts an inactive n. */
void net_netns_teardown(struct net_netns *n);

#endif
