#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/proto.h"
#include "oci_cgroup.h"
#include "oci_guest_hooks.h"
#include "oci_hooks.h"
#include "oci_log.h"
#include "oci_mounts.h"
#include "oci_state.h"
#include "run.h"
#include "run_opts.h"
#include "session.h"

#define CTL_IO_TIMEOUT_MS 2000

struct monitor {
	const struct monitor_cfg *cfg;
	struct oci_state st;
	int ctl_fd;
	int start_client; /* `sandbox start` waiting for the process to run; -1 none */
	int exec_client;  /* `sandbox exec` waiting for its connection from the agent; -1 none */
	bool notified, start_sent;
	bool sigkilled;	      /* `kill KILL` ended the VM: the process's status is 128+SIGKILL */
	struct oci_spec spec; /* cfg->spec's fields (borrowed) plus the exec secret */
	char agent_error[SBX_ERR_MSG_MAX]; /* the agent's last ERROR after create (start's reply) */
};

static int sockaddr_for(const char *path, struct sockaddr_un *a, struct sbx_err *err)
{
	*a = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a->sun_path))
		return sbx_err_setx(err, ENAMETOOLONG, "socket path '%s' is too long", path);
	strcpy(a->sun_path, path);
	return 0;
}

static void notify(struct monitor *m, const char *error)
{
	if (m->notified || m->cfg->notify_fd < 0)
		return;
	char line[1100];
	int n = error ? snprintf(line, sizeof(line), "error: %s\n", error)
		      : snprintf(line, sizeof(line), "ok\n");
	ssize_t w = write(m->cfg->notify_fd, line, (size_t)n);
	(void)w;
	close(m->cfg->notify_fd);
	m->notified = true;
}

static void set_status(struct monitor *m, enum oci_status s)
{
	struct sbx_err err = {0};
	m->st.status = s;
	if (oci_state_write(&m->st, &err) < 0)
		oci_log(OCI_ERROR, "%s", err.msg);
}

static void reply(int *fd, const char *msg)
{
	if (*fd < 0)
		return;
	char line[600];
	int n = snprintf(line, sizeof(line), "%s\n", msg);
	ssize_t w = send(*fd, line, (size_t)n, MSG_NOSIGNAL);
	(void)w;
	close(*fd);
	*fd = -1;
}

/* ---- agent events ---- */

static void on_created(struct monitor *m, struct session *s)
{
	struct sbx_err err = {0};
	set_status(m, OCI_CREATED);
	int r = oci_hooks_run(m->cfg->spec, OCI_HOOK_PRESTART, &m->st, &err);
	if (r == 0)
		r = oci_hooks_run(m->cfg->spec, OCI_HOOK_CREATE_RUNTIME, &m->st, &err);
	if (r < 0) {
		/* runtime-spec: a failing prestart/createRuntime hook fails the create. */
		oci_log(OCI_ERROR, "%s", err.msg);
		notify(m, err.msg);
		uint8_t b[4];
		session_send(s, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, SIGKILL));
		return;
	}
	notify(m, NULL);
	if (m->cfg->auto_start && session_send(s, SBX_MSG_START, NULL, 0) == 0)
		m->start_sent = true;
}

static void on_started(struct monitor *m)
{
	struct sbx_err err = {0};
	set_status(m, OCI_RUNNING);
	reply(&m->start_client, "ok");
	/* runtime-spec: a failing poststart hook is only logged. */
	if (oci_hooks_run(m->cfg->spec, OCI_HOOK_POSTSTART, &m->st, &err) < 0)
		oci_warn("%s", err.msg);
}

/* The guest's OOM kill count, kept for `events` (which may read it after we are gone). */
static void on_oom(struct monitor *m, uint32_t count)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], num[16];
	oci_state_file(m->cfg->id, OCI_OOM_FILE, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(num, sizeof(num), "%u\n", count);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, num, (size_t)n) != n || rename(tmp, path) < 0)
		oci_log(OCI_ERROR, "record OOM kills in '%s': %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	/* debug only: a detached monitor's stderr is the container's (conmon, containerd logs) */
	oci_debug("container %s: %u process(es) killed by the guest's OOM killer", m->cfg->id,
		  count);
}

