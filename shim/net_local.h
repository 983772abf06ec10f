/*
 * One sandbox on the default network (docs/networking.md): an address leased under a lock in
 * /run/sandbox-net, a tap on bridge sbx0 that `sandbox` creates and hands to the VMM as an fd,
 * published ports, and what the guest is told (address, route, MTU, resolv.conf, hosts).
 *
 * Teardown removes the lease and the ports; the tap is not persistent and disappears with its
 * last fd, so a SIGKILLed VMM (and `sandbox`, whose VMM then dies too) leaves only a lease and
 * ports behind, which the next setup sweeps because the owning process is gone.
 */
#ifndef SANDBOX_NET_LOCAL_H
#define SANDBOX_NET_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/proto.h"
#include "net_bridge.h"

#define NET_MAX_PUBLISH 64
#define NET_STATE_DIR "/run/sandbox-net"

struct net_local {
	bool active;
	int tap_fd; /* -1 when none; passed to the VMM as --net fd=N */
	char tap[16];
	char lease[PATH_MAX]; /* "" when none */
	struct net_publish pub[NET_MAX_PUBLISH];
	size_t npub;
	bool published;
	struct sbx_net_cfg cfg;
	char resolv_conf[1024];
	char hosts[512];
};

/* Sets up the network of sandbox `id` (12 hex digits); on failure nothing is left behind. */
int net_local_setup(struct net_local *n, const char *id, const char *hostname,
		    const struct net_publish *pub, size_t npub, struct sbx_err *err);
/* Puts the guest's side into a RUN request (pointers into n). */
void net_local_to_run(struct net_local *n, struct sbx_run_req *req);
/* Accepts a zeroed/never-set-up n (tap_fd must then be -1). */
void net_local_teardown(struct net_local *n);
/* Removes leases and ports of sandboxes whose process is gone. Call under the lock. */
void net_local_sweep(void);

#endif
