/*
 * vhost-user front end (the VMM side of the vhost-user protocol, QEMU docs/interop/vhost-user.rst,
 * "Front-end message types"). The back end (e.g. virtiofsd) is another process reached over a
 * unix stream socket; it maps guest RAM from a memfd we send and walks the virtqueues itself.
 *
 * Only what a virtio-fs device needs: feature and protocol-feature negotiation, ownership, one
 * memory table, the per-ring setup messages, ring enable and GET_VRING_BASE to stop a ring.
 * Every reply is untrusted: its request, flags and size are checked before a byte is used.
 * Not thread-safe: the owning device serialises calls under its lock.
 */
#ifndef SANDBOX_VHOST_USER_H
#define SANDBOX_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

/* Request codes, vhost-user spec "Front-end message types". */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
};

/* Header flags: bits 0-1 the protocol version (1), bit 2 a reply, bit 3 "reply needed". */
#define VHOST_USER_VERSION 1u
#define VHOST_USER_VERSION_MASK 3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* Virtio feature bit 30 is reused by vhost-user: the back end speaks protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES (1ull << 30)
/* Protocol feature: the back end acks any request that sets NEED_REPLY (spec "REPLY_ACK"). */
#define VHOST_USER_PROTOCOL_F_REPLY_ACK (1ull << 3)

/* SET_VRING_KICK/CALL payload: ring index in bits 0-7, bit 8 set when no fd is attached. */
#define VHOST_USER_VRING_IDX_MASK 0xffull
#define VHOST_USER_VRING_NOFD (1ull << 8)

/* The spec caps a memory table at 8 regions (VHOST_MEMORY_BASELINE_NREGIONS). */
#define VHOST_USER_MAX_REGIONS 8u
#define VHOST_USER_HDR_SIZE 12u

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Ring addresses are front-end virtual addresses, translated by the back end via the table. */
struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_uaddr;
	uint64_t used_uaddr;
	uint64_t avail_uaddr;
	uint64_t log_gpa;
};

struct vhost_user_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;	      /* where the front end has it mapped */
	uint64_t mmap_offset; /* of the region inside its fd */
};

struct vhost_user_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

/* One message, host byte order (x86: the spec's little-endian). */
struct vhost_user_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow the header */
	union {
		uint64_t u64;
		struct vhost_user_vring_state state;
		struct vhost_user_vring_addr addr;
		struct vhost_user_mem_table mem;
	} payload;
} __attribute__((packed));

struct vhost_user {
	int fd;			    /* connected socket; -1 when closed */
	uint64_t backend_features;  /* GET_FEATURES */
	uint64_t protocol_features; /* what we set with SET_PROTOCOL_FEATURES */
	int timeout_ms;		    /* per reply; a back end that hangs must not hang a vCPU */
};

#define VHOST_USER_REPLY_TIMEOUT_MS 5000

/* Connects to the back end's listening socket at `path`. */
int vhost_user_connect(struct vhost_user *vu, const char *path, struct sbx_err *err);
/* Takes over an already-connected socket (tests use a socketpair). */
void vhost_user_init_fd(struct vhost_user *vu, int fd);
void vhost_user_close(struct vhost_user *vu);

/*
 * GET_FEATURES, then the protocol features (only REPLY_ACK is asked for) and SET_OWNER.
 * Fails with -ENOTSUP when the back end lacks any bit of `required` (virtio device features).
 */
int vhost_user_handshake(struct vhost_user *vu, uint64_t required, struct sbx_err *err);
/* SET_FEATURES: the features the driver negotiated (plus PROTOCOL_FEATURES when in use). */
int vhost_user_set_features(struct vhost_user *vu, uint64_t features, struct sbx_err *err);
/* SET_MEM_TABLE with one fd per region (fds[i] backs regions[i]). */
int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *regions,
			     const int *fds, unsigned n, struct sbx_err *err);
int vhost_user_set_vring_num(struct vhost_user *vu, uint32_t idx, uint32_t num,
			     struct sbx_err *err);
int vhost_user_set_vring_base(struct vhost_user *vu, uint32_t idx, uint32_t base,
			      struct sbx_err *err);
int vhost_user_set_vring_addr(struct vhost_user *vu, const struct vhost_user_vring_addr *a,
			      struct sbx_err *err);
/* fd < 0 sends the "no fd" flag (polling mode for kick, no interrupts for call). */
int vhost_user_set_vring_kick(struct vhost_user *vu, uint32_t idx, int fd, struct sbx_err *err);
int vhost_user_set_vring_call(struct vhost_user *vu, uint32_t idx, int fd, struct sbx_err *err);
int vhost_user_set_vring_enable(struct vhost_user *vu, uint32_t idx, bool enable,
				struct sbx_err *err);
/* Stops the ring; *base receives the back end's next available index. */
int vhost_user_get_vring_base(struct vhost_user *vu, uint32_t idx, uint32_t *base,
			      struct sbx_err *err);

/* ---- codec, exposed for the unit tests ---- */
/* Header + payload bytes of `m` as sent (VHOST_USER_HDR_SIZE + m->size). */
size_t vhost_user_msg_len(const struct vhost_user_msg *m);
/*
 * Checks a received reply against the request it answers: version 1, REPLY set, the same
 * request code, and exactly `want_size` payload bytes. -EPROTO with err naming what was wrong.
 */
int vhost_user_check_reply(const struct vhost_user_msg *reply, size_t got, uint32_t request,
			   uint32_t want_size, struct sbx_err *err);

#endif
