#include "oci_mounts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci_log.h"

/* Slot i's tag, as shim/volume.c gives share i to the VMM. */
#define SLOT_TAG_FMT "sbxfs%zu"

/* Filesystems the agent makes in every container whatever config.json says (agent/container.c). */
static const char *const guest_made_types[] = {"proc", "sysfs", "devpts", "mqueue"};

static bool has_option(const struct oci_mount *m, const char *opt)
{
	for (size_t i = 0; i < m->n_options; i++)
		if (!strcmp(m->options[i], opt))
			return true;
	return false;
}

static bool is_bind(const struct oci_mount *m)
{
	return (m->type && !strcmp(m->type, "bind")) || has_option(m, "bind") ||
	       has_option(m, "rbind");
}

static bool guest_made(const struct oci_mount *m)
{
	for (size_t i = 0; i < sizeof(guest_made_types) / sizeof(guest_made_types[0]); i++)
		if (m->type && !strcmp(m->type, guest_made_types[i]))
			return true;
	/* The agent's own /dev tmpfs; /dev/shm is a guest tmpfs (host shared memory cannot be
	 * shared with a VM's processes anyway). */
	if (!strcmp(m->destination, "/dev") && m->type && !strcmp(m->type, "tmpfs"))
		return true;
	return !strcmp(m->destination, "/dev/shm");
}

/* An absolute destination without "." or ".." components. */
static int check_destination(const char *d, struct sbx_err *err)
{
	if (d[0] != '/')
		return sbx_err_setx(err, EINVAL,
				    "config.json: mount destination '%s' is not absolute", d);
	for (const char *p = d; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return sbx_err_setx(
			    err, EINVAL, "config.json: mount destination '%s' contains '.' or '..'",
			    d);
		p += n;
	}
	if (strlen(d) >= PATH_MAX)
		return sbx_err_setx(err, ENAMETOOLONG, "config.json: mount destination too long");
	return 0;
}

/* The slot serving host directory dir, added when new; ro only if every user is ro. */
static int share_for(struct oci_mount_plan *p, const char *dir, bool ro, const char *what,
		     struct sbx_err *err)
{
	for (size_t i = 0; i < p->n_shares; i++)
		if (!strcmp(p->shares[i].host, dir)) {
			p->shares[i].ro = p->shares[i].ro && ro;
			return (int)i;
		}
	if (p->n_shares == RUN_MAX_VOLUMES)
		return sbx_err_setx(
		    err, E2BIG,
		    "config.json: mount of '%s': more than %u distinct host "
		    "directories (the root and bind mount sources) to share with the VM",
		    what, RUN_MAX_VOLUMES);
	struct volume *v = &p->shares[p->n_shares];
	snprintf(v->host, sizeof(v->host), "%s", dir);
	snprintf(v->guest, sizeof(v->guest), "/");
	v->ro = ro;
	return (int)p->n_shares++;
}

static struct sbx_mount *new_mount(struct oci_mount_plan *p, const char *dest, bool ro,
				   struct sbx_err *err)
{
	if (p->n_mounts == SBX_RUN_MAX_MOUNTS) {
		sbx_err_setx(err, E2BIG, "config.json: more than %u mounts to make in the VM",
			     SBX_RUN_MAX_MOUNTS);
		return NULL;
	}
	size_t i = p->n_mounts++;
	snprintf(p->targets[i], PATH_MAX, "%s", dest);
	p->mounts[i] = (struct sbx_mount){.target = p->targets[i], .ro = ro};
	return &p->mounts[i];
}

/* Static storage for tags: slot tags never change, so one table serves every plan. */
static char *slot_tag(size_t i)
{
	static char tags[RUN_MAX_VOLUMES][8];
	snprintf(tags[i], sizeof(tags[i]), SLOT_TAG_FMT, i);
	return tags[i];
}

