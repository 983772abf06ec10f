#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/proto.h"
#include "detach.h"
#include "image_run.h"
#include "net_sandbox.h"
#include "oci_guest_hooks.h"
#include "oci_log.h"
#include "oci_security.h"
#include "paths.h"
#include "rootfs_image.h"
#include "run_opts.h"
#include "jail.h"
#include "rundir.h"
#include "session.h"
#include "template.h"
#include "tty.h"
#include "user.h"
#include "vmm_proc.h"
#include "volume.h"

#define EXIT_SANDBOX_FAILED 125
#define DEFAULT_BOOT_TIMEOUT_S 180
/* After EXIT the agent powers the VM off; give it this long before SIGKILL. */
#define SHUTDOWN_GRACE_MS 10000
#define MAX_ENV_TOTAL (RUN_MAX_ENV + 8)
#define RUN_SEED_BYTES 64
/* CIDs 0-2 are reserved and 3 is the template build's (so a clone always sees a change). */
#define RUN_CID_MIN 4u

static const int forwarded_signals[] = {SIGINT,	 SIGTERM, SIGHUP,  SIGQUIT,
					SIGUSR1, SIGUSR2, SIGWINCH};

static int listen_unix(const char *path, struct sbx_err *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "socket path '%s' is too long", path);
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sbx_err_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "listen on '%s'", path);
	}
	return fd;
}

static int check_kvm(struct sbx_err *err)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "open /dev/kvm (KVM is needed to run micro-VMs)");
	close(fd);
	return 0;
}

static bool env_has(const struct run_opts *o, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < o->n_env; i++)
		if (!strncmp(o->env[i], key, kl) && o->env[i][kl] == '=')
			return true;
	return false;
}

