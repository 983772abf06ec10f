/*
 * Host <-> agent wire protocol (docs/protocol.md is the normative description).
 *
 * One vsock stream per VM, opened by the agent to the host (CID 2, port SBX_AGENT_PORT); the VMM
 * turns it into a connection on the unix socket "<vsock-uds>_<port>" that the CLI listens on.
 * The stream is a sequence of frames: a fixed little-endian header followed by `len` payload bytes.
 * Both ends treat every received byte as untrusted: decoders bound-check everything and reject
 * (never truncate) malformed input.
 */
#ifndef SANDBOX_PROTO_H
#define SANDBOX_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "proto_net.h"

#define SBX_AGENT_PORT 1024u
#define SBX_PROTO_VERSION 1u

#define SBX_FRAME_HDR_SIZE 8u
/* Largest payload either side accepts; data frames are at most SBX_DATA_MAX. */
#define SBX_FRAME_MAX (1u << 20)
#define SBX_DATA_MAX (64u * 1024u)

enum sbx_msg_type {
	/* host -> agent */
	SBX_MSG_RUN = 1,	 /* payload: TLV list, see enum sbx_run_tag */
	SBX_MSG_STDIN = 2,	 /* payload: raw bytes for the process's stdin (or pty) */
	SBX_MSG_STDIN_CLOSE = 3, /* no payload: close the process's stdin */
	SBX_MSG_SIGNAL = 4,	 /* payload: u32 signal number */
	SBX_MSG_WINSIZE = 5,	 /* payload: u16 rows, u16 cols */
	SBX_MSG_START = 6,	 /* no payload: let a held (RUN with HOLD) workload exec */
	SBX_MSG_EXEC = 7,	 /* no payload: open an exec session (a new connection) */

	/* agent -> host */
	SBX_MSG_HELLO = 0x81,	/* payload: u32 protocol version, u64 guest boot-to-ready ns */
	SBX_MSG_STARTED = 0x82, /* payload: u32 guest pid of the container process */
	SBX_MSG_STDOUT = 0x83,	/* payload: raw bytes (the pty's output when terminal) */
	SBX_MSG_STDERR = 0x84,	/* payload: raw bytes */
	SBX_MSG_EXIT =
	    0x85, /* payload: i32 exit code (0..255, 128+N on signal N), u32 signal (0 if none) */
	SBX_MSG_ERROR =
	    0x86, /* payload: i32 errno, i32 exit code the CLI should use, then UTF-8 text */
	SBX_MSG_CREATED = 0x87, /* payload: u32 guest pid of the container init; workload held */
	SBX_MSG_OOM = 0x88,	/* payload: u32 OOM kills so far in the container's guest cgroup */
	SBX_MSG_EXEC_AUTH = 0x89, /* payload: the run's exec secret; first frame of an exec dial */
};

/* Tags of the TLV entries in a RUN payload. Each entry: u16 tag, u16 reserved(0), u32 len, bytes.
 */
