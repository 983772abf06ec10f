#include "jail_vmm.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RO_SUFFIX ",ro"
#define KVM_PVM_MODULE "/sys/module/kvm_pvm"

/* "PATH[,ro]" as the VMM's --disk takes it. */
static int bind_disk(struct jail *j, const char *disk, char *out, size_t cap, struct sbx_err *err)
{
	char path[PATH_MAX];
	size_t len = strlen(disk);
	bool ro = len > strlen(RO_SUFFIX) && !strcmp(disk + len - strlen(RO_SUFFIX), RO_SUFFIX);
	snprintf(path, sizeof(path), "%.*s", (int)(ro ? len - strlen(RO_SUFFIX) : len), disk);
	/* A writable disk is this run's own image: the jail's uid may have it. */
	const char *in = jail_bind(j, path, "disk", ro ? JAIL_RO : JAIL_RW | JAIL_CHOWN, err);
	if (!in)
		return -err->code;
	snprintf(out, cap, "%s%s", in, ro ? RO_SUFFIX : "");
	return 0;
}

/*
 * Guest-initiated vsock connections to port P reach the unix socket <uds>_P, listened on by
 * `sandbox` before the VMM starts: each such socket is bound into the jail's socket dir.
 */
static int bind_port_sockets(struct jail *j, const char *uds, struct sbx_err *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", uds);
	snprintf(base, sizeof(base), "%s", uds);
	const char *d = dirname(dir), *b = basename(base);
	DIR *dh = opendir(d);
	if (!dh)
		return sbx_err_set(err, errno, "jail: open '%s'", d);
	int r = 0;
	struct dirent *e;
	while (r >= 0 && (e = readdir(dh))) {
		if (strncmp(e->d_name, b, strlen(b)) || e->d_name[strlen(b)] != '_')
			continue;
		char src[PATH_MAX], name[64];
		struct stat st;
		snprintf(src, sizeof(src), "%s/%s", d, e->d_name);
		if (lstat(src, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		snprintf(name, sizeof(name), "%s/%s", JAIL_SOCK_DIR + 1, e->d_name);
		if (!jail_bind(j, src, name, JAIL_RW | JAIL_CHOWN, err))
			r = -err->code;
	}
	closedir(dh);
	return r;
}

/* virtio-fs: each share's vhost-user socket (served by its virtiofsd) as /sock/fs<i>.sock. */
static int bind_fs_sockets(struct jail *j, const struct vmm_cfg *cfg, struct vmm_cfg *jcfg,
			   struct sbx_err *err)
{
	static struct vmm_fs fs[VMM_MAX_FS];
	for (unsigned i = 0; i < cfg->n_fs && i < VMM_MAX_FS; i++) {
		fs[i] = cfg->fs[i];
		if (!fs[i].socket)
			continue;
		char name[32];
		snprintf(name, sizeof(name), "%s/fs%u.sock", JAIL_SOCK_DIR + 1, i);
		if (!(fs[i].socket =
			  jail_bind(j, cfg->fs[i].socket, name, JAIL_RW | JAIL_CHOWN, err)))
			return -err->code;
	}
	jcfg->fs = cfg->n_fs ? fs : NULL;
	return 0;
}

static int bind_all(struct jail *j, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
		    struct sandbox_paths *jp, struct vmm_cfg *jcfg, struct sbx_err *err)
{
	static char disk[PATH_MAX], uds[PATH_MAX];
	const char *s;
	*jp = *p;
	*jcfg = *cfg;
#define BIND(dst, src, name, flags)                                                                \
	do {                                                                                       \
		if (!(s = jail_bind(j, (src), (name), (flags), err)))                              \
			return -err->code;                                                         \
		snprintf((dst), PATH_MAX, "%s", s);                                                \
	} while (0)
	BIND(jp->vmm, p->vmm, "sandbox-vmm", JAIL_RO);
	if (cfg->restore_dir) {
		if (!(jcfg->restore_dir =
			  jail_bind(j, cfg->restore_dir, "snapshot", JAIL_DIR, err)))
			return -err->code;
	} else {
		BIND(jp->kernel, p->kernel, "vmlinux", JAIL_RO);
		BIND(jp->initrd, p->initrd, "initramfs", JAIL_RO);
		/* A cold boot asks whether KVM is software-emulated (microvm/cpuid.c) to pick the
		 * guest's CPU-feature switches: the answer must be the host's. */
		if (access(KVM_PVM_MODULE, F_OK) == 0 &&
		    !jail_bind(j, KVM_PVM_MODULE, KVM_PVM_MODULE + 1, JAIL_DIR, err))
			return -err->code;
	}
	if (cfg->disk && bind_disk(j, cfg->disk, disk, sizeof(disk), err) < 0)
		return -err->code;
	jcfg->disk = cfg->disk ? disk : NULL;
	if (cfg->serial_log &&
	    !(jcfg->serial_log =
		  jail_bind(j, cfg->serial_log, "serial", JAIL_RW | JAIL_CREATE | JAIL_CHOWN, err)))
		return -err->code;
	/* Debugging files: the unprivileged VMM opens them for writing, so they are given to it. */
	if (cfg->boot_timer &&
	    !(jcfg->boot_timer = jail_bind(j, cfg->boot_timer, "boottimer",
					   JAIL_RW | JAIL_CREATE | JAIL_CHOWN, err)))
		return -err->code;
	if (cfg->guest_profile &&
	    !(jcfg->guest_profile = jail_bind(j, cfg->guest_profile, "guestprofile",
					      JAIL_RW | JAIL_CREATE | JAIL_CHOWN, err)))
		return -err->code;
	if (cfg->vsock_uds) {
		char copy[PATH_MAX];
		snprintf(copy, sizeof(copy), "%s", cfg->vsock_uds);
		snprintf(uds, sizeof(uds), JAIL_SOCK_DIR "/%s", basename(copy));
		jcfg->vsock_uds = uds;
		if (bind_port_sockets(j, cfg->vsock_uds, err) < 0)
			return -err->code;
	}
#undef BIND
	return bind_fs_sockets(j, cfg, jcfg, err);
}

int jail_vmm_prepare(struct jail *j, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
		     struct sandbox_paths *jp, struct vmm_cfg *jcfg, struct sbx_err *err)
{
	if (!cfg->vsock_uds)
		return sbx_err_setx(err, EINVAL,
				    "jail: the VMM needs a run directory (vsock socket)");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", cfg->vsock_uds);
	struct jail_limits lim = {.memory_mib = cfg->memory_mib,
				  .cpu_quota_us = cfg->cpu_quota_us,
				  .cpu_period_us = cfg->cpu_period_us};
	int r = jail_prepare_limits(j, dirname(dir), &lim, err);
	if (r >= 0)
		r = bind_all(j, p, cfg, jp, jcfg, err);
	if (r < 0)
		jail_release(j);
	return r;
}
