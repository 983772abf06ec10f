/*
 * Guest networking, configured by the agent before the container starts (docs/networking.md):
 * lo up; with RUN's NET entry, eth0 gets its MAC, MTU, IPv4 address and routes; RUN's
 * resolv.conf and hosts become the container's /etc files.
 */
#ifndef SANDBOX_AGENT_NET_H
#define SANDBOX_AGENT_NET_H

#include "../common/error.h"
#include "../common/proto.h"

/* The guest's network device (virtio-net, the only one the VMM offers). */
#define AGENT_NET_IF "eth0"

/* PID 1, before the template point: lo and eth0 up once, so that runs skip it. */
void agent_net_prewarm(void);

/* root: the container's root directory (before pivot_root). */
int agent_net_setup(const struct sbx_run_req *req, const char *root, struct sbx_err *err);

#endif