enum sbx_run_tag {
	SBX_RUN_ARG = 1,      /* string, repeated, in order; at least one */
	SBX_RUN_ENV = 2,      /* string "K=V", repeated */
	SBX_RUN_CWD = 3,      /* string, absolute */
	SBX_RUN_UID = 4,      /* u32 */
	SBX_RUN_GID = 5,      /* u32 */
	SBX_RUN_HOSTNAME = 6, /* string */
	SBX_RUN_TERMINAL = 7, /* u32 0/1 */
	SBX_RUN_WINSIZE = 8,  /* u16 rows, u16 cols */
	SBX_RUN_STDIN = 9,    /* u32 0/1: keep stdin open (-i); otherwise it reads /dev/null */
	SBX_RUN_ROOTFS = 10,  /* string: guest block device holding the rootfs, e.g. "/dev/vda" */
	SBX_RUN_ROOTFS_TYPE = 11, /* string: filesystem type, e.g. "erofs" */
	SBX_RUN_ADD_GID = 12,	  /* u32, repeated: supplementary groups */
	SBX_RUN_TIME_NS = 13,	  /* u64: host wall clock (CLOCK_REALTIME ns) to set in the guest */
	SBX_RUN_SEED = 14,	  /* 32..256 random bytes the agent mixes into the guest RNG */
	SBX_RUN_HOLD = 15, /* u32 0/1: build the container, send CREATED, exec only on START */
	SBX_RUN_NET = 16,  /* guest eth0: MAC, MTU, address, routes (common/proto_net.h) */
	SBX_RUN_RESOLV_CONF = 17, /* string: the container's /etc/resolv.conf */
	SBX_RUN_HOSTS = 18,	  /* string: the container's /etc/hosts */
	SBX_RUN_MOUNT =
	    19, /* string "ro:TAG:/target" or "rw:TAG:/target", repeated: virtio-fs share */
	/* The process's security settings (docs/security.md, "Guest side"): */
	SBX_RUN_RLIMIT = 20,	    /* u32 resource, u64 soft, u64 hard; repeated */
	SBX_RUN_SYSCTL = 21,	    /* string "key=value", a namespaced sysctl; repeated */
	SBX_RUN_MASKED_PATH = 22,   /* string, absolute; repeated */
	SBX_RUN_READONLY_PATH = 23, /* string, absolute; repeated */
	SBX_RUN_UMASK = 24,	    /* u32 0..0777 */
	SBX_RUN_OOM_SCORE_ADJ = 25, /* i32 -1000..1000 */
	SBX_RUN_PIDS_LIMIT = 26,    /* u64 >= 1: pids.max of the container's guest cgroup */
	SBX_RUN_CAPS = 27, /* 5 x u64: bounding, effective, inheritable, permitted, ambient */
	SBX_RUN_NO_NEW_PRIVS = 28, /* u32 0/1 */
	SBX_RUN_SECCOMP = 29,	   /* classic BPF program: 1..SBX_RUN_BPF_MAX insns of 8 bytes */
	SBX_RUN_CGROUP = 30,	   /* the container's guest cgroup and its limits (48 bytes) */
	SBX_RUN_EXEC_SECRET = 31,  /* SBX_EXEC_SECRET_LEN bytes every exec dial must present */
	SBX_RUN_DOMAINNAME = 32,   /* string: the container's NIS domain name (OCI domainname) */
	/* OCI hooks the agent runs in the guest (common/proto_run_hooks.c, docs/protocol.md): */
	SBX_RUN_HOOK = 33, /* u32 kind, u32 timeout, u32 n_args, u32 n_env, strings; repeated */
	SBX_RUN_HOOK_STATE = 34, /* u32 kind, then the state JSON its hooks read on stdin */
	SBX_RUN_LAST_TAG = SBX_RUN_HOOK_STATE,
};

#define SBX_RUN_MAX_ARGS 4096u
#define SBX_RUN_MAX_ENV 4096u
#define SBX_RUN_MAX_GIDS 64u
#define SBX_RUN_MAX_MOUNTS 16u
#define SBX_RUN_MOUNT_TAG_MAX 36u  /* virtio-fs config tag (virtio 1.2 §5.11.4) */
#define SBX_MOUNT_TMPFS "@tmpfs"   /* a MOUNT "tag" that is not a share: a guest tmpfs */
#define SBX_MOUNT_CGROUP "@cgroup" /* a MOUNT "tag" that is not a share: the guest's cgroup2 */
#define SBX_RUN_MAX_STR 65536u	   /* any single string, including its terminating NUL */
/* RNG seed: at least 256 bits (what the kernel's CRNG needs), at most 2048. */
#define SBX_RUN_SEED_MIN 32u
#define SBX_RUN_SEED_MAX 256u
#define SBX_RUN_MAX_RLIMITS 16u /* RLIM_NLIMITS */
#define SBX_RUN_MAX_SYSCTL 64u
#define SBX_RUN_MAX_PATHS 128u	  /* masked paths, and read-only paths, each */
#define SBX_RUN_BPF_MAX 4096u	  /* BPF_MAXINSNS */
#define SBX_EXEC_SECRET_LEN 32u	  /* 256 bits, fresh per container (docs/protocol.md) */
#define SBX_RUN_CGROUP_SIZE 48u	  /* wire size of SBX_RUN_CGROUP */
#define SBX_CPU_WEIGHT_MAX 10000u /* cgroup2 cpu.weight */
#define SBX_CPU_PERIOD_MIN 1000u  /* cgroup2 cpu.max period bounds, microseconds */
#define SBX_CPU_PERIOD_MAX 1000000u
#define SBX_RUN_MAX_HOOKS 16u		/* per kind */
#define SBX_RUN_HOOK_MAX_ARGS 256u	/* per hook */
#define SBX_RUN_HOOK_MAX_ENV 256u	/* per hook */
#define SBX_RUN_HOOK_PATH_MAX 4096u	/* PATH_MAX, with the NUL */
#define SBX_RUN_HOOK_TIMEOUT_MAX 86400u /* seconds */

/* The OCI hook kinds that run in the guest, in the order the agent runs them. */
enum sbx_hook_kind {
	SBX_HOOK_CREATE_CONTAINER = 0, /* container init, its root and mounts made */
	SBX_HOOK_START_CONTAINER = 1,  /* the workload, right before its execve */
	SBX_HOOK_KINDS = 2,
};

