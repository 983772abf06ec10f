/*
 * config.json (OCI runtime-spec 1.0-1.1) parsed once into typed structs. Nothing outside
 * oci_spec.c sees the JSON tree. Every type error names the JSON path
 * ("config.json: process.args[2]: expected string"); unknown fields are logged (debug); a field
 * this runtime cannot honour, where ignoring it would weaken isolation, is an error
 * (docs/oci.md, "config.json").
 */
#ifndef SANDBOX_OCI_SPEC_H
#define SANDBOX_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../common/proto.h"

#define OCI_MAX_GIDS 64

struct oci_kv {
	char *key, *value;
};

struct oci_rlimit {
	char *type;
	uint64_t soft, hard;
};

struct oci_mount {
	char *destination, *type, *source;
	char **options;
	size_t n_options;
};

struct oci_hook {
	char *path;
	char **args, **env;
	size_t n_args, n_env;
	int timeout; /* seconds, 0: none */
};

struct oci_hook_list {
	struct oci_hook *v;
	size_t n;
};

enum oci_hook_kind {
	OCI_HOOK_PRESTART,
	OCI_HOOK_CREATE_RUNTIME,
	OCI_HOOK_CREATE_CONTAINER,
	OCI_HOOK_START_CONTAINER,
	OCI_HOOK_POSTSTART,
	OCI_HOOK_POSTSTOP,
	OCI_HOOK_KINDS,
};

struct oci_namespace {
	char *type, *path; /* path NULL: a new namespace */
};

struct oci_process {
	bool present;
	bool terminal;
	uint16_t console_rows, console_cols;
	char **args, **env; /* NULL-terminated */
	size_t n_args, n_env;
	char *cwd;
	uint32_t uid, gid;
	uint32_t add_gids[OCI_MAX_GIDS];
	size_t n_add_gids;
	bool has_umask;
	uint32_t umask;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool has_caps;
	char **caps_bounding; /* capability names as written ("CAP_CHOWN"); shim/oci_security.c */
	size_t n_caps_bounding;
	char **caps_effective, **caps_inheritable, **caps_permitted, **caps_ambient;
	size_t n_caps_effective, n_caps_inheritable, n_caps_permitted, n_caps_ambient;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
};

struct oci_resources {
	int64_t memory_limit;	    /* bytes; 0: none */
	int64_t memory_reservation; /* bytes; 0: none */
	int64_t memory_swap;	    /* bytes of memory + swap; 0: not set, -1: unlimited */
	uint64_t cpu_quota, cpu_period, cpu_shares;
	char *cpu_cpus;
	int64_t pids_limit; /* 0: none */
};

/* linux.seccomp, names as written; compiled to BPF by shim/oci_security.c. */
struct oci_seccomp_arg {
	uint32_t index;
	uint64_t value, value_two;
	char *op;
};

struct oci_seccomp_rule {
	char **names;
	size_t n_names;
	char *action;
	bool has_errno_ret;
	uint32_t errno_ret;
	struct oci_seccomp_arg *args;
	size_t n_args;
};

struct oci_seccomp {
	char *default_action;
	bool has_default_errno_ret;
	uint32_t default_errno_ret;
	char **architectures, **flags;
	size_t n_architectures, n_flags;
	struct oci_seccomp_rule *syscalls;
	size_t n_syscalls;
};

struct oci_spec {
	char *oci_version;
	struct oci_process process;
	char *root_path; /* as written (relative to the bundle, or absolute) */
	bool root_readonly;
	char *hostname, *domainname;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_hook_list hooks[OCI_HOOK_KINDS];
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	struct oci_resources resources;
	bool has_seccomp;
	struct oci_seccomp seccomp;
	char **masked_paths, **readonly_paths;
	size_t n_masked_paths, n_readonly_paths;
	struct oci_kv *sysctl, *annotations;
	size_t n_sysctl, n_annotations;
	/* From annotations io.sandbox.vcpus / io.sandbox.memory (0: default). */
	unsigned vcpus, memory_mib;
	char *cgroups_path; /* linux.cgroupsPath as written; NULL: none (shim/oci_cgroup.h) */
	/* Not from config.json: the monitor's fresh per-container secret for exec dials. */
	bool has_exec_secret;
	uint8_t exec_secret[SBX_EXEC_SECRET_LEN];
	/* Not from config.json: the monitor's rendering of the state JSON the guest hooks read,
	 * by enum sbx_hook_kind (shim/oci_guest_hooks.c); NULL when that kind has no hooks. */
	char *guest_hook_state[SBX_HOOK_KINDS];
};

/* Parses a config.json document (text, len bytes). */
int oci_spec_parse(const char *text, size_t len, struct oci_spec *spec, struct sbx_err *err);
/* Reads and parses <bundle>/config.json. */
int oci_spec_load(const char *bundle, struct oci_spec *spec, struct sbx_err *err);
void oci_spec_free(struct oci_spec *spec);
/* An exec's --process file: one process object, checked as config.json's process is. */
int oci_process_parse(const char *text, size_t len, struct oci_process *p, struct sbx_err *err);
void oci_process_free(struct oci_process *p);
const char *oci_hook_kind_name(enum oci_hook_kind k);

#endif
