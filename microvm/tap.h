/*
 * Host side of virtio-net: a tap device (/dev/net/tun, Documentation/networking/tuntap.rst)
 * opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, so every frame read or written carries the
 * 12-byte virtio_net_hdr_v1 (virtio 1.2 §5.1.6) in front of it and the guest's checksum and
 * segmentation offloads pass straight through to the host kernel.
 */
#ifndef SANDBOX_TAP_H
#define SANDBOX_TAP_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/* virtio_net_hdr_v1: what VERSION_1 devices always use (with num_buffers), §5.1.6. */
#define TAP_VNET_HDR_LEN 12

/* Offloads the guest may receive (TUNSETOFFLOAD flags), from the guest's negotiated features. */
struct tap_offload {
	bool csum; /* VIRTIO_NET_F_GUEST_CSUM: partially checksummed frames */
	bool tso4, tso6, ecn;
};

/*
 * Opens (or creates, non-persistent) the tap `name` ("" lets the kernel pick tapN). The kernel's
 * name is written to name_out (IFNAMSIZ bytes) when non-NULL. Needs CAP_NET_ADMIN to create.
 */
int tap_open(const char *name, char *name_out, struct sbx_err *err);
/*
 * Checks that fd (handed over by a parent) is a tap with IFF_VNET_HDR and no packet info,
 * then prepares it like tap_open() does: non-blocking, header length TAP_VNET_HDR_LEN.
 */
int tap_adopt(int fd, struct sbx_err *err);
/* TUNSETOFFLOAD: what the kernel may hand us (and so the guest) unsegmented/unchecksummed. */
int tap_set_offload(int fd, const struct tap_offload *o, struct sbx_err *err);

#endif
