/* Virtio-fs shares (`sandbox run -v`, OCI root and binds) and guest tmpfs mounts
 * (docs/virtiofs.md). */
#ifndef SANDBOX_AGENT_MOUNTS_H
#define SANDBOX_AGENT_MOUNTS_H

#include <stdbool.h>

#include "../common/error.h"
#include "../common/proto.h"

/*
 * In the container init, after it entered the container's root: mounts each RUN mount's
 * virtio-fs tag on its target (created as a directory when missing), read-only when asked.
 * Runs after the root switch so that symlinks in a target resolve inside the container.
 */
int mounts_apply(const struct sbx_run_req *req, struct sbx_err *err);

/* The RUN's rootfs is a virtio-fs share (rootfs "rw:TAG"/"ro:TAG", type "virtiofs"). */
bool mounts_root_is_share(const struct sbx_run_req *req);
/* In the agent, before the container init: mounts that share on root (created if missing). */
int mounts_share_root(const struct sbx_run_req *req, const char *root, struct sbx_err *err);

#endif
