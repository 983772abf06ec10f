/*
 * sandbox-agent: the guest's PID 1 (docs/architecture.md, "Guest agent contract").
 *
 * Modules: main.c (arguments, top-level flow), pid1.c (guest basics: mounts, boot timer, vsock
 * dial, power off), session.c (HELLO/RUN handshake and setup), channel.c (the event loop that
 * relays stdio, signals and the exit status), stdio.c (pipes/pty, byte queues), container.c
 * (rootfs and container mounts), process.c (container init and workload), template.c (what a
 * VM restored from a template must renew: CID, rootfs disk, RNG), exec.c (OCI exec sessions:
 * more processes in the running container, each on its own connection).
 */
#ifndef SANDBOX_AGENT_H
#define SANDBOX_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/error.h"
#include "../common/proto.h"

/* Exit codes reported for failures before/at exec (docs/protocol.md, ERROR). */
#define AGENT_EXIT_SETUP 125
#define AGENT_EXIT_NOEXEC 126
#define AGENT_EXIT_NOTFOUND 127

/* Boot-timer stage bytes written to port 0x440. */
enum agent_stage {
	AGENT_STAGE_STARTED = 1,
	AGENT_STAGE_CONNECTED = 2,
	AGENT_STAGE_EXECED = 3,
	AGENT_STAGE_EXITING = 4,
	AGENT_STAGE_SNAPSHOT = 0x10, /* template build: the VMM snapshots the VM on this byte */
	/* Finer marks inside one run (docs/benchmarks.md, "Where one run spends its time"). */
	AGENT_MARK_RUN = 0x20,	     /* RUN received */
	AGENT_MARK_IDENTITY = 0x21,  /* clock set, RNG reseeded */
	AGENT_MARK_DISK = 0x22,	     /* rootfs disk has its medium */
	AGENT_MARK_LOWER = 0x23,     /* rootfs (lower layer) mounted */
	AGENT_MARK_OVERLAY = 0x24,   /* overlay root mounted */
	AGENT_MARK_NET = 0x25,	     /* network configured */
	AGENT_MARK_STDIO = 0x26,     /* stdio pipes/pty made */
	AGENT_MARK_CLONED = 0x27,    /* container init cloned (agent side) */
	AGENT_MARK_INIT = 0x30,	     /* container init runs */
	AGENT_MARK_INIT_FDS = 0x31,  /* its fds arranged */
	AGENT_MARK_INIT_PROC = 0x32, /* /proc and /sys mounted */
	AGENT_MARK_INIT_DEV = 0x33,  /* /dev built */
	AGENT_MARK_INIT_ROOT = 0x34, /* root switched */
	AGENT_MARK_WORKLOAD = 0x35,  /* workload forked, runs */
	AGENT_MARK_PRE_EXEC = 0x36,  /* workload about to execve */
	AGENT_MARK_STATUS = 0x40,    /* the workload's status reached the agent */
	AGENT_MARK_SERVED = 0x41,    /* EXIT sent, agent_serve returned */
	AGENT_MARK_REBOOT = 0x42,    /* synced, calling reboot */
};

struct agent_cfg {
	const char *run_dir; /* where lower/, rw/, root/ are mounted; "/run/c" in the guest */
	/*
	 * TEST HOOK: a rootfs directory used (bind-mounted read-only) instead of the RUN's block
	 * device. Set only by --test-rootfs; NULL in the guest, where a RUN without ROOTFS is
	 * rejected.
	 */
	const char *test_rootfs;
	bool set_clock; /* false in test mode: never touch the host's clock */
	/* TEST HOOK: take the initramfs path (move + chroot) even where pivot_root works. */
	bool test_force_move;
	/* Where the rootfs device's size is polled ("/sys/block"); NULL: do not wait for it. */
	const char *sys_block_dir;
	bool seed_rng;	    /* apply RUN's SEED to the kernel RNG (false in host-mode tests) */
	uint32_t vsock_cid; /* our CID on the host connection, given to the workload; 0: none */
	bool hold_mnt_ns;   /* PID 1: container_hold_mnt_ns (the VM ends after the run) */
};

