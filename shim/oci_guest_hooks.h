/*
 * OCI hooks that run in the guest (createContainer, startContainer; docs/oci.md, "hooks"): the
 * shim checks them against the RUN's limits at create, renders the state JSON they read on
 * stdin, and hands both to the agent in the RUN (tags HOOK, HOOK_STATE). agent/hooks.c runs
 * them.
 */
#ifndef SANDBOX_OCI_GUEST_HOOKS_H
#define SANDBOX_OCI_GUEST_HOOKS_H

#include "../common/error.h"
#include "../common/proto.h"
#include "oci_spec.h"
#include "oci_state.h"

/* Refuses (config.json: hooks.KIND...) guest hooks beyond what the RUN carries. */
int oci_guest_hooks_check(const struct oci_spec *spec, struct sbx_err *err);
/* Renders spec->guest_hook_state[]: st with the status runc gives each kind's hooks. */
int oci_guest_hooks_render(struct oci_spec *spec, const struct oci_state *st, struct sbx_err *err);
void oci_guest_hooks_free(struct oci_spec *spec);
/* Points req->hooks at spec's guest hooks and states (borrowed, no copies). */
void oci_guest_hooks_to_run(const struct oci_spec *spec, struct sbx_run_req *req);

#endif