/* Docker's defaults, then the user's -e values (which win). */
static size_t build_env(const struct run_opts *o, const char *hostname,
			const struct resolved_user *u, char **envp, char bufs[3][PATH_MAX + 16])
{
	size_t n = 0;
	if (!env_has(o, "PATH"))
		envp[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	if (!env_has(o, "HOSTNAME")) {
		snprintf(bufs[0], sizeof(bufs[0]), "HOSTNAME=%s", hostname);
		envp[n++] = bufs[0];
	}
	if (!env_has(o, "HOME")) {
		snprintf(bufs[1], sizeof(bufs[1]), "HOME=%s", u->home);
		envp[n++] = bufs[1];
	}
	if (o->tty && !env_has(o, "TERM"))
		envp[n++] = "TERM=xterm";
	for (size_t i = 0; i < o->n_env; i++)
		envp[n++] = (char *)o->env[i];
	envp[n] = NULL;
	return n;
}

static int encode_run(const struct run_opts *o, const struct run_ext *ext, const char *hostname,
		      struct net_sandbox *net, uint8_t **payload, size_t *len, struct sbx_err *err)
{
	struct resolved_user u;
	int r = user_resolve(o->user_db ? o->user_db : o->rootfs, o->user, &u, err);
	if (r < 0)
		return r;
	char *envp[MAX_ENV_TOTAL];
	char bufs[3][PATH_MAX + 16];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct sbx_run_req req = {
	    .argv = (char **)o->argv,
	    .argc = (size_t)o->argc,
	    .envp = envp,
	    .envc = build_env(o, hostname, &u, envp, bufs),
	    .cwd = (char *)(o->workdir ? o->workdir : "/"),
	    .hostname = (char *)hostname,
	    .rootfs = "/dev/vda",
	    .rootfs_type = "erofs",
	    .uid = u.uid,
	    .gid = u.gid,
	    .terminal = o->tty,
	    .open_stdin = o->interactive,
	    .time_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec,
	    .hold = ext && ext->hold,
	};
	if (ext && ext->n_add_gids > SBX_RUN_MAX_GIDS)
		return sbx_err_setx(err, E2BIG, "%zu additional groups exceed %u", ext->n_add_gids,
				    SBX_RUN_MAX_GIDS);
	for (size_t i = 0; ext && i < ext->n_add_gids; i++)
		req.add_gids[req.n_add_gids++] = ext->add_gids[i];
	req.n_mounts = volume_mounts(o->volumes, o->n_volumes, req.mounts);
	if (ext && ext->root_share) {
		req.rootfs = (char *)ext->root_share;
		req.rootfs_type = "virtiofs";
		req.n_mounts =
		    ext->n_mounts < SBX_RUN_MAX_MOUNTS ? ext->n_mounts : SBX_RUN_MAX_MOUNTS;
		memcpy(req.mounts, ext->mounts, req.n_mounts * sizeof(req.mounts[0]));
	}
	net_sandbox_to_run(net, &req);
	/* Fresh entropy per run: every clone of a template starts with the same RNG state. */
	req.seed_len = RUN_SEED_BYTES;
	if (getrandom(req.seed, req.seed_len, 0) != (ssize_t)req.seed_len)
		return sbx_err_set(err, errno, "getrandom");
	if (o->tty && !tty_winsize(STDIN_FILENO, &req.rows, &req.cols) &&
	    !tty_winsize(STDOUT_FILENO, &req.rows, &req.cols)) {
		req.rows = 24;
		req.cols = 80;
	}
	if (o->oci_spec)
		req.domainname = o->oci_spec->domainname;
	if (o->oci_spec)
		oci_guest_hooks_to_run(o->oci_spec, &req);
	struct oci_security sec = {0};
	r = o->oci_spec ? oci_security_to_run(o->oci_spec, &req, &sec, err) : 0;
	r = r ?: sbx_run_encode(&req, payload, len, err);
	oci_security_free(&sec);
	return r;
}

static int block_signals(struct sbx_err *err)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&set, forwarded_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return sbx_err_set(err, errno, "sigprocmask");
	int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return sbx_err_set(err, errno, "signalfd");
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

static int boot_timeout_ms(void)
{
	const char *e = getenv("SANDBOX_BOOT_TIMEOUT");
	int s = e ? atoi(e) : 0;
	return (s > 0 ? s : DEFAULT_BOOT_TIMEOUT_S) * 1000;
}

/* Prints the last line of the VMM's own log (its one-line error) when it failed. */
static void report_vmm_log(const char *log)
{
	cleanup_fclose FILE *f = fopen(log, "re");
	if (!f)
		return;
	char line[1024], last[1024] = "";
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			memcpy(last, line, sizeof(last));
	if (last[0])
		fprintf(stderr, "sandbox: vmm: %s%s", last, strchr(last, '\n') ? "" : "\n");
}

/*
 * The guest ended without reporting an outcome: its console (kernel messages, the agent's own
 * one-line complaints) is the only account of why, so show its tail before the run dir goes.
 */
#define CONSOLE_TAIL_LINES 8
static void report_console_tail(const char *serial)
{
	cleanup_fclose FILE *f = fopen(serial, "re");
	if (!f)
		return;
	char ring[CONSOLE_TAIL_LINES][256];
	unsigned n = 0;
	while (fgets(ring[n % CONSOLE_TAIL_LINES], sizeof(ring[0]), f))
		n++;
	unsigned first = n > CONSOLE_TAIL_LINES ? n - CONSOLE_TAIL_LINES : 0;
	for (unsigned i = first; i < n; i++) {
		char *l = ring[i % CONSOLE_TAIL_LINES];
		l[strcspn(l, "\r\n")] = '\0';
		if (l[0])
			fprintf(stderr, "sandbox: guest console: %s\n", l);
	}
}

struct run_ctx {
	struct run_opts o;
	struct net_sandbox net; /* none, the default bridge, or a given namespace */
	struct image_run img;	/* the IMAGE form: its cached erofs and config */
	const struct run_ext *ext;
	struct sandbox_paths paths;
	struct rundir dir;
	struct vmm_proc vmm;
	struct template_ref tmpl;
	struct vmm_cfg cfg;
	char image[PATH_MAX], uds[PATH_MAX], serial[PATH_MAX];
	int sigfd, listen_fd;
	uint8_t *payload;
	size_t payload_len;
	char vmm_log[PATH_MAX];
	struct volume_set vols; /* one virtiofsd per -v; zero-initialised is "none running" */
};

static void run_ctx_cleanup(struct run_ctx *c)
{
	if (c->vmm.pid > 0)
		vmm_stop(&c->vmm);
	net_sandbox_teardown(&c->net); /* after the VMM: its copy of the tap fd is gone */
	volumes_stop(&c->vols);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->sigfd >= 0)
		close(c->sigfd);
	free(c->payload);
	image_run_free(&c->img);
	template_release(&c->tmpl);
	tty_restore();
	rundir_remove(&c->dir);
}

