#include "paths.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exe_dir(char *out, size_t cap)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	snprintf(out, cap, "%s", dirname(buf));
	return 0;
}

/* Picks env, else <exe dir>/name, else <exe dir>/../lib/sandbox/name. */
static int find_one(char *out, const char *explicit_path, const char *env, const char *name,
		    const char *hint, struct sbx_err *err)
{
	const char *src = explicit_path ? explicit_path : getenv(env);
	if (src && src[0]) {
		if (access(src, R_OK) != 0)
			return sbx_err_set(err, errno, "%s '%s'", name, src);
		snprintf(out, PATH_MAX, "%s", src);
		return 0;
	}
	char dir[PATH_MAX];
	if (exe_dir(dir, sizeof(dir)) < 0)
		return sbx_err_set(err, errno, "readlink /proc/self/exe");
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, PATH_MAX, "%s/../lib/sandbox/%s", dir, name);
	if (access(out, R_OK) == 0)
		return 0;
	return sbx_err_setx(err, ENOENT, "%s not found next to %s/sandbox (%s)", name, dir, hint);
}

int sandbox_paths_resolve(struct sandbox_paths *p, const char *kernel, const char *initrd,
			  struct sbx_err *err)
{
	int r = find_one(p->vmm, NULL, "SANDBOX_VMM", "sandbox-vmm", "run 'make'", err);
	if (r < 0)
		return r;
	r = find_one(p->kernel, kernel, "SANDBOX_KERNEL", "vmlinux",
		     "run 'make kernel' to build the guest kernel", err);
	if (r < 0)
		return sbx_err_wrap(err, "guest kernel");
	r = find_one(p->initrd, initrd, "SANDBOX_INITRAMFS", "initramfs.cpio", "run 'make'", err);
	if (r < 0)
		return sbx_err_wrap(err, "guest initramfs");
	return 0;
}

const char *sandbox_run_root(void)
{
	const char *e = getenv("SANDBOX_RUN_ROOT");
	return e && e[0] ? e : "/run/sandbox";
}