/* ---- pid1.c ---- */
void pid1_mount_basics(void);
void agent_stage(enum agent_stage stage);
void agent_stage_enable(void);
int pid1_dial_host(struct sbx_err *err);
void agent_console(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void pid1_poweroff(void);
uint64_t agent_boottime_ns(void);
int agent_test_isolate(const char *run_dir, struct sbx_err *err); /* TEST HOOK */

/* ---- template.c ---- */
#define AGENT_DISK_WAIT_MS 10000 /* after a restore the disk arrives by a config change */
/* True when the kernel command line (cmdline_path, e.g. /proc/cmdline) has sandbox.template=1. */
bool agent_template_requested(const char *cmdline_path);
/* Snapshot point: signals the VMM, and (in a restored clone) waits for the new vsock CID. */
void agent_template_point(void);
/* Local CID of a connected vsock socket; 0 when fd is not one. */
uint32_t agent_conn_cid(int fd);
/* Polls <sys_block>/<basename dev>/size until non-zero; ENXIO/ENOENT after timeout_ms. */
int agent_wait_disk(const char *sys_block, const char *dev, int timeout_ms, struct sbx_err *err);
/* RNDADDENTROPY of seed into /dev/urandom, then RNDRESEEDCRNG. */
int agent_seed_rng(const uint8_t *seed, size_t len, struct sbx_err *err);
/*
 * Appends SANDBOX_VSOCK_CID=<cid> to req's environment unless it is set; *storage receives the
 * new array (free it after the run; NULL when nothing was added).
 */
int agent_env_add_cid(struct sbx_run_req *req, uint32_t cid, char **storage, struct sbx_err *err);

/* ---- session.c ---- */
/* Serves one HELLO..EXIT conversation on fd. <0 only when the host connection failed. */
int agent_serve(int fd, const struct agent_cfg *cfg, struct sbx_err *err);

/* ---- stdio.c ---- */
/* A FIFO of bytes (frames to the host, or stdin for the workload). */
struct byteq {
	uint8_t *buf;
	size_t head, len, cap;
};
int byteq_push(struct byteq *q, const void *data, size_t len);
int byteq_push_frame(struct byteq *q, uint32_t type, const void *payload, size_t len);
void byteq_pop(struct byteq *q, size_t n);
void byteq_free(struct byteq *q);
static inline const uint8_t *byteq_data(const struct byteq *q)
{
	return q->buf + q->head;
}

/* The agent's ends (non-blocking, CLOEXEC) and the workload's ends of the stdio channels. */
struct agent_stdio {
	bool tty;
	int in_w;     /* agent writes stdin here (pty master when tty); -1 when none */
	int out_r;    /* STDOUT source (pty master when tty) */
	int err_r;    /* STDERR source; -1 when tty */
	int child[3]; /* the workload's fds 0, 1, 2 (the pty slave thrice when tty) */
};
int stdio_create(struct agent_stdio *s, const struct sbx_run_req *req, struct sbx_err *err);
void stdio_close_child(struct agent_stdio *s);
void stdio_destroy(struct agent_stdio *s);
int stdio_set_winsize(int fd, uint16_t rows, uint16_t cols);

/* ---- container.c ---- */
/* Agent side, before the container exists: overlay of the rootfs at <run_dir>/root. */
int container_prepare_rootfs(const struct agent_cfg *cfg, const struct sbx_run_req *req, char *root,
			     size_t root_cap, struct sbx_err *err);
/*
 * Container init side: private mounts, hostname, /proc /dev /sys, then pivot_root into root
 * (or move+chroot when "/" is the initramfs, or always when force_move: a test hook).
 */
int container_enter_root(const char *root, const struct sbx_run_req *req, bool force_move,
			 struct sbx_err *err);
/*
 * PID 1, before the template point (so every clone starts with it done): makes run_dir's
 * directories, the rw tmpfs, and the container's /dev tree and read-only /sys, which
 * container_prepare_rootfs and container_enter_root then use instead of building them.
 */
int container_prewarm(const char *run_dir, struct sbx_err *err);
/*
 * An fd on the container init's mount namespace (-1 on failure). Held open, it keeps the
 * namespace's teardown (unmounting every container mount) out of the init's exit, which the
 * EXIT frame waits for; PID 1 powers off without ever closing it.
 */
int container_hold_mnt_ns(pid_t init_pid);

/* ---- hooks.c: the OCI hooks that run in the guest (docs/oci.md, "hooks") ---- */
/* Runs req's hooks of kind in order, each to its end; the first failure stops the list. */
int agent_hooks_run(const struct sbx_run_req *req, enum sbx_hook_kind kind, struct sbx_err *err);

/* ---- container_security.c (docs/security.md, "Guest side") ---- */
/* Container init, after the root switch and its mounts: the container's guest cgroup. */
int container_security_cgroup(const struct sbx_run_req *req, struct sbx_err *err);
/* Container init, after the createContainer hooks: sysctl, masked and read-only paths. */
int container_security_root(const struct sbx_run_req *req, struct sbx_err *err);
/*
 * The workload (first process or exec), after its uid/gid switch (done with PR_SET_KEEPCAPS),
 * right before execve: rlimits, umask, oom_score_adj, capabilities (docker's default set when
 * the RUN has none), no_new_privs, the vsock filter (always) and the RUN's seccomp program.
 */
int container_security_exec(const struct sbx_run_req *req, struct sbx_err *err);
/*
 * An exec's process joins the container's guest cgroup (that of init_pid), from the agent's
 * mount namespace, before it enters the container. No container cgroup: nothing to do.
 */
int container_security_join_cgroup(pid_t init_pid, struct sbx_err *err);
/* OOM kills so far in the container's guest cgroup (memory.events); 0 when there is none.
 * Only the guest's PID 1 looks: host-mode tests have no guest cgroup to read. */
uint32_t container_security_oom_kills(void);
/* An fd on that memory.events whose poll() reports POLLPRI once it changed, or -1 (none). */
int container_security_oom_watch(void);
/* The count through the watch fd (the read also re-arms its POLLPRI); -errno when the file
 * is gone (its cgroup removed: poll would report it forever). */
int container_security_oom_read(int fd, uint32_t *count);
/* PID 1, at RUN: whether this run makes a container cgroup (else there is nothing to count). */
void container_security_note_run(const struct sbx_run_req *req);

/* ---- process.c ---- */
struct container {
	pid_t init_pid;
	int exec_r;   /* EOF: the workload exec'd; data: an ERROR payload (errno, code, text) */
	int status_r; /* the workload's raw wait status (int), written by the container init */
	int start_w;  /* RUN with HOLD: one byte lets the held workload exec; -1 otherwise */
	bool hold;    /* RUN had HOLD */
	bool held;    /* the held workload reported it is ready (CREATED sent) */
};
int container_spawn(struct container *c, const char *root, const struct sbx_run_req *req,
		    bool force_move, struct agent_stdio *s, struct sbx_err *err);
void container_destroy(struct container *c);
/* Maps an execve errno to the reported exit code (127 not found, 126 not executable). */
int exec_errno_to_code(int errnum);

/* ---- exec.c ---- */
/*
 * How an exec session reaches the host: a new connection, like the first one (pid1_dial_host
 * in the guest; a test's own function in host mode). NULL: EXEC is refused.
 */
extern int (*agent_exec_dial)(struct sbx_err *err);
/*
 * EXEC from the host: forks a session that dials the host anew, says HELLO, takes a RUN and
 * runs its process inside the namespaces and root of the container whose init is init_pid.
 */
void agent_exec_fork(pid_t init_pid);
/*
 * Keeps the RUN's exec secret for later exec dials and wipes req's copy. Call before the
 * container exists: the kept copy sits in a MADV_WIPEONFORK page, so the container init and
 * workload (forks of the agent) never hold it; exec sessions get it over a pipe.
 */
void agent_exec_keep_secret(struct sbx_run_req *req);

/* ---- process.c (exec) ---- */
/* Like container_spawn, but joins the namespaces and root of target_init instead of new ones. */
int container_join_spawn(struct container *c, pid_t target_init, const struct sbx_run_req *req,
			 struct agent_stdio *s, struct sbx_err *err);

/* ---- channel.c ---- */
/* Relays until the workload ended and all output was sent; sends EXIT or ERROR last. */
int channel_run(int fd, struct container *c, struct agent_stdio *s, struct sbx_err *err);

#endif
