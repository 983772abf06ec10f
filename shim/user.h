/* Resolves `--user` against the container rootfs's own /etc/passwd and /etc/group, as docker does.
 */
#ifndef SANDBOX_USER_H
#define SANDBOX_USER_H

#include <limits.h>
#include <stdint.h>

#include "../common/error.h"

struct resolved_user {
	uint32_t uid, gid;
	char home[PATH_MAX]; /* from passwd, "/" when unknown; "/root" for uid 0 */
};

/* spec: NULL (root), "UID", "UID:GID", "NAME", "NAME:GROUP" (any mix). */
int user_resolve(const char *rootfs, const char *spec, struct resolved_user *out,
		 struct sbx_err *err);

#endif
