/*
 * Container filesystem: the agent mounts the rootfs overlay (erofs lower + tmpfs upper), then
 * the container init, already inside its own mount and pid namespaces, builds /proc, /dev and
 * /sys under it and pivot_roots in.
 *
 * A RUN without ROOTFS is rejected in the guest. Only the --test-rootfs hook (host-mode tests)
 * replaces the block device by a read-only bind of a directory; the overlay on top is the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "agent.h"
#include "mounts.h"

#define DEFAULT_ROOTFS_TYPE "erofs"
#define NOSUID_NODEV (MS_NOSUID | MS_NODEV)

static int mkdir_p1(const char *path, mode_t mode, struct sbx_err *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return sbx_err_set(err, errno, "mkdir '%s'", path);
	return 0;
}

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		    const char *data, struct sbx_err *err)
{
	if (mount(src, dst, type, flags, data) < 0)
		return sbx_err_set(err, errno, "mount %s '%s' on '%s'", type ? type : "(bind)",
				   src ? src : "none", dst);
	return 0;
}

static int join(char *out, size_t cap, const char *a, const char *b, struct sbx_err *err)
{
	if ((size_t)snprintf(out, cap, "%s%s", a, b) >= cap)
		return sbx_err_setx(err, ENAMETOOLONG, "path '%s%s' too long", a, b);
	return 0;
}

/* The read-only lower layer: the RUN's block device, or (test hook) a directory bind. */
static int mount_lower(const struct agent_cfg *cfg, const struct sbx_run_req *req,
		       const char *lower, struct sbx_err *err)
{
	if (req->rootfs) {
		const char *type = req->rootfs_type ? req->rootfs_type : DEFAULT_ROOTFS_TYPE;
		int r = cfg->sys_block_dir ? agent_wait_disk(cfg->sys_block_dir, req->rootfs,
							     AGENT_DISK_WAIT_MS, err)
					   : 0;
		if (r < 0)
			return r;
		agent_stage(AGENT_MARK_DISK);
		return do_mount(req->rootfs, lower, type, MS_RDONLY | NOSUID_NODEV, NULL, err);
	}
	if (!cfg->test_rootfs)
		return sbx_err_setx(err, EINVAL, "RUN names no rootfs device");
	int r = do_mount(cfg->test_rootfs, lower, NULL, MS_BIND | MS_REC, NULL, err);
	if (r < 0)
		return r;
	return do_mount(NULL, lower, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL, err);
}

/*
 * What container_prewarm made in advance under its run_dir (empty when nothing): the rw tmpfs
 * with upper/ and work/, a finished /dev tree at dev/ and a read-only sysfs at sys/. A forked
 * container init inherits this and, in its private copy of the mount tree, moves dev/ and
 * sys/ into its root: two MS_MOVEs instead of some twenty mounts, files and symlinks.
 */
static char prewarmed_dir[128];
static bool prewarmed_rw, prewarmed_dev, prewarmed_sys;

static bool prewarmed_for(const char *run_dir)
{
	return prewarmed_dir[0] && run_dir && strcmp(prewarmed_dir, run_dir) == 0;
}

int container_prepare_rootfs(const struct agent_cfg *cfg, const struct sbx_run_req *req, char *root,
			     size_t root_cap, struct sbx_err *err)
{
	char lower[256], rw[256], upper[256], work[256], opts[1024];
	const char *d = cfg->run_dir;
	int r = join(lower, sizeof(lower), d, "/lower", err);
	r = r ?: join(rw, sizeof(rw), d, "/rw", err);
	r = r ?: join(upper, sizeof(upper), d, "/rw/upper", err);
	r = r ?: join(work, sizeof(work), d, "/rw/work", err);
	r = r ?: join(root, root_cap, d, "/root", err);
	r = r ?: mkdir_p1(d, 0755, err);
	if (r == 0 && mounts_root_is_share(req))
		return mounts_share_root(req, root, err); /* OCI root over virtio-fs: no overlay */
	bool ready = prewarmed_rw && prewarmed_for(d);	  /* the dirs and the rw tmpfs exist */
	r = r ?: ready ? 0 : mkdir_p1(lower, 0755, err);
	r = r ?: ready ? 0 : mkdir_p1(rw, 0755, err);
	r = r ?: ready ? 0 : mkdir_p1(root, 0755, err);
	r = r ?: mount_lower(cfg, req, lower, err);
	if (r == 0)
		agent_stage(AGENT_MARK_LOWER);
	/* The writable layer lives in guest RAM: the container's changes vanish with the VM. */
	r = r ?: ready ? 0 : do_mount("tmpfs", rw, "tmpfs", NOSUID_NODEV, "mode=0755", err);
	r = r ?: ready ? 0 : mkdir_p1(upper, 0755, err);
	r = r ?: ready ? 0 : mkdir_p1(work, 0755, err);
	if (r < 0)
		return r;
	if ((size_t)snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper,
			     work) >= sizeof(opts))
		return sbx_err_setx(err, ENAMETOOLONG, "overlay options too long");
	return do_mount("overlay", root, "overlay", 0, opts, err);
}