/* A bind: its directory is shared; a file's parent directory is, and the guest binds the file. */
static int plan_bind(struct oci_mount_plan *p, const struct oci_mount *m, struct sbx_err *err)
{
	if (!m->source || m->source[0] != '/')
		return sbx_err_setx(err, EINVAL,
				    "config.json: bind mount on '%s': source must be an "
				    "absolute host path",
				    m->destination);
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(m->source, real) || stat(real, &st) < 0)
		return sbx_err_set(err, errno, "config.json: bind mount source '%s'", m->source);
	bool ro = has_option(m, "ro");
	char *name = NULL;
	if (S_ISREG(st.st_mode)) {
		name = strrchr(real, '/');
		*name++ = '\0';
		if (!real[0])
			strcpy(real, "/");
		if (!sbx_mount_name_ok(name, strlen(name)) || strlen(name) >= OCI_MOUNT_NAME_MAX)
			return sbx_err_setx(err, EINVAL,
					    "config.json: bind mount source '%s': a file "
					    "name with ':' cannot be shared with the VM",
					    m->source);
	} else if (!S_ISDIR(st.st_mode)) {
		return sbx_err_setx(err, EINVAL,
				    "config.json: bind mount source '%s': only "
				    "directories and regular files can be shared with a VM",
				    m->source);
	}
	int slot = share_for(p, real, ro, m->destination, err);
	if (slot < 0)
		return slot;
	struct sbx_mount *out = new_mount(p, m->destination, ro, err);
	if (!out)
		return -E2BIG;
	out->tag = slot_tag((size_t)slot);
	if (name) {
		char *dst = p->names[out - p->mounts];
		snprintf(dst, OCI_MOUNT_NAME_MAX, "%s", name);
		out->subpath = dst;
	}
	return 0;
}

/* A tmpfs in the guest; only options that size and own it are passed on. */
static int plan_tmpfs(struct oci_mount_plan *p, const struct oci_mount *m, struct sbx_err *err)
{
	struct sbx_mount *out = new_mount(p, m->destination, has_option(m, "ro"), err);
	if (!out)
		return -E2BIG;
	char *opts = p->names[out - p->mounts];
	size_t n = 0;
	opts[0] = '\0';
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		if (strncmp(o, "size=", 5) && strncmp(o, "mode=", 5) &&
		    strncmp(o, "nr_inodes=", 10) && strncmp(o, "uid=", 4) && strncmp(o, "gid=", 4))
			continue;
		int k = snprintf(opts + n, OCI_MOUNT_NAME_MAX - n, "%s%s", n ? "," : "", o);
		if (k < 0 || (size_t)k >= OCI_MOUNT_NAME_MAX - n ||
		    !sbx_mount_name_ok(opts + n + (n ? 1 : 0), strlen(o)))
			return sbx_err_setx(err, EINVAL,
					    "config.json: tmpfs on '%s': bad option '%s'",
					    m->destination, o);
		n += (size_t)k;
	}
	out->tag = SBX_MOUNT_TMPFS;
	out->subpath = n ? opts : NULL;
	return 0;
}

/*
 * cgroup / cgroup2: the guest's cgroup2 hierarchy (the container's pids cgroup is in it), with
 * the spec's ro. A v1 "cgroup" request gets v2 as well: the guest kernel mounts no v1.
 */
static int plan_cgroup(struct oci_mount_plan *p, const struct oci_mount *m, struct sbx_err *err)
{
	struct sbx_mount *out = new_mount(p, m->destination, has_option(m, "ro"), err);
	if (!out)
		return -E2BIG;
	out->tag = SBX_MOUNT_CGROUP;
	return 0;
}

int oci_mounts_plan(const struct oci_spec *spec, const char *root_dir, struct oci_mount_plan *p,
		    struct sbx_err *err)
{
	memset(p, 0, sizeof(*p));
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(root_dir, real) || stat(real, &st) < 0)
		return sbx_err_set(err, errno, "config.json: root.path '%s'", root_dir);
	if (!S_ISDIR(st.st_mode))
		return sbx_err_setx(err, ENOTDIR, "config.json: root.path '%s' is not a directory",
				    root_dir);
	int r = share_for(p, real, spec->root_readonly, "/", err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct oci_mount *m = &spec->mounts[i];
		if ((r = check_destination(m->destination, err)) < 0)
			return r;
		if (guest_made(m)) {
			oci_log(OCI_DEBUG, "mount %s (%s): made by the guest", m->destination,
				m->type ? m->type : "bind");
			continue;
		}
		if (is_bind(m))
			r = plan_bind(p, m, err);
		else if (m->type && !strcmp(m->type, "tmpfs"))
			r = plan_tmpfs(p, m, err);
		else if (m->type && (!strcmp(m->type, "cgroup") || !strcmp(m->type, "cgroup2")))
			r = plan_cgroup(p, m, err);
		else
			r = sbx_err_setx(err, EINVAL,
					 "config.json: mount on '%s': type '%s' is not "
					 "supported in a VM",
					 m->destination, m->type ? m->type : "(none)");
		if (r < 0)
			return r;
	}
	/* After the binds: a bind that shares the root directory read-write keeps it writable
	 * on the host, but the root mount itself stays as root.readonly says. */
	snprintf(p->root, sizeof(p->root), "%s:%s", spec->root_readonly ? "ro" : "rw", slot_tag(0));
	return 0;
}
