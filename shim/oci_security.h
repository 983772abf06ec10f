/*
 * The OCI process's security settings (config.json's capabilities, noNewPrivileges, rlimits,
 * umask, oomScoreAdj, linux.seccomp, maskedPaths, readonlyPaths, sysctl, resources.pids)
 * translated into the RUN's security fields, which the agent applies in the guest
 * (agent/container_security.c; docs/security.md, "Guest side").
 *
 * The seccomp profile is compiled here, on the host, with libseccomp into a classic BPF
 * program: the guest gets instructions only, and needs no libseccomp.
 */
#ifndef SANDBOX_OCI_SECURITY_H
#define SANDBOX_OCI_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../common/proto.h"
#include "oci_spec.h"

/* What the RUN's security fields point into; zero-initialise, free after encoding. */
struct oci_security {
	struct sbx_bpf_insn *bpf;
	char **sysctl; /* "key=value" */
	size_t n_sysctl;
};

/*
 * Fills req's security fields from spec. Capabilities absent from the spec leave req->has_caps
 * false: the agent then applies docker's default set (as for `sandbox run`).
 */
int oci_security_to_run(const struct oci_spec *spec, struct sbx_run_req *req,
			struct oci_security *sec, struct sbx_err *err);
void oci_security_free(struct oci_security *sec);
/* linux.resources -> the container's guest cgroup (memory, cpu); EINVAL for a bad period. */
int oci_cgroup_to_run(const struct oci_resources *res, struct sbx_cgroup_limits *c,
		      struct sbx_err *err);
/* runc's cpu.shares -> cpu.weight; 0 stays 0 (not set). */
uint32_t oci_cpu_shares_to_weight(uint64_t shares);
/*
 * Only the process's part (capabilities, no_new_privs, rlimits, umask, oomScoreAdj): for an
 * exec's process (`sandbox exec --process`), which joins the container's paths and cgroup.
 * doc names the file p came from in error messages ("config.json", "process.json").
 */
int oci_process_security_to_run(const struct oci_process *p, const char *doc,
				struct sbx_run_req *req, struct sbx_err *err);

/* "CAP_CHOWN", ... -> bit mask. Unknown names are skipped with a debug line, as runc does. */
uint64_t oci_caps_mask(char *const *names, size_t n);
/* "RLIMIT_NOFILE" -> 7; -1 when unknown. */
int oci_rlimit_resource(const char *name);
/* linux.seccomp -> BPF (malloc'd, *n instructions). */
int oci_seccomp_compile(const struct oci_seccomp *sc, struct sbx_bpf_insn **prog, size_t *n,
			struct sbx_err *err);

#endif