static int acquire_template(struct run_ctx *c, bool rebuild, struct sbx_err *err)
{
	struct template_spec spec = {
	    .paths = c->paths, .cpus = c->o.cpus, .memory_mib = c->o.memory_mib, .sigfd = c->sigfd};
	template_release(&c->tmpl);
	return template_acquire(&spec, rebuild, &c->tmpl, err);
}

/* The OCI monitor's VM directory: <dir>/vm, under the container's state directory. */
static int ext_dir_create(struct run_ctx *c, struct sbx_err *err)
{
	snprintf(c->dir.id, sizeof(c->dir.id), "%s", c->ext->id ? c->ext->id : "sandbox");
	if ((size_t)snprintf(c->dir.path, sizeof(c->dir.path), "%s/vm", c->ext->dir) >=
	    sizeof(c->dir.path))
		return sbx_err_setx(err, ENAMETOOLONG, "state directory '%s' is too long",
				    c->ext->dir);
	if (mkdir(c->dir.path, 0700) < 0) {
		int e = errno;
		c->dir.path[0] = '\0';
		return sbx_err_set(err, e, "create '%s/vm'", c->ext->dir);
	}
	return 0;
}

/*
 * The run's network (shim/net_sandbox.h). An OCI run (ext) has a network only when its
 * config.json names a network namespace, which the monitor puts in o.netns; a detached
 * `run -d` keeps the command line's --network and -p.
 */
static int net_prepare(struct run_ctx *c, const char *hostname, struct sbx_err *err)
{
	bool oci_without_netns = c->ext && !c->ext->cli_network && !c->o.netns;
	struct net_sandbox_spec spec = {.none = c->o.network_none || oci_without_netns,
					.netns = c->o.netns,
					.publish = c->o.publish,
					.n_publish = c->o.n_publish};
	return net_sandbox_setup(&c->net, &spec, c->dir.id, hostname, err);
}

/* Everything a run needs before a VMM starts; done once even if the VM is started twice. */
static int prepare(struct run_ctx *c, struct sbx_err *err)
{
	int r = check_kvm(err);
	if (r < 0 || (r = sandbox_paths_resolve(&c->paths, c->o.kernel, c->o.initrd, err)) < 0)
		return r;
	if ((r = (c->ext && c->ext->dir ? ext_dir_create(c, err) : rundir_create(&c->dir, err))) <
	    0)
		return r;
	if (c->o.image && (r = image_run_prepare(&c->o, &c->img, err)) < 0)
		return r;
	const char *hostname = c->o.hostname ? c->o.hostname : c->dir.id;
	if ((r = net_prepare(c, hostname, err)) < 0)
		return r;
	if ((r = encode_run(&c->o, c->ext, hostname, &c->net, &c->payload, &c->payload_len, err)) <
	    0)
		return r;
	char agent_sock[PATH_MAX + 16];
	rundir_file(&c->dir, "rootfs.erofs", c->image);
	rundir_file(&c->dir, "vsock.sock", c->uds);
	rundir_file(&c->dir, "serial.log", c->serial);
	rundir_file(&c->dir, "vmm.log", c->vmm_log);
	snprintf(agent_sock, sizeof(agent_sock), "%s_%u", c->uds, SBX_AGENT_PORT);
	/* An image's cached erofs is shared by every run: the guest must not be able to write it.
	 */
	if (c->ext && c->ext->root_share)
		c->image[0] = '\0'; /* the root is a virtio-fs share: no disk */
	else if (c->o.image)
		snprintf(c->image, sizeof(c->image), "%s,ro", c->img.rootfs.erofs);
	else if ((r = rootfs_image_build(c->o.rootfs, c->image, err)) < 0)
		return r;
	if ((c->sigfd = block_signals(err)) < 0)
		return c->sigfd;
	if ((c->listen_fd = listen_unix(agent_sock, err)) < 0)
		return c->listen_fd;
	/* Last: every input is checked before a (first-run, one-minute) template build. */
	return c->o.no_template ? 0 : acquire_template(c, false, err);
}