/*
 * The agent's ERROR: while `create` waits for the outcome it is the outcome, which `create`
 * prints (once); later it goes to our stderr as in a plain run.
 */
static bool on_error(void *ctx, const char *msg)
{
	struct monitor *m = ctx;
	if (!m->notified && m->cfg->notify_fd >= 0) {
		notify(m, msg); /* `create` logs and prints it */
		return true;
	}
	snprintf(m->agent_error, sizeof(m->agent_error), "%s", msg);
	oci_log(OCI_ERROR, "%s", msg);
	return false;
}

static void on_event(void *ctx, struct session *s, uint32_t type, uint32_t value)
{
	struct monitor *m = ctx;
	if (type == SBX_MSG_CREATED)
		on_created(m, s);
	else if (type == SBX_MSG_STARTED)
		on_started(m);
	else if (type == SBX_MSG_OOM)
		on_oom(m, value);
}

/* ---- monitor.sock ---- */

static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, CTL_IO_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

static void ctl_start(struct monitor *m, struct session *s, int *client)
{
	if (m->st.status == OCI_RUNNING || m->start_sent) {
		reply(client, "error: cannot start an already running container");
		return;
	}
	if (m->st.status != OCI_CREATED) {
		reply(client, "error: cannot start a container that is not created");
		return;
	}
	if (session_send(s, SBX_MSG_START, NULL, 0) < 0) {
		reply(client, "error: lost the connection to the guest agent");
		return;
	}
	m->start_sent = true;
	m->start_client = *client; /* answered when the agent reports STARTED */
	*client = -1;
}

static void ctl_kill(struct monitor *m, struct session *s, const char *arg, int *client)
{
	char *end;
	long sig = strtol(arg, &end, 10);
	if (*end || sig < 1 || sig > 64) {
		reply(client, "error: invalid signal");
		return;
	}
	uint8_t b[4];
	if (session_send(s, SBX_MSG_SIGNAL, b, sbx_u32_encode(b, (uint32_t)sig)) < 0) {
		reply(client, "error: container not running");
		return;
	}
	/*
	 * SIGKILL must end the container even when its guest is wedged or paused (containerd
	 * falls back to it and then waits for the pid-file process). Killing the VM is what a
	 * SIGKILL of runc's init amounts to: every process of the container dies with it.
	 */
	pid_t vmm = sig == SIGKILL ? session_vmm_pid(s) : 0;
	if (vmm > 0 && kill(vmm, SIGKILL) == 0)
		m->sigkilled = true;
	reply(client, "ok");
}

/*
 * exec: the agent dials a new connection (agent/exec.c) that arrives on the session's listening
 * socket; on_accept hands it to the waiting `sandbox exec`, which runs the session on it.
 */
static void ctl_exec(struct monitor *m, struct session *s, int *client)
{
	if (m->st.status != OCI_RUNNING) {
		reply(client, m->st.status == OCI_PAUSED
				  ? "error: cannot exec in a paused container"
				  : "error: cannot exec in a container that is not running");
		return;
	}
	if (m->exec_client >= 0) {
		reply(client, "error: another exec is being set up; try again");
		return;
	}
	if (session_send(s, SBX_MSG_EXEC, NULL, 0) < 0) {
		reply(client, "error: lost the connection to the guest agent");
		return;
	}
	m->exec_client = *client;
	*client = -1;
}

static bool want_accept(void *ctx)
{
	return ((struct monitor *)ctx)->exec_client >= 0;
}

static int send_fd(int sock, int fd, const char *name, struct sbx_err *err);

static void on_accept(void *ctx, int fd)
{
	struct monitor *m = ctx;
	struct sbx_err err = {0};
	if (send_fd(m->exec_client, fd, "ok\n", &err) < 0)
		oci_warn("exec: %s", err.msg);
	close(fd);
	close(m->exec_client);
	m->exec_client = -1;
}

