/*
 * libFuzzer target for config.json and `sandbox exec --process` process.json (shim/oci_spec.c),
 * and for what `sandbox create` derives from a parsed spec before any VM or host state exists:
 * the cgroup path (shim/oci_cgroup.c), the mount plan (shim/oci_mounts.c, which only stats
 * and resolves paths), the guest hooks and their state JSON (shim/oci_guest_hooks.c), the
 * security fields with the compiled seccomp program (shim/oci_security.c), and the RUN request
 * they end in, encoded and decoded back as the agent would (common/proto_run.c).
 * Build: `make fuzz` (the Makefile lists the sources). The whole input is tried as both.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/proto.h"
#include "../../shim/oci_cgroup.h"
#include "../../shim/oci_guest_hooks.h"
#include "../../shim/oci_mounts.h"
#include "../../shim/oci_security.h"
#include "../../shim/oci_spec.h"
#include "../../shim/oci_state.h"

/* Large (PATH_MAX per mount): static, and reset per input. */
static struct oci_mount_plan plan;

static void encode_and_decode(const struct sbx_run_req *req)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct sbx_err err = {0};
	if (sbx_run_encode(req, &buf, &len, &err) < 0) {
		assert(err.code > 0 && err.msg[0]);
		return;
	}
	/* What the shim encodes, the agent must accept. */
	struct sbx_run_req back;
	int r = sbx_run_decode(buf, len, &back, &err);
	assert(r == 0);
	assert(back.argc == req->argc && back.envc == req->envc);
	sbx_run_req_free(&back);
	free(buf);
}

/* shim/run.c's request for an OCI container, minus what comes from the host (seed, net). */
static void check_spec(const char *text, size_t size)
{
	struct oci_spec spec = {0};
	struct sbx_err err = {0};
	if (oci_spec_parse(text, size, &spec, &err) < 0) {
		assert(err.code > 0 && err.msg[0]);
		oci_spec_free(&spec);
		return;
	}
	char cg[PATH_MAX];
	oci_cgroup_path(spec.cgroups_path, false, cg, sizeof(cg), &err);
	oci_cgroup_path(spec.cgroups_path, true, cg, sizeof(cg), &err);
	memset(&plan, 0, sizeof(plan));
	/* "/" as the resolved root: the plan only resolves and stats (bind sources too). */
	oci_mounts_plan(&spec, "/", &plan, &err);
	struct oci_state st = {.status = OCI_CREATED,
			       .pid = 1,
			       .exit_code = -1,
			       .annotations = spec.annotations,
			       .n_annotations = spec.n_annotations};
	strcpy(st.id, "fuzz");
	strcpy(st.bundle, "/bundle");
	strcpy(st.rootfs, "/bundle/rootfs");
	strcpy(st.created, "2026-11-27T00:00:00Z");
	int r = oci_guest_hooks_render(&spec, &st, &err);
	if (r == 0 && spec.process.present && spec.process.n_args) {
		struct sbx_run_req req = {.argv = spec.process.args,
					  .argc = spec.process.n_args,
					  .envp = spec.process.env,
					  .envc = spec.process.n_env,
					  .cwd = spec.process.cwd ? spec.process.cwd : "/",
					  .uid = spec.process.uid,
					  .gid = spec.process.gid,
					  .hostname = spec.hostname,
					  .domainname = spec.domainname};
		oci_guest_hooks_to_run(&spec, &req);
		struct oci_security sec = {0};
		if (oci_security_to_run(&spec, &req, &sec, &err) == 0)
			encode_and_decode(&req);
		oci_security_free(&sec);
	}
	oci_guest_hooks_free(&spec);
	oci_spec_free(&spec);
}

/* `sandbox exec --process FILE` (shim/oci_cmd_exec.c). */
static void check_process(const char *text, size_t size)
{
	struct oci_process p = {0};
	struct sbx_err err = {0};
	if (oci_process_parse(text, size, &p, &err) == 0 && p.n_args) {
		struct sbx_run_req req = {.argv = p.args,
					  .argc = p.n_args,
					  .envp = p.env,
					  .envc = p.n_env,
					  .cwd = p.cwd ? p.cwd : "/",
					  .uid = p.uid,
					  .gid = p.gid};
		if (oci_process_security_to_run(&p, "process.json", &req, &err) == 0)
			encode_and_decode(&req);
	}
	oci_process_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_spec((const char *)data, size);
	check_process((const char *)data, size);
	return 0;
}