/* A CID per run, so concurrent sandboxes (and clones of one template) never share one. */
static unsigned pick_cid(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)getpid();
	return RUN_CID_MIN + (v & 0x7fffffffu) % (0x7fffffffu - RUN_CID_MIN);
}

/* Starts the VMM: a restore of the matching template, or (--no-template) a cold boot. */
static int boot(struct run_ctx *c, bool rebuild, struct sbx_err *err)
{
	const char *timer = getenv("SANDBOX_BOOT_TIMER_LOG");
	c->cfg = (struct vmm_cfg){
	    .cpus = c->o.cpus,
	    .memory_mib = c->o.memory_mib,
	    .disk = c->image[0] ? c->image : NULL,
	    .vsock_cid = pick_cid(),
	    .vsock_uds = c->uds,
	    .serial_log = c->serial,
	    .boot_timer = timer && timer[0] ? timer : NULL,
	    .guest_profile = getenv("SANDBOX_GUEST_PROFILE"),
	    .stderr_log = c->vmm_log,
	    .debug = c->o.debug,
	    .jail = !c->o.no_jail && jail_enabled_by_env(),
	    .cpu_quota_us = c->o.cpu_quota_us,
	    .cpu_period_us = c->o.cpu_period_us,
	    /* For kernel debugging (e.g. initcall_debug); not a user-facing option. */
	    .cmdline_extra = getenv("SANDBOX_KERNEL_CMDLINE_EXTRA"),
	};
	c->cfg.net_arg = net_sandbox_vmm_arg(&c->net);
	c->cfg.net_fd = net_sandbox_tap_fd(&c->net);
	if (!c->o.no_template) {
		int r = rebuild ? acquire_template(c, true, err) : 0;
		if (r < 0)
			return r;
		c->cfg.restore_dir = c->tmpl.snapshot;
	}
	/* Fresh daemons per VMM: virtiofsd serves one connection and exits when it closes. */
	volumes_stop(&c->vols);
	int vr = volumes_start(&c->vols, c->o.volumes, c->o.n_volumes, c->dir.path, err);
	if (vr < 0)
		return vr;
	c->cfg.fs = c->vols.fs;
	c->cfg.n_fs = c->vols.n;
	c->vmm = (struct vmm_proc){.pid = -1, .pidfd = -1};
	return vmm_spawn(&c->vmm, &c->paths, &c->cfg, err);
}

/* The restored VMM refused the template (e.g. "another VMM build") before the guest ran. */
static bool restore_refused(const struct run_ctx *c, const struct session_result *res)
{
	return !c->o.no_template && !res->hello && c->vmm.reaped && WIFEXITED(c->vmm.status) &&
	       WEXITSTATUS(c->vmm.status) == 1;
}

/* The guest is up: its memory is mapped and its virtio-fs back ends are connected. */
static void vm_ready(void *ctx)
{
	struct run_ctx *c = ctx;
	template_release(&c->tmpl);
	/* The sockets' paths are no longer needed: nothing to leave behind if we are killed. */
	volumes_unlink_sockets(&c->vols);
}