/*
 * pause/resume stop and continue the VMM process: its vCPU threads stop with it, so the whole
 * guest (kernel included) is frozen, as the cgroup freezer freezes runc's container.
 */
static void ctl_pause(struct monitor *m, struct session *s, bool pause, int *client)
{
	enum oci_status from = pause ? OCI_RUNNING : OCI_PAUSED;
	if (m->st.status != from) {
		reply(client,
		      pause ? "error: container not running" : "error: container not paused");
		return;
	}
	pid_t vmm = session_vmm_pid(s);
	if (vmm <= 0 || kill(vmm, pause ? SIGSTOP : SIGCONT) < 0) {
		reply(client, "error: the VM is gone");
		return;
	}
	set_status(m, pause ? OCI_PAUSED : OCI_RUNNING);
	reply(client, "ok");
}

/* events --stats reads the VMM's /proc: it is the one host process that holds the VM. */
static void ctl_vmm(struct monitor *m, struct session *s, int *client)
{
	pid_t vmm = session_vmm_pid(s);
	char msg[32];
	if (m->st.status != OCI_RUNNING && m->st.status != OCI_PAUSED) {
		reply(client, "error: container not running");
		return;
	}
	snprintf(msg, sizeof(msg), "ok %d", (int)vmm);
	reply(client, vmm > 0 ? msg : "error: the VM is gone");
}

static void on_ctl(void *ctx, struct session *s)
{
	struct monitor *m = ctx;
	int client = accept4(m->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0)
		return;
	char line[128];
	if (read_line(client, line, sizeof(line)) < 0) {
		close(client);
		return;
	}
	if (!strcmp(line, "start"))
		ctl_start(m, s, &client);
	else if (!strcmp(line, "exec"))
		ctl_exec(m, s, &client);
	else if (!strcmp(line, "pause") || !strcmp(line, "resume"))
		ctl_pause(m, s, !strcmp(line, "pause"), &client);
	else if (!strncmp(line, "kill ", 5))
		ctl_kill(m, s, line + 5, &client);
	else if (!strcmp(line, "vmm"))
		ctl_vmm(m, s, &client);
	else
		reply(&client, "error: unknown request");
}

static int ctl_listen(const char *id, struct sbx_err *err)
{
	char path[PATH_MAX];
	struct sockaddr_un a;
	oci_state_file(id, MONITOR_SOCK, path, sizeof(path));
	int r = sockaddr_for(path, &a, err);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return sbx_err_set(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "listen on '%s'", path);
	}
	return fd;
}

