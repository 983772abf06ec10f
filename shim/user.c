#include "user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"

static bool parse_id(const char *s, uint32_t *id)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX - 1)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* Finds a passwd entry by name (name != NULL) or uid. Returns 1 found, 0 not found. */
static int find_passwd(const char *rootfs, const char *name, uint32_t uid, struct resolved_user *u)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/etc/passwd", rootfs);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	struct passwd *pw;
	while ((pw = fgetpwent(f))) {
		if (name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid) {
			u->uid = pw->pw_uid;
			u->gid = pw->pw_gid;
			snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir);
			return 1;
		}
	}
	return 0;
}

static int find_group(const char *rootfs, const char *name, uint32_t *gid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/etc/group", rootfs);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	struct group *gr;
	while ((gr = fgetgrent(f))) {
		if (strcmp(gr->gr_name, name) == 0) {
			*gid = gr->gr_gid;
			return 1;
		}
	}
	return 0;
}

int user_resolve(const char *rootfs, const char *spec, struct resolved_user *out,
		 struct sbx_err *err)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->home, sizeof(out->home), "/root");
	if (!spec)
		return 0;
	char buf[256];
	if (strlen(spec) >= sizeof(buf))
		return sbx_err_setx(err, EINVAL, "--user '%.32s...' is too long", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	char *group = strchr(buf, ':');
	if (group)
		*group++ = '\0';
	if (!buf[0] || (group && !group[0]))
		return sbx_err_setx(err, EINVAL, "invalid --user '%s' (expected UID[:GID])", spec);

	uint32_t uid;
	if (parse_id(buf, &uid)) {
		out->gid = 0;
		snprintf(out->home, sizeof(out->home), "%s", uid == 0 ? "/root" : "/");
		find_passwd(rootfs, NULL, uid, out);
		out->uid = uid;
	} else if (!find_passwd(rootfs, buf, 0, out)) {
		return sbx_err_setx(err, ENOENT, "--user: no user '%s' in the rootfs's /etc/passwd",
				    buf);
	}
	if (group && !parse_id(group, &out->gid) && !find_group(rootfs, group, &out->gid))
		return sbx_err_setx(err, ENOENT, "--user: no group '%s' in the rootfs's /etc/group",
				    group);
	return 0;
}