/*
 * Whether the VM may still matter after the run's EXIT: a virtio-fs share (a -v volume) may
 * still have writes to put on the host, and an OCI or detached container (ext) may have exec
 * sessions whose own EXIT is still on its way. Otherwise the rootfs disk is read-only and the
 * container's writes live in guest RAM, so once EXIT is read nothing in the VM is worth its
 * power-off (sync, reboot: seconds of emulated guest kernel code on hosts without VMX/SVM).
 */
static bool vm_needed_after_exit(const struct run_ctx *c)
{
	return c->vols.n > 0 || c->ext;
}

static int run_session(struct run_ctx *c, struct session_result *res, struct sbx_err *err)
{
	if (c->o.tty && c->o.interactive)
		tty_make_raw(STDIN_FILENO);
	struct session_cfg scfg = {
	    .listen_fd = c->listen_fd,
	    .vmm = &c->vmm,
	    .sigfd = c->sigfd,
	    .run_payload = c->payload,
	    .run_len = c->payload_len,
	    .tty = c->o.tty,
	    .interactive = c->o.interactive,
	    .boot_timeout_ms = boot_timeout_ms(),
	    /* Once the clone runs, its memory is mapped: the template may be replaced. */
	    .on_ready = vm_ready,
	    .ready_ctx = c,
	    .hooks = c->ext ? c->ext->hooks : NULL,
	};
	int r = session_run(&scfg, res, err);
	tty_restore();
	if (r < 0)
		return r == -EINTR ? -res->exit_code : r;
	if (res->completed && !vm_needed_after_exit(c))
		vmm_stop(&c->vmm); /* nothing of the guest outlives the VM: skip its power-off */
	else if (vmm_wait(&c->vmm, SHUTDOWN_GRACE_MS) == -ETIMEDOUT)
		vmm_stop(&c->vmm);
	return res->exit_code;
}

/* Boots and serves the run; a template the VMM refuses is rebuilt once and tried again. */
static int boot_and_run(struct run_ctx *c, struct sbx_err *err)
{
	struct session_result res = {0};
	int r = boot(c, false, err);
	if (r >= 0)
		r = run_session(c, &res, err);
	if (r < 0 && r >= -128 && restore_refused(c, &res)) {
		report_vmm_log(c->vmm_log);
		fprintf(stderr, "sandbox: restoring template %.12s failed; rebuilding it\n",
			c->tmpl.key);
		memset(err, 0, sizeof(*err));
		r = boot(c, true, err);
		if (r >= 0)
			r = run_session(c, &res, err);
	}
	/* The guest side ended or broke without an outcome (the agent's ERROR is one, and an
	 * interruption during boot is the user's): whether the VMM died or is still running, show
	 * why, once. A running one is stopped first, so its console and log are complete. */
	if (r < 0 && r >= -128 && !c->o.debug && c->vmm.pid > 0) {
		vmm_stop(&c->vmm);
		report_console_tail(c->serial);
		report_vmm_log(c->vmm_log);
	}
	return r;
}

int run_vm(const struct run_opts *o, const struct run_ext *ext, struct sbx_err *err)
{
	struct run_ctx c = {.o = *o,
			    .ext = ext,
			    .sigfd = -1,
			    .listen_fd = -1,
			    .vmm = {.pid = -1, .pidfd = -1},
			    .tmpl = {.lock_fd = -1}};
	int r = prepare(&c, err);
	if (r >= 0)
		r = boot_and_run(&c, err);
	run_ctx_cleanup(&c);
	return r;
}

int cmd_run(int argc, char **argv)
{
	struct sbx_err err = {0};
	struct run_opts o;
	int r = run_opts_parse(&o, argc, argv, &err);
	if (r == 1)
		return 0;
	if (r < 0)
		return oci_fail("%s", err.msg); /* to stderr and to --log: 125 */
	if (o.detach || o.name)
		return detach_run(&o);
	r = run_vm(&o, NULL, &err);
	if (r >= 0)
		return r;
	if (r < -128 && r >= -(128 + 64))
		return -r; /* interrupted during boot: 128 + signal, like a killed process */
	return oci_fail("%s", err.msg);
}