int monitor_request(const char *id, const char *req, char *out, size_t cap, struct sbx_err *err)
{
	char path[PATH_MAX];
	struct sockaddr_un a;
	oci_state_file(id, MONITOR_SOCK, path, sizeof(path));
	int r = sockaddr_for(path, &a, err);
	if (r < 0)
		return r;
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sbx_err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return sbx_err_set(err, errno, "connect to the monitor of container %s", id);
	char line[140];
	int n = snprintf(line, sizeof(line), "%s\n", req);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return sbx_err_set(err, errno, "send to the monitor of container %s", id);
	/* start waits for the guest to exec the process: no short timeout on the reply. */
	size_t got = 0;
	while (got + 1 < cap) {
		ssize_t k = read(fd, out + got, cap - 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (!got)
		return sbx_err_setx(err, ECONNRESET, "container %s stopped before answering", id);
	return 0;
}

/* ---- the console: a host pty whose master goes to the caller, as runc does ---- */

static int send_fd(int sock, int fd, const char *name, struct sbx_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		return sbx_err_set(err, errno, "send the console to the console socket");
	return 0;
}

int oci_console_setup(const char *console_socket, uint16_t rows, uint16_t cols, struct sbx_err *err)
{
	struct sockaddr_un a;
	int r = sockaddr_for(console_socket, &a, err);
	if (r < 0)
		return r;
	cleanup_close int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return sbx_err_set(err, errno, "socket");
	if (connect(sock, (struct sockaddr *)&a, sizeof(a)) < 0)
		return sbx_err_set(err, errno, "connect to console socket '%s'", console_socket);
	int master = -1, slave = -1;
	char name[64];
	struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
	if (openpty(&master, &slave, name, NULL, &ws) < 0)
		return sbx_err_set(err, errno, "openpty");
	r = send_fd(sock, master, name, err);
	close(master);
	if (r == 0)
		for (int fd = 0; fd < 3; fd++)
			if (dup2(slave, fd) < 0)
				r = sbx_err_set(err, errno, "dup2 the console");
	close(slave);
	return r;
}

/* The slave becomes our stdio: the session relays it to the guest's pty like a user's tty. */
static int console_setup(const struct monitor_cfg *cfg, struct sbx_err *err)
{
	const struct oci_process *p = &cfg->spec->process;
	return oci_console_setup(cfg->console_socket, p->console_rows, p->console_cols, err);
}

/* ---- the run ---- */

static void rootfs_path(const struct monitor_cfg *cfg, char *out, size_t cap)
{
	const char *root = cfg->spec->root_path;
	if (root[0] == '/')
		snprintf(out, cap, "%s", root);
	else
		snprintf(out, cap, "%s/%s", cfg->bundle, root);
}

/* linux.resources -> the VM's size (annotations win); the VM bounds what the container gets. */
static int vm_size(const struct oci_spec *s, unsigned *cpus, unsigned *mib, struct sbx_err *err)
{
	const struct oci_resources *res = &s->resources;
	*cpus = RUN_DEFAULT_CPUS;
	*mib = RUN_DEFAULT_MEMORY_MIB;
	if (res->cpu_quota && res->cpu_period) {
		uint64_t c = (res->cpu_quota + res->cpu_period - 1) / res->cpu_period;
		*cpus = c > RUN_MAX_CPUS ? RUN_MAX_CPUS : (unsigned)c;
	}
	if (res->memory_limit > 0) {
		uint64_t m = ((uint64_t)res->memory_limit + (1u << 20) - 1) >> 20;
		if (m > RUN_MAX_MEMORY_MIB)
			return sbx_err_setx(err, ERANGE,
					    "linux.resources.memory.limit: %llu MiB exceeds the VM "
					    "maximum of %u MiB",
					    (unsigned long long)m, RUN_MAX_MEMORY_MIB);
		/* The guest kernel and agent need some RAM of their own. */
		*mib = m < RUN_MIN_MEMORY_MIB ? RUN_MIN_MEMORY_MIB : (unsigned)m;
	}
	if (s->vcpus)
		*cpus = s->vcpus;
	if (s->memory_mib)
		*mib = s->memory_mib;
	return 0;
}

/*
 * root.path and the bind mounts become virtio-fs shares (shim/oci_mounts.c): the container
 * writes to the host's directories, as under runc. The shares ride in o->volumes (slot i =
 * share i); ext tells run_vm that the root is a share and which mounts the guest makes.
 */
static int plan_filesystems(const struct monitor_cfg *cfg, const char *rootfs, struct run_opts *o,
			    struct oci_mount_plan *plan, struct run_ext *ext, struct sbx_err *err)
{
	int r = oci_mounts_plan(cfg->spec, rootfs, plan, err);
	if (r < 0)
		return r;
	memcpy(o->volumes, plan->shares, plan->n_shares * sizeof(plan->shares[0]));
	o->n_volumes = plan->n_shares;
	ext->root_share = plan->root;
	ext->mounts = plan->mounts;
	ext->n_mounts = plan->n_mounts;
	return 0;
}

static int build_opts(const struct monitor_cfg *cfg, struct run_opts *o, char *rootfs, char *user,
		      struct oci_mount_plan *plan, struct run_ext *ext, struct sbx_err *err)
{
	const struct oci_process *p = &cfg->spec->process;
	if (cfg->opts) {
		*o = *cfg->opts;
		return 0;
	}
	memset(o, 0, sizeof(*o));
	rootfs_path(cfg, rootfs, PATH_MAX);
	int r = plan_filesystems(cfg, rootfs, o, plan, ext, err);
	if (r < 0)
		return r;
	snprintf(user, 32, "%u:%u", p->uid, p->gid);
	o->rootfs = rootfs;
	o->user = user;
	o->argv = p->args;
	o->argc = (int)p->n_args;
	for (size_t i = 0; i < p->n_env; i++)
		o->env[o->n_env++] = p->env[i];
	o->workdir = p->cwd;
	o->hostname = cfg->spec->hostname;
	o->oci_spec = cfg->spec; /* its security settings: shim/oci_security.c */
	o->tty = p->terminal;
	/* OCI: the caller's stdin is the process's stdin (a pipe, a FIFO, /dev/null). */
	o->interactive = true;
	/* A network namespace made by CNI/podman/Kubernetes: the VM's tap goes there
	 * (docs/networking.md). Without a path (a fresh namespace) the guest gets only lo. */
	for (size_t i = 0; i < cfg->spec->n_namespaces; i++) {
		const struct oci_namespace *ns = &cfg->spec->namespaces[i];
		if (ns->type && !strcmp(ns->type, "network") && ns->path && ns->path[0])
			o->netns = ns->path;
	}
	/* linux.resources.cpu.quota/period also bound the jailed VMM's cgroup (shim/jail.h). */
	o->cpu_quota_us = cfg->spec->resources.cpu_quota;
	o->cpu_period_us = cfg->spec->resources.cpu_period;
	return vm_size(cfg->spec, &o->cpus, &o->memory_mib, err);
}

static int monitor_init(struct monitor *m, const struct monitor_cfg *cfg, struct sbx_err *err)
{
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(m->st.created, sizeof(m->st.created), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(m->st.created + n, sizeof(m->st.created) - n, ".%09ldZ", now.tv_nsec);
	snprintf(m->st.id, sizeof(m->st.id), "%s", cfg->id);
	snprintf(m->st.bundle, sizeof(m->st.bundle), "%s", cfg->bundle);
	if (!cfg->opts)
		rootfs_path(cfg, m->st.rootfs, sizeof(m->st.rootfs));
	m->st.pid = getpid();
	m->st.pid_start = oci_pid_start_time(m->st.pid);
	m->st.exit_code = -1;
	m->st.annotations = cfg->spec->annotations; /* borrowed: never freed here */
	m->st.n_annotations = cfg->spec->n_annotations;
	m->st.status = OCI_CREATING;
	int r = oci_state_write(&m->st, err);
	if (r < 0)
		return r;
	if (cfg->console_socket && (r = console_setup(cfg, err)) < 0)
		return r;
	m->ctl_fd = ctl_listen(cfg->id, err);
	return m->ctl_fd < 0 ? m->ctl_fd : 0;
}

/*
 * A fresh secret for this container's exec dials (docs/protocol.md, "Exec sessions"): in the
 * RUN for the agent, and in <state>/exec.secret (0600, in the 0700 state dir) for `sandbox
 * exec`, which checks what each exec connection presents.
 */
static int make_exec_secret(struct monitor *m, struct sbx_err *err)
{
	char path[PATH_MAX];
	oci_state_file(m->cfg->id, OCI_EXEC_SECRET_FILE, path, sizeof(path));
	if (getrandom(m->spec.exec_secret, sizeof(m->spec.exec_secret), 0) !=
	    (ssize_t)sizeof(m->spec.exec_secret))
		return sbx_err_set(err, errno, "getrandom (exec secret)");
	cleanup_close int fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sbx_err_set(err, errno, "create '%s'", path);
	if (write(fd, m->spec.exec_secret, sizeof(m->spec.exec_secret)) !=
	    (ssize_t)sizeof(m->spec.exec_secret))
		return sbx_err_set(err, errno, "write '%s'", path);
	m->spec.has_exec_secret = true;
	return 0;
}

/* OCI containers (not detached image runs): the host cgroup and the exec secret. */
static int prepare_container(struct monitor *m, struct run_opts *o, struct sbx_err *err)
{
	m->spec = *m->cfg->spec;
	int r = oci_cgroup_setup(&m->spec, m->cfg->id, o->memory_mib, err);
	r = r ?: make_exec_secret(m, err);
	r = r ?: oci_guest_hooks_render(&m->spec, &m->st, err);
	o->oci_spec = &m->spec;
	return r;
}

/* print: false when `create` is still waiting for the outcome and prints the error itself. */
static int exit_status(int r, const struct sbx_err *err, bool print)
{
	if (r >= 0)
		return r;
	if (r < -128 && r >= -(128 + 64))
		return -r;
	oci_log(OCI_ERROR, "%s", err->msg);
	if (print)
		fprintf(stderr, "sandbox: %s\n", err->msg);
	return OCI_EXIT_FAILED;
}

int monitor_run(const struct monitor_cfg *cfg)
{
	struct sbx_err err = {0};
	struct monitor m = {.cfg = cfg, .ctl_fd = -1, .start_client = -1, .exec_client = -1};
	struct run_opts o;
	char rootfs[PATH_MAX], user[32];
	struct run_ext ext = {0};
	cleanup_free struct oci_mount_plan *plan = calloc(1, sizeof(*plan));
	int r = plan ? monitor_init(&m, cfg, &err) : sbx_err_set(&err, ENOMEM, "mount plan");
	if (r == 0)
		r = build_opts(cfg, &o, rootfs, user, plan, &ext, &err);
	if (r == 0 && !cfg->opts)
		r = prepare_container(&m, &o, &err);
	if (r == 0) {
		struct session_hooks hooks = {.ctl_fd = m.ctl_fd,
					      .on_ctl = on_ctl,
					      .on_event = on_event,
					      .on_error = on_error,
					      .want_accept = want_accept,
					      .on_accept = on_accept,
					      .ctx = &m};
		ext.id = cfg->id;
		ext.hold = true;
		ext.add_gids = cfg->spec->process.add_gids;
		ext.n_add_gids = cfg->spec->process.n_add_gids;
		/* run -d: the network options are the CLI's, as in a foreground run */
		ext.cli_network = cfg->opts != NULL;
		ext.hooks = &hooks;
		char dir[PATH_MAX];
		oci_state_dir(cfg->id, dir, sizeof(dir));
		ext.dir = dir;
		r = run_vm(&o, &ext, &err);
	}
	bool create_waits = !m.notified && cfg->notify_fd >= 0;
	int status = r < 0 && m.sigkilled ? 128 + SIGKILL : exit_status(r, &err, !create_waits);
	if (!m.notified)
		notify(&m, r < 0 ? err.msg : "the container's process ended before it was created");
	m.st.exit_code = status;
	bool ran = m.st.status == OCI_RUNNING;
	set_status(&m, OCI_STOPPED);
	if (m.start_client >= 0) {
		char msg[SBX_ERR_MSG_MAX + 64];
		/* e.g. a startContainer hook that failed: start names it, as create would */
		if (m.agent_error[0])
			snprintf(msg, sizeof(msg), "error: %s", m.agent_error);
		else
			snprintf(msg, sizeof(msg),
				 "error: the container's process failed to start (status %d)",
				 status);
		reply(&m.start_client, ran ? "ok" : msg);
	}
	reply(&m.exec_client, "error: the container stopped");
	oci_guest_hooks_free(&m.spec);
	if (m.ctl_fd >= 0) {
		char path[PATH_MAX];
		oci_state_file(cfg->id, MONITOR_SOCK, path, sizeof(path));
		unlink(path);
		close(m.ctl_fd);
	}
	return status;
}
