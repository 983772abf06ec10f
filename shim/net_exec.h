/*
 * Runs the host networking tools (iproute2's ip/bridge/tc, nftables' nft) for shim/net_*.c.
 * Their command lines are the documented, stable interface to rtnetlink and nftables; driving
 * them keeps netlink message building out of `sandbox` (docs/networking.md).
 */
#ifndef SANDBOX_NET_EXEC_H
#define SANDBOX_NET_EXEC_H

#include <stdbool.h>

#include <stddef.h>

#include "../common/error.h"

/*
 * Runs argv (argv[0] is looked up in /usr/sbin, /sbin, /usr/bin) with `input` on stdin (or
 * /dev/null); fails with the tool's first line of stderr in err. The child inherits the calling
 * thread's network namespace. out (may be NULL): stdout, NUL-terminated, cut at out_cap - 1.
 */
int net_exec(const char *const argv[], const char *input, char *out, size_t out_cap,
	     struct sbx_err *err);

/* Creates (non-persistent: it vanishes with its last fd) the tap `name` with IFF_VNET_HDR, in
 * the calling thread's network namespace. Returns the fd (O_CLOEXEC). */
int net_tap_create(const char *name, struct sbx_err *err);

#endif
