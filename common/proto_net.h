/*
 * The guest network configuration carried in RUN (tag SBX_RUN_NET, docs/protocol.md): one
 * interface (the guest's eth0), its MAC, MTU, IPv4 address and routes. Fixed little-endian
 * layout, decoded with every field checked: the host builds it, the agent trusts nothing.
 */
#ifndef SANDBOX_PROTO_NET_H
#define SANDBOX_PROTO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SBX_NET_MAX_ROUTES 16u
#define SBX_NET_MIN_MTU 68u /* RFC 791: every IPv4 host handles 68-byte datagrams */
#define SBX_NET_MAX_MTU 65535u
#define SBX_NET_HDR_SIZE 20u
#define SBX_NET_ROUTE_SIZE 12u
#define SBX_NET_MAX_SIZE (SBX_NET_HDR_SIZE + SBX_NET_MAX_ROUTES * SBX_NET_ROUTE_SIZE)

struct sbx_net_route {
	uint8_t dst[4]; /* network byte order; 0.0.0.0/0 is the default route */
	uint8_t prefix; /* 0..32 */
	uint8_t gw[4];	/* 0.0.0.0: on-link (no gateway) */
};

struct sbx_net_cfg {
	bool present; /* RUN carried a NET entry */
	uint8_t mac[6];
	uint32_t mtu;
	uint8_t addr[4]; /* network byte order */
	uint8_t prefix;	 /* 1..32 */
	uint8_t n_routes;
	struct sbx_net_route routes[SBX_NET_MAX_ROUTES];
};

/* Encodes into out (SBX_NET_MAX_SIZE bytes); returns the length. */
size_t sbx_net_encode(const struct sbx_net_cfg *c, uint8_t out[SBX_NET_MAX_SIZE]);
/* Validates (and, with out non-NULL, decodes) one NET value; -EPROTO names the bad field. */
int sbx_net_decode(const uint8_t *v, size_t len, struct sbx_net_cfg *out, struct sbx_err *err);

#endif
