/* Virtio-fs shares (`sandbox run -v`) mounted into the container (docs/virtiofs.md). */
#ifndef SANDBOX_AGENT_MOUNTS_H
#define SANDBOX_AGENT_MOUNTS_H

#include "../common/error.h"
#include "../common/proto.h"

/*
 * In the container init, after it entered the container's root: mounts each RUN mount's
 * virtio-fs tag on its target (created as a directory when missing), read-only when asked.
 * Runs after the root switch so that symlinks in a target resolve inside the container.
 */
int mounts_apply(const struct sbx_run_req *req, struct sbx_err *err);

#endif