struct sbx_run_hook {
	char *path;  /* absolute, resolved in the container's root */
	char **args; /* n_args 0: argv is {path}; decoded: NULL-terminated */
	size_t n_args;
	char **env; /* "K=V"; decoded: NULL-terminated */
	size_t n_env;
	uint32_t timeout_s; /* 1..SBX_RUN_HOOK_TIMEOUT_MAX */
};

struct sbx_run_hooks {
	struct sbx_run_hook v[SBX_RUN_MAX_HOOKS];
	size_t n;
	char *state; /* the OCI state JSON on each hook's stdin; NULL: an empty stdin */
};

/* One classic BPF instruction, the layout of struct sock_filter (sent as LE u16, u8, u8, u32). */
struct sbx_bpf_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};

/* Capability sets as bit masks (bit N = capability N, linux/capability.h). */
struct sbx_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

/* The container's guest cgroup (agent/container_security.c); 0 means "not set" per field. */
struct sbx_cgroup_limits {
	uint64_t memory_max; /* bytes, memory.max */
	uint64_t memory_low; /* bytes, memory.low (OCI memory.reservation) */
	uint64_t swap_max;   /* bytes of swap, memory.swap.max; UINT64_MAX: no limit */
	uint64_t cpu_quota_us, cpu_period_us; /* cpu.max; quota 0: no limit, period 0: 100000 */
	uint32_t cpu_weight;		      /* cpu.weight 1..SBX_CPU_WEIGHT_MAX */
};

struct sbx_frame_hdr {
	uint32_t type;
	uint32_t len;
};

/* A decoded RUN request. Strings point into one owned allocation; free with sbx_run_req_free. */
struct sbx_run_req {
	char **argv; /* NULL-terminated */
	size_t argc;
	char **envp; /* NULL-terminated */
	size_t envc;
	char *cwd;	  /* default "/" */
	char *hostname;	  /* NULL: leave the guest default */
	char *domainname; /* NULL: leave the guest default */
	char *rootfs;	  /* NULL: no block rootfs (run in the initramfs; tests only) */
	char *rootfs_type;
	uint32_t uid, gid;
	uint32_t add_gids[SBX_RUN_MAX_GIDS];
	size_t n_add_gids;
	bool terminal;
	bool open_stdin;
	uint16_t rows, cols;
	uint64_t time_ns;
	uint8_t seed[SBX_RUN_SEED_MAX]; /* fresh host entropy; seed_len 0: none sent */
	size_t seed_len;
	bool hold;		   /* OCI create: the workload waits for START before execve */
	struct sbx_net_cfg net;	   /* net.present false: no network (eth0 stays down) */
	char *resolv_conf, *hosts; /* NULL: leave the rootfs's files alone */
	struct sbx_mount {
		char *tag;    /* virtio-fs tag, 1..SBX_RUN_MOUNT_TAG_MAX bytes, no ':' or '/' */
		char *target; /* absolute path inside the container */
		bool ro;
		/* NULL: the whole share. Else one name in the share's directory (a file bind):
		 * no '/' or ':', not "." or "..". Wire form "ro:TAG/NAME:/target". For the guest
		 * tag SBX_MOUNT_TMPFS it carries tmpfs options ("size=64m,mode=1777"). */
		char *subpath;
	} mounts[SBX_RUN_MAX_MOUNTS];
	size_t n_mounts;
	/* Security settings (agent/container_security.c). Absent: the defaults said per field. */
	struct sbx_rlimit {
		uint32_t resource;   /* < SBX_RUN_MAX_RLIMITS */
		uint64_t soft, hard; /* soft <= hard; UINT64_MAX: unlimited */
	} rlimits[SBX_RUN_MAX_RLIMITS];
	size_t n_rlimits;
	char **sysctl; /* "key=value"; n_sysctl entries */
	size_t n_sysctl;
	char **masked_paths, **readonly_paths;
	size_t n_masked_paths, n_readonly_paths;
	bool has_umask;
	uint32_t umask;
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	uint64_t pids_limit; /* 0: no limit */
	bool has_caps;	     /* false: the agent applies docker's default set */
	struct sbx_caps caps;
	bool no_new_privs;
	const struct sbx_bpf_insn *seccomp; /* NULL: none (the vsock filter applies anyway) */
	size_t seccomp_len;		    /* instructions */
	bool has_cgroup; /* make the container's guest cgroup (exec'd processes join it too) */
	struct sbx_cgroup_limits cgroup;
	bool has_exec_secret; /* exec dials present it (SBX_MSG_EXEC_AUTH) */
	uint8_t exec_secret[SBX_EXEC_SECRET_LEN];
	struct sbx_run_hooks hooks[SBX_HOOK_KINDS]; /* by enum sbx_hook_kind */
};