/* ---- container init side ---- */

/* A bind target must exist: an empty file for a device node, a directory otherwise. */
static int bind_node(const char *src, const char *dev_dir, const char *name, struct sbx_err *err)
{
	char dst[512];
	int r = join(dst, sizeof(dst), dev_dir, name, err);
	if (r < 0)
		return r;
	int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0)
		return sbx_err_set(err, errno, "create '%s'", dst);
	close(fd);
	return do_mount(src, dst, NULL, MS_BIND, NULL, err);
}

static const struct {
	const char *target, *name;
} dev_links[] = {
    {"/proc/self/fd", "/fd"},	    {"/proc/self/fd/0", "/stdin"}, {"/proc/self/fd/1", "/stdout"},
    {"/proc/self/fd/2", "/stderr"}, {"pts/ptmx", "/ptmx"},
};

static const char *const dev_nodes[] = {"/null", "/zero", "/full", "/random", "/urandom", "/tty"};

/* /dev: a small tmpfs holding only the standard nodes, bound from the agent's /dev. The
 * mqueue mount is left out: it belongs to the container's IPC namespace (mount_mqueue). */
static int build_dev(const char *dev, struct sbx_err *err)
{
	char path[512], src[64];
	int r = mkdir_p1(dev, 0755, err);
	r = r
		?: do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME,
			    "mode=755,size=65536k", err);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dev_nodes); i++) {
		snprintf(src, sizeof(src), "/dev%s", dev_nodes[i]);
		r = bind_node(src, dev, dev_nodes[i], err);
	}
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(dev_links); i++) {
		r = join(path, sizeof(path), dev, dev_links[i].name, err);
		if (r == 0 && symlink(dev_links[i].target, path) < 0)
			r = sbx_err_set(err, errno, "symlink '%s'", path);
	}
	/* The agent's devpts, so the pty it allocated for the workload is visible by name. */
	r = r ?: join(path, sizeof(path), dev, "/pts", err);
	r = r ?: mkdir_p1(path, 0755, err);
	r = r ?: do_mount("/dev/pts", path, NULL, MS_BIND, NULL, err);
	r = r ?: join(path, sizeof(path), dev, "/shm", err);
	r = r ?: mkdir_p1(path, 01777, err);
	r = r
		?: do_mount("shm", path, "tmpfs", NOSUID_NODEV | MS_NOEXEC, "mode=1777,size=65536k",
			    err);
	return r;
}

static void mount_mqueue(const char *dev)
{
	char path[512];
	struct sbx_err ignored;
	if (join(path, sizeof(path), dev, "/mqueue", &ignored) == 0 &&
	    (mkdir(path, 0755) == 0 || errno == EEXIST))
		/* Optional: the guest kernel may be built without POSIX message queues. */
		(void)mount("mqueue", path, "mqueue", NOSUID_NODEV | MS_NOEXEC, NULL);
}

/* /proc for the new pid namespace (never made in advance: it shows that namespace). */
static int setup_proc(const char *root, struct sbx_err *err)
{
	char path[512];
	int r = join(path, sizeof(path), root, "/proc", err);
	r = r ?: mkdir_p1(path, 0555, err);
	r = r ?: do_mount("proc", path, "proc", NOSUID_NODEV | MS_NOEXEC, NULL, err);
	return r;
}

static int mount_sys(const char *dir, struct sbx_err *err)
{
	int r = mkdir_p1(dir, 0555, err);
	return r
		   ?: do_mount("sysfs", dir, "sysfs", NOSUID_NODEV | MS_NOEXEC | MS_RDONLY, NULL,
			       err);
}

/* Moves the prepared <prewarmed_dir><name> onto <root><name> (this process's mount tree). */
static int move_prepared(const char *root, const char *name, mode_t mode, struct sbx_err *err)
{
	char src[256], dst[512];
	int r = join(src, sizeof(src), prewarmed_dir, name, err);
	r = r ?: join(dst, sizeof(dst), root, name, err);
	r = r ?: mkdir_p1(dst, mode, err);
	if (r == 0 && mount(src, dst, NULL, MS_MOVE, NULL) < 0)
		r = sbx_err_set(err, errno, "move prepared '%s' to '%s'", src, dst);
	return r;
}

