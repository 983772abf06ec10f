#include "volume.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Volume i is always slot i: the RUN request can name tags before any daemon runs. */
static const char *const slot_tags[VIRTIOFSD_SLOTS] = {"sbxfs0", "sbxfs1", "sbxfs2", "sbxfs3"};
const struct vmm_fs volume_template_slots[VIRTIOFSD_SLOTS] = {
    {.tag = "sbxfs0"},
    {.tag = "sbxfs1"},
    {.tag = "sbxfs2"},
    {.tag = "sbxfs3"},
};
_Static_assert(VIRTIOFSD_SLOTS == 4, "the slot tables list every slot");

/*
 * Canonical guest path: absolute, "//" and trailing "/" folded, no "." or ".." component (a
 * mount target must not climb out of the container root), not the root itself.
 */
static int normalise_guest(const char *spec, const char *g, size_t len, char *out,
			   struct sbx_err *err)
{
	if (len == 0 || g[0] != '/')
		return sbx_err_setx(err, EINVAL, "-v '%s': the container path must be absolute",
				    spec);
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		while (i < len && g[i] == '/')
			i++;
		size_t start = i;
		while (i < len && g[i] != '/')
			i++;
		size_t clen = i - start;
		if (clen == 0)
			break;
		if ((clen == 1 && g[start] == '.') || (clen == 2 && !memcmp(g + start, "..", 2)))
			return sbx_err_setx(
			    err, EINVAL, "-v '%s': the container path must not contain '.' or '..'",
			    spec);
		if (o + 1 + clen >= PATH_MAX)
			return sbx_err_setx(err, ENAMETOOLONG, "-v '%s': container path too long",
					    spec);
		out[o++] = '/';
		memcpy(out + o, g + start, clen);
		o += clen;
	}
	if (o == 0)
		return sbx_err_setx(err, EINVAL, "-v '%s': cannot mount over the container's root",
				    spec);
	out[o] = '\0';
	return 0;
}

static int check_host(const char *spec, const char *h, size_t len, char *out, struct sbx_err *err)
{
	char raw[PATH_MAX];
	if (len == 0 || h[0] != '/')
		return sbx_err_setx(err, EINVAL,
				    "-v '%s': the host directory must be an absolute path", spec);
	if (len >= sizeof(raw))
		return sbx_err_setx(err, ENAMETOOLONG, "-v '%s': host path too long", spec);
	memcpy(raw, h, len);
	raw[len] = '\0';
	if (!realpath(raw, out))
		return sbx_err_set(err, errno, "-v '%s': host directory '%s'", spec, raw);
	struct stat st;
	if (stat(out, &st) < 0)
		return sbx_err_set(err, errno, "-v '%s': host directory '%s'", spec, raw);
	if (!S_ISDIR(st.st_mode))
		return sbx_err_setx(err, ENOTDIR, "-v '%s': '%s' is not a directory", spec, raw);
	return 0;
}

int volume_parse(const char *spec, struct volume *v, struct sbx_err *err)
{
	memset(v, 0, sizeof(*v));
	const char *sep = strchr(spec, ':');
	if (!sep)
		return sbx_err_setx(err, EINVAL, "-v '%s': expected HOSTDIR:CONTAINERDIR[:ro]",
				    spec);
	const char *guest = sep + 1;
	size_t glen = strlen(guest);
	const char *mode = strchr(guest, ':');
	if (mode) {
		glen = (size_t)(mode - guest);
		if (!strcmp(mode + 1, "ro"))
			v->ro = true;
		else if (strcmp(mode + 1, "rw"))
			return sbx_err_setx(err, EINVAL, "-v '%s': unknown mode '%s' (ro or rw)",
					    spec, mode + 1);
	}
	int r = check_host(spec, spec, (size_t)(sep - spec), v->host, err);
	if (r >= 0)
		r = normalise_guest(spec, guest, glen, v->guest, err);
	return r;
}

void volume_set_init(struct volume_set *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < RUN_MAX_VOLUMES; i++)
		virtiofsd_init(&s->d[i]);
}

int volumes_start(struct volume_set *s, const struct volume *v, size_t n, const char *run_dir,
		  struct sbx_err *err)
{
	if (n > RUN_MAX_VOLUMES)
		return sbx_err_setx(err, E2BIG, "%zu volumes (max %u)", n, RUN_MAX_VOLUMES);
	for (size_t i = 0; i < n; i++) {
		char sock[PATH_MAX];
		if ((size_t)snprintf(sock, sizeof(sock), "%s/fs%zu.sock", run_dir, i) >=
		    sizeof(sock))
			return sbx_err_setx(err, ENAMETOOLONG, "run directory path too long");
		int r = virtiofsd_start(v[i].host, sock, v[i].ro, &s->d[i], err);
		if (r < 0) {
			volumes_stop(s);
			return r;
		}
		s->n = (unsigned)i + 1;
		s->fs[i] = (struct vmm_fs){.tag = slot_tags[i], .socket = s->d[i].socket};
	}
	return 0;
}

void volumes_unlink_sockets(struct volume_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		virtiofsd_unlink_socket(&s->d[i]);
}

void volumes_stop(struct volume_set *s)
{
	for (unsigned i = 0; i < RUN_MAX_VOLUMES; i++)
		virtiofsd_stop(&s->d[i]);
	s->n = 0;
}

size_t volume_mounts(const struct volume *v, size_t n, struct sbx_mount *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n && i < RUN_MAX_VOLUMES && k < SBX_RUN_MAX_MOUNTS; i++)
		out[k++] = (struct sbx_mount){
		    .tag = (char *)slot_tags[i], .target = (char *)v[i].guest, .ro = v[i].ro};
	return k;
}
