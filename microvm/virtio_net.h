/*
 * virtio network device (virtio 1.2 §5.1) over a tap (microvm/tap.h), and the VMM's --net option.
 *
 *   --net tap=NAME|fd=N|none[,mac=XX:XX:XX:XX:XX:XX][,rx-bps=N][,tx-bps=N][,rx-pps=N][,tx-pps=N]
 *
 * `none` makes an empty slot (link down, frames dropped) that a restore fills with a tap: VM
 * templates carry one, so a clone gets its network without a new device (docs/networking.md).
 * rx is toward the guest, tx from it; rates are per second, 0 or absent means unlimited.
 */
#ifndef SANDBOX_VIRTIO_NET_H
#define SANDBOX_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "vm.h"

#define VIRTIO_ID_NET 1u /* virtio 1.2 §5 */
#define NET_IFNAMSIZ 16	 /* IFNAMSIZ, without pulling <net/if.h> into every user */

struct net_opts {
	bool enabled;		/* --net given */
	bool empty;		/* none: a slot without a tap */
	char tap[NET_IFNAMSIZ]; /* tap=NAME, or "" */
	int fd;			/* fd=N, or -1 */
	uint8_t mac[6];
	bool mac_set;
	uint64_t rx_bps, tx_bps, rx_pps, tx_pps;
};

/* Parses the --net argument (above) into *o. */
int net_opts_parse(const char *arg, struct net_opts *o, struct sbx_err *err);
/* "02:xx:..": a locally administered unicast address from getrandom(). */
void net_random_mac(uint8_t mac[6]);

/* Creates the device: a tap per o (tap=/fd=) or an empty slot (none). Starts one I/O thread. */
int virtio_net_create(struct vm *vm, uint64_t base, uint32_t irq, const struct net_opts *o,
		      void **out, struct sbx_err *err);

struct snap_rd;
/*
 * Re-creates the device from its snapshot section. An empty slot is filled with the tap in
 * `fill` (NULL: stays empty); the guest is told the link came up when it resumes.
 */
int virtio_net_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		       const struct net_opts *fill, void **out, struct sbx_err *err);

/* Counters for tests and debug dumps. */
struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	uint64_t rx_dropped;  /* frames the guest had no room for (no mergeable buffers) */
	uint64_t tx_dropped;  /* malformed tx chains, or frames the tap refused */
	uint64_t bad_buffers; /* rx buffers smaller than the header */
};
/* Snapshot of the counters (takes the device lock). */
void virtio_net_get_stats(void *dev, struct virtio_net_stats *out);

#endif