int container_prewarm(const char *run_dir, struct sbx_err *err)
{
	char p[256];
	if (strlen(run_dir) >= sizeof(prewarmed_dir) - 16)
		return sbx_err_setx(err, ENAMETOOLONG, "run dir '%s' too long", run_dir);
	int r = mkdir_p1(run_dir, 0755, err);
	r = r ?: join(p, sizeof(p), run_dir, "/lower", err);
	r = r ?: mkdir_p1(p, 0755, err);
	r = r ?: join(p, sizeof(p), run_dir, "/root", err);
	r = r ?: mkdir_p1(p, 0755, err);
	r = r ?: join(p, sizeof(p), run_dir, "/rw", err);
	r = r ?: mkdir_p1(p, 0755, err);
	r = r ?: do_mount("tmpfs", p, "tmpfs", NOSUID_NODEV, "mode=0755", err);
	r = r ?: join(p, sizeof(p), run_dir, "/rw/upper", err);
	r = r ?: mkdir_p1(p, 0755, err);
	r = r ?: join(p, sizeof(p), run_dir, "/rw/work", err);
	r = r ?: mkdir_p1(p, 0755, err);
	if (r < 0)
		return r;
	snprintf(prewarmed_dir, sizeof(prewarmed_dir), "%s", run_dir);
	prewarmed_rw = true;
	r = join(p, sizeof(p), run_dir, "/dev", err);
	r = r ?: build_dev(p, err);
	if (r < 0)
		return r;
	prewarmed_dev = true;
	r = join(p, sizeof(p), run_dir, "/sys", err);
	r = r ?: mount_sys(p, err);
	if (r < 0)
		return r;
	prewarmed_sys = true;
	return 0;
}

int container_hold_mnt_ns(pid_t init_pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)init_pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * The guest's root is the initramfs (rootfs), which pivot_root refuses (EINVAL: rootfs has no
 * parent mount and can never be unmounted). There, do what switch_root does: move the new root
 * over "/" and chroot into it; the initramfs stays underneath, unreachable from the container.
 * Elsewhere (host-mode tests) pivot_root(".", ".") stacks the old root under the new one and
 * detaching it leaves only the container's tree, with no put_old directory needed.
 */
static int move_root(struct sbx_err *err)
{
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return sbx_err_set(err, errno, "move container root onto /");
	if (chroot(".") < 0)
		return sbx_err_set(err, errno, "chroot into container root");
	return 0;
}

static int switch_root(const char *root, bool force_move, struct sbx_err *err)
{
	if (chdir(root) < 0)
		return sbx_err_set(err, errno, "chdir '%s'", root);
	int r = 0;
	if (!force_move && syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			r = sbx_err_set(err, errno, "detach old root");
	} else if (force_move || errno == EINVAL) {
		r = move_root(err);
	} else {
		r = sbx_err_set(err, errno, "pivot_root '%s'", root);
	}
	if (r == 0 && chdir("/") < 0)
		r = sbx_err_set(err, errno, "chdir /");
	return r;
}

int container_enter_root(const char *root, const struct sbx_run_req *req, bool force_move,
			 struct sbx_err *err)
{
	/* Nothing mounted from here on may propagate back to the agent's namespace. */
	int r = do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err);
	if (r < 0)
		return r;
	if (req->hostname && sethostname(req->hostname, strlen(req->hostname)) < 0)
		return sbx_err_set(err, errno, "sethostname '%s'", req->hostname);
	if (req->domainname && setdomainname(req->domainname, strlen(req->domainname)) < 0)
		return sbx_err_set(err, errno, "setdomainname '%s'", req->domainname);
	char path[512];
	r = setup_proc(root, err);
	if (prewarmed_sys)
		r = r ?: move_prepared(root, "/sys", 0555, err);
	else
		r = r ?: join(path, sizeof(path), root, "/sys", err) ?: mount_sys(path, err);
	if (r == 0)
		agent_stage(AGENT_MARK_INIT_PROC);
	if (prewarmed_dev)
		r = r ?: move_prepared(root, "/dev", 0755, err);
	else
		r = r ?: join(path, sizeof(path), root, "/dev", err) ?: build_dev(path, err);
	if (r == 0 && join(path, sizeof(path), root, "/dev", err) == 0)
		mount_mqueue(path);
	if (r == 0)
		agent_stage(AGENT_MARK_INIT_DEV);
	r = r ?: switch_root(root, force_move, err);
	if (r == 0)
		agent_stage(AGENT_MARK_INIT_ROOT);
	r = r ?: mounts_apply(req, err);
	/* The cgroup before the createContainer hooks (agent/hooks.c), so they run in it as
	 * under runc; the sysctls, masked and read-only paths after them (process.c). */
	r = r ?: container_security_cgroup(req, err);
	return r;
}