/*
 * The sysctls a container may set: those in a kernel namespace of its own (ipc, uts) or of its
 * VM (net: the guest's network is the container's). key is the dotted name.
 */
bool sbx_sysctl_allowed(const char *key, size_t len);

/* Header codec. Decode rejects len > SBX_FRAME_MAX and unknown types (-EPROTO). */
void sbx_hdr_encode(uint8_t out[SBX_FRAME_HDR_SIZE], uint32_t type, uint32_t len);
int sbx_hdr_decode(const uint8_t in[SBX_FRAME_HDR_SIZE], struct sbx_frame_hdr *hdr,
		   struct sbx_err *err);

/*
 * RUN codec. encode allocates *out (caller frees) holding the payload only (no header).
 * decode validates every entry: known tags, exact sizes for integers, strings NUL-free with
 * length <= SBX_RUN_MAX_STR, counts under the limits, argc >= 1, cwd absolute, no trailing bytes.
 */
int sbx_run_encode(const struct sbx_run_req *req, uint8_t **out, size_t *out_len,
		   struct sbx_err *err);
int sbx_run_decode(const uint8_t *buf, size_t len, struct sbx_run_req *req, struct sbx_err *err);
void sbx_run_req_free(struct sbx_run_req *req);
/* A mount's subpath: one name, no '/' or ':', not "." or "..", not empty. */
bool sbx_mount_name_ok(const char *s, size_t len);

/* Constant-time comparison of two secrets of n bytes (the time does not depend on where
 * they differ). */
bool sbx_secret_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* Fixed-layout payloads. decode returns -EPROTO on a wrong length. */
size_t sbx_exit_encode(uint8_t out[8], int32_t code, uint32_t signo);
int sbx_exit_decode(const uint8_t *buf, size_t len, int32_t *code, uint32_t *signo);
size_t sbx_u32_encode(uint8_t out[4], uint32_t v);
int sbx_u32_decode(const uint8_t *buf, size_t len, uint32_t *v);
size_t sbx_winsize_encode(uint8_t out[4], uint16_t rows, uint16_t cols);
int sbx_winsize_decode(const uint8_t *buf, size_t len, uint16_t *rows, uint16_t *cols);
size_t sbx_hello_encode(uint8_t out[12], uint32_t version, uint64_t ready_ns);
int sbx_hello_decode(const uint8_t *buf, size_t len, uint32_t *version, uint64_t *ready_ns);
/* ERROR: out must hold 8 + strlen(msg) (msg is cut at SBX_ERR_MSG_MAX-1 bytes). */
size_t sbx_error_encode(uint8_t *out, size_t cap, int32_t errnum, int32_t exit_code,
			const char *msg);
/* msg receives a NUL-terminated copy, cut to msg_cap-1 bytes; control bytes become '?'. */
int sbx_error_decode(const uint8_t *buf, size_t len, int32_t *errnum, int32_t *exit_code, char *msg,
		     size_t msg_cap);

/*
 * Blocking helpers over a stream fd (both ends use them). send writes header+payload fully
 * (retrying EINTR/partial writes). recv reads one whole frame into a malloc'd buffer (*payload,
 * NULL when len == 0); returns 0 on success, -ECONNRESET on clean EOF before a header, <0 else.
 */
int sbx_frame_send(int fd, uint32_t type, const void *payload, size_t len, struct sbx_err *err);
int sbx_frame_recv(int fd, struct sbx_frame_hdr *hdr, uint8_t **payload, struct sbx_err *err);

/*
 * Incremental reader for non-blocking event loops: feed bytes as they arrive, take whole frames.
 */
struct sbx_frame_reader {
	uint8_t hdr_buf[SBX_FRAME_HDR_SIZE];
	size_t hdr_have;
	struct sbx_frame_hdr hdr;
	uint8_t *payload;
	size_t payload_have;
};
/*
 * Consumes up to len bytes from buf; *used says how many. Returns 1 when a frame is complete
 * (hdr and *payload handed to the caller, who frees *payload), 0 when more bytes are needed,
 * <0 on a protocol error (the stream must then be dropped).
 */
int sbx_frame_reader_feed(struct sbx_frame_reader *r, const uint8_t *buf, size_t len, size_t *used,
			  struct sbx_frame_hdr *hdr, uint8_t **payload, struct sbx_err *err);
void sbx_frame_reader_reset(struct sbx_frame_reader *r);

#endif
