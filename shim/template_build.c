/*
 * Building a template: a cold boot whose agent stops just before dialing the host, where the
 * VMM snapshots the whole VM (docs/templates.md, "Lifecycle").
 *
 * Atomicity: the VMM writes its snapshot into <root>/.build-<key:16>-XXXXXX/snapshot (itself via
 * temp dir + rename), we add meta, and only then does one rename (or RENAME_EXCHANGE with the
 * old template) make it visible as <root>/<key>. Killing the VMM or us at any point leaves at
 * most a .build-* directory, which the next build of that key removes under the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "template.h"
#include "rundir.h"
#include "vmm_proc.h"
#include "volume.h"

#define BUILD_TIMEOUT_S 300
#define TEMPLATE_BUILD_CID 3 /* clones get other CIDs (run.c), so the agent sees the change */

static int build_timeout_ms(void)
{
	const char *e = getenv("SANDBOX_BOOT_TIMEOUT");
	int s = e ? atoi(e) : 0;
	return (s > 0 ? s : BUILD_TIMEOUT_S) * 1000;
}

/* Leftovers of builds of this key that were killed; we hold the key's exclusive lock. */
static void sweep_stale_builds(const char *key)
{
	char prefix[TEMPLATE_KEY_HEX + 16], path[PATH_MAX];
	snprintf(prefix, sizeof(prefix), ".build-%.16s-", key);
	DIR *d = opendir(template_root());
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", template_root(), e->d_name);
		rmtree(path);
	}
	if (d)
		closedir(d);
}

/* The VMM's one-line error is the last line of its log. */
static int vmm_failure(const char *log, int status, struct sbx_err *err)
{
	char line[512], last[512] = "";
	FILE *f = fopen(log, "re");
	while (f && fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			memcpy(last, line, sizeof(last));
	if (f)
		fclose(f);
	last[strcspn(last, "\n")] = '\0';
	return sbx_err_setx(err, EIO, "template build: %s%s%s", vmm_exit_reason(status),
			    last[0] ? ": " : "", last);
}

/*
 * Waits for the build VMM like vmm_wait, but a signal on sigfd (a blocked SIGINT/SIGTERM of
 * `sandbox run`) ends the build: the caller removes the build dir, so nothing is left.
 */
static int wait_build(struct vmm_proc *v, int sigfd, struct sbx_err *err)
{
	struct pollfd p[2] = {{.fd = v->pidfd, .events = POLLIN},
			      {.fd = sigfd > 0 ? sigfd : -1, .events = POLLIN}};
	int r;
	do
		r = poll(p, 2, build_timeout_ms());
	while (r < 0 && errno == EINTR);
	if (r > 0 && p[1].revents) {
		struct signalfd_siginfo si = {0};
		if (read(sigfd, &si, sizeof(si)) < 0)
			si.ssi_signo = 0;
		vmm_stop(v);
		return sbx_err_setx(err, EINTR, "template build interrupted by signal %u",
				    si.ssi_signo);
	}
	if (r == 0 || vmm_wait(v, 0) == -ETIMEDOUT) {
		vmm_stop(v);
		return sbx_err_setx(err, ETIMEDOUT, "template build: no snapshot within %d s",
				    build_timeout_ms() / 1000);
	}
	return 0;
}

/* Boots the template VM in dir and waits until the VMM has snapshotted it and exited. */
static int boot_and_snapshot(const struct template_spec *spec, const char *dir, struct sbx_err *err)
{
	char snap[PATH_MAX], uds[PATH_MAX], serial[PATH_MAX], log[PATH_MAX];
	snprintf(snap, sizeof(snap), "%s/snapshot", dir);
	snprintf(uds, sizeof(uds), "%s/vsock.sock", dir);
	snprintf(serial, sizeof(serial), "%s/serial.log", dir);
	snprintf(log, sizeof(log), "%s/vmm.log", dir);
	struct vmm_cfg cfg = {
	    .cpus = spec->cpus,
	    .memory_mib = spec->memory_mib,
	    .snapshot_to = snap,
	    .empty_disk = true,
	    .vsock_cid = TEMPLATE_BUILD_CID,
	    .vsock_uds = uds,
	    .serial_log = serial,
	    .stderr_log = log,
	    .cmdline_extra = "sandbox.template=1",
	    /* Empty virtio-fs slots: a clone's `-v` shares fill them (docs/virtiofs.md). */
	    .fs = volume_template_slots,
	    .n_fs = VIRTIOFSD_SLOTS,
	};
	struct vmm_proc v = {.pid = -1, .pidfd = -1};
	int r = vmm_spawn(&v, &spec->paths, &cfg, err);
	if (r < 0)
		return sbx_err_wrap(err, "template build");
	if ((r = wait_build(&v, spec->sigfd, err)) < 0)
		return r;
	if (!WIFEXITED(v.status) || WEXITSTATUS(v.status) != 0)
		return vmm_failure(log, v.status, err);
	struct stat st;
	if (stat(snap, &st) < 0 || !S_ISDIR(st.st_mode))
		return sbx_err_setx(err, EIO,
				    "template build: the VM shut down without a snapshot "
				    "(is the agent in the initramfs up to date?)");
	/* Build-time leftovers (sockets, logs) are not part of the template. */
	unlink(uds);
	unlink(log);
	unlink(serial);
	return 0;
}

/* Makes dir the template <key>, swapping out an existing one atomically. */
static int install(const char *dir, const char *key, struct sbx_err *err)
{
	char dst[PATH_MAX];
	snprintf(dst, sizeof(dst), "%s/%s", template_root(), key);
	if (rename(dir, dst) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return sbx_err_set(err, errno, "install template '%s'", dst);
	if (renameat2(AT_FDCWD, dir, AT_FDCWD, dst, RENAME_EXCHANGE) < 0)
		return sbx_err_set(err, errno, "replace template '%s'", dst);
	rmtree(dir); /* now the old template */
	return 0;
}

static int build_locked(const struct template_spec *spec, const char *key, struct sbx_err *err)
{
	char dir[PATH_MAX];
	/* A short name: the VMM's vsock socket lives in it, and sun_path holds 108 bytes. */
	snprintf(dir, sizeof(dir), "%s/.build-%.16s-XXXXXX", template_root(), key);
	if (!mkdtemp(dir))
		return sbx_err_set(err, errno, "create '%s'", dir);
	int r = boot_and_snapshot(spec, dir, err);
	r = r ?: template_meta_write(dir, spec, err);
	r = r ?: install(dir, key, err);
	if (r < 0)
		rmtree(dir);
	return r;
}

int template_build(const struct template_spec *spec, const char *key, bool force, bool announce,
		   struct sbx_err *err)
{
	char meta[PATH_MAX];
	snprintf(meta, sizeof(meta), "%s/%s/meta", template_root(), key);
	cleanup_close int fd = template_lock(key, LOCK_EX, err);
	if (fd < 0)
		return fd;
	/* Whoever held the lock before us may have built it already: build once. */
	if (!force && access(meta, R_OK) == 0)
		return 0;
	sweep_stale_builds(key);
	if (announce)
		fprintf(
		    stderr,
		    "sandbox: building VM template for %u vCPU / %u MiB (first run, ~1 min)...\n",
		    spec->cpus, spec->memory_mib);
	return build_locked(spec, key, err);
}
