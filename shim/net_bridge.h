/*
 * The host side of the default network (docs/networking.md): bridge sbx0 with 10.213.0.1/16,
 * IPv4 forwarding, and one nftables table `inet sandbox` that we own: NAT to the outside,
 * published ports as elements of its `publish` map, and the filter that keeps sandboxes away
 * from each other and from the host. Created on first use, shared by every sandbox, kept.
 */
#ifndef SANDBOX_NET_BRIDGE_H
#define SANDBOX_NET_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

#define NET_BRIDGE "sbx0"
#define NET_SUBNET "10.213.0.0/16"
#define NET_GATEWAY_ADDR                                                                           \
	{                                                                                          \
		10, 213, 0, 1                                                                      \
	}
#define NET_PREFIX 16
#define NET_MTU 1500
#define NET_NFT_TABLE "sandbox"

struct net_publish {
	uint16_t host_port, guest_port;
	bool udp;
};

/* Bridge, forwarding and the nft table, each only if missing. Call under the net lock. */
int net_bridge_ensure(struct sbx_err *err);
/* Enslaves the tap to the bridge as an isolated port and brings it up. */
int net_bridge_attach(const char *tap, struct sbx_err *err);
/* Publishes host ports to addr's guest ports (fails if a port is taken). */
int net_bridge_publish(const uint8_t addr[4], const struct net_publish *p, size_t n,
		       struct sbx_err *err);
/* Removes the host ports' map entries; missing ones are fine. */
void net_bridge_unpublish(const struct net_publish *p, size_t n);

/* "HOSTPORT:CPORT[/tcp|udp]" */
int net_publish_parse(const char *s, struct net_publish *p, struct sbx_err *err);

#endif
