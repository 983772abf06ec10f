/* One entry point for a sandbox's network (shim/net_sandbox.h). */
#include "net_sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int net_sandbox_setup(struct net_sandbox *n, const struct net_sandbox_spec *spec, const char *id,
		      const char *hostname, struct sbx_err *err)
{
	*n = (struct net_sandbox){.local.tap_fd = -1, .ns.tap_fd = -1};
	if (spec->none)
		return 0;
	if (spec->netns && spec->n_publish)
		return sbx_err_setx(
		    err, EINVAL, "-p publishes on the default network, not in a given namespace");
	int r = spec->netns
		    ? net_netns_setup(&n->ns, spec->netns, id, hostname, err)
		    : net_local_setup(&n->local, id, hostname, spec->publish, spec->n_publish, err);
	if (r < 0)
		return r;
	const uint8_t *m = spec->netns ? n->ns.cfg.mac : n->local.cfg.mac;
	snprintf(n->vmm_arg, sizeof(n->vmm_arg), "fd=%d,mac=%02x:%02x:%02x:%02x:%02x:%02x",
		 net_sandbox_tap_fd(n), m[0], m[1], m[2], m[3], m[4], m[5]);
	return 0;
}

int net_sandbox_tap_fd(const struct net_sandbox *n)
{
	return n->ns.active ? n->ns.tap_fd : n->local.active ? n->local.tap_fd : -1;
}

const char *net_sandbox_vmm_arg(const struct net_sandbox *n)
{
	return n->vmm_arg[0] ? n->vmm_arg : NULL;
}

void net_sandbox_to_run(struct net_sandbox *n, struct sbx_run_req *req)
{
	net_local_to_run(&n->local, req);
	net_netns_to_run(&n->ns, req);
}

void net_sandbox_teardown(struct net_sandbox *n)
{
	net_local_teardown(&n->local);
	net_netns_teardown(&n->ns);
	n->vmm_arg[0] = '\0';
}
