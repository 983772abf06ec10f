/* OCI hooks that run on the host (prestart, createRuntime, poststart, poststop). */
#ifndef SANDBOX_OCI_HOOKS_H
#define SANDBOX_OCI_HOOKS_H

#include "../common/error.h"
#include "oci_spec.h"
#include "oci_state.h"

/*
 * Runs the hooks of kind in order, each with the state JSON on stdin (runtime-spec
 * "Lifecycle"); the first failure (non-zero exit, signal, timeout) stops the list.
 */
int oci_hooks_run(const struct oci_spec *spec, enum oci_hook_kind kind, const struct oci_state *st,
		  struct sbx_err *err);

#endif
