/*
 * virtio-fs device (virtio 1.2 §5.11) whose queues are served by a vhost-user back end
 * (virtiofsd) — docs/virtiofs.md. The VMM only owns the transport and the config space (tag,
 * one request queue); FUSE requests never pass through it.
 *
 * A device may be an empty slot: created with a tag but no back end, so a VM template can be
 * booted with the device present (the guest driver binds to a tag at probe time) and a clone
 * fills it on restore. The back end is started lazily, on the guest's first notify (its first
 * mount), once the driver has set the queues up.
 */
#ifndef SANDBOX_VIRTIO_FS_H
#define SANDBOX_VIRTIO_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/error.h"
#include "snapshot.h"
#include "vm.h"

#define VIRTIO_ID_FS 26u /* virtio 1.2 §5 */
/* Config space tag: 36 bytes of UTF-8, NUL-padded, not NUL-terminated when all are used. */
#define VIRTIO_FS_TAG_MAX 36u

/* `socket` NULL or "": an empty slot. The tag is 1..36 printable ASCII bytes. */
int virtio_fs_create(struct vm *vm, uint64_t base, uint32_t irq, const char *tag,
		     const char *socket, void **out, struct sbx_err *err);
/*
 * From a snapshot section; socket_for(tag) chooses this clone's back end (NULL or "": stays
 * empty). A back end needs guest RAM in a memfd (vmm_restore_begin's guest_mem_share).
 */
int virtio_fs_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		      const char *(*socket_for)(const char *tag, void *ctx), void *ctx, void **out,
		      struct sbx_err *err);
/* The tag of a virtio-fs device handle (for matching --fs options after a restore). */
const char *virtio_fs_tag(void *dev);
/* True when the device has a back end. */
bool virtio_fs_has_backend(void *dev);

/* Checks a tag: 1..36 bytes, printable ASCII without ',' or '=' (the --fs syntax). */
int virtio_fs_tag_check(const char *tag, struct sbx_err *err);

/* One --fs option: "tag=TAG[,socket=PATH]" (no socket: an empty slot for a template). */
struct virtio_fs_opt {
	char tag[VIRTIO_FS_TAG_MAX + 1];
	char socket[108]; /* sizeof(sockaddr_un.sun_path); "" for an empty slot */
	bool used;	  /* restore: matched a slot of the snapshot */
};
int virtio_fs_parse_opt(const char *arg, struct virtio_fs_opt *o, struct sbx_err *err);

#endif
