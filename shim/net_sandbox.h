/*
 * The network of one `sandbox run` (docs/networking.md): none (lo only), the default bridge
 * (shim/net_local.h), or an existing network namespace (shim/net_netns.h). One entry point for
 * run.c and the OCI runtime: set up before the VMM starts, tap fd to the VMM, guest settings
 * into RUN, teardown after the VMM is gone.
 */
#ifndef SANDBOX_NET_SANDBOX_H
#define SANDBOX_NET_SANDBOX_H

#include "net_local.h"
#include "net_netns.h"

struct net_sandbox_spec {
	bool none;	   /* --network none */
	const char *netns; /* --network ns:PATH, or an OCI config's network namespace */
	const struct net_publish *publish; /* -p (default network only) */
	size_t n_publish;
};

struct net_sandbox {
	struct net_local local;
	struct net_netns ns;
	char vmm_arg[64]; /* the VMM's --net value, "" when there is no network */
};

int net_sandbox_setup(struct net_sandbox *n, const struct net_sandbox_spec *spec, const char *id,
		      const char *hostname, struct sbx_err *err);
/* The tap to hand to the VMM (-1: none) and its --net argument (NULL: none). */
int net_sandbox_tap_fd(const struct net_sandbox *n);
const char *net_sandbox_vmm_arg(const struct net_sandbox *n);
void net_sandbox_to_run(struct net_sandbox *n, struct sbx_run_req *req);
/* After the VMM has exited. Accepts a zeroed n. */
void net_sandbox_teardown(struct net_sandbox *n);

#endif
