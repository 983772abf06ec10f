/*
 * createContainer and startContainer hooks: config.json -> RUN (docs/oci.md, "hooks").
 *
 * The state on their stdin is the text the host hooks get (oci_state_print: the monitor's pid,
 * the bundle, the annotations) with runc's status for each kind: "creating" for createContainer
 * (the container is being built), "created" for startContainer (it runs at `start`, before the
 * workload's execve).
 */
#include "oci_guest_hooks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_DEFAULT_TIMEOUT_S 120 /* as the host hooks (shim/oci_hooks.c) */

static const struct {
	enum oci_hook_kind oci;
	enum sbx_hook_kind guest;
	enum oci_status status;
} kinds[] = {
    {OCI_HOOK_CREATE_CONTAINER, SBX_HOOK_CREATE_CONTAINER, OCI_CREATING},
    {OCI_HOOK_START_CONTAINER, SBX_HOOK_START_CONTAINER, OCI_CREATED},
};

int oci_guest_hooks_check(const struct oci_spec *spec, struct sbx_err *err)
{
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct oci_hook_list *l = &spec->hooks[kinds[k].oci];
		const char *name = oci_hook_kind_name(kinds[k].oci);
		if (l->n > SBX_RUN_MAX_HOOKS)
			return sbx_err_setx(err, E2BIG,
					    "config.json: hooks.%s: %zu hooks, at most %u run in "
					    "the guest",
					    name, l->n, SBX_RUN_MAX_HOOKS);
		for (size_t i = 0; i < l->n; i++) {
			const struct oci_hook *h = &l->v[i];
			if (strlen(h->path) + 1 > SBX_RUN_HOOK_PATH_MAX)
				return sbx_err_setx(err, ENAMETOOLONG,
						    "config.json: hooks.%s[%zu].path: longer "
						    "than %u bytes",
						    name, i, SBX_RUN_HOOK_PATH_MAX - 1);
			if (h->n_args > SBX_RUN_HOOK_MAX_ARGS || h->n_env > SBX_RUN_HOOK_MAX_ENV)
				return sbx_err_setx(err, E2BIG,
						    "config.json: hooks.%s[%zu]: more than %u args "
						    "or %u env entries",
						    name, i, SBX_RUN_HOOK_MAX_ARGS,
						    SBX_RUN_HOOK_MAX_ENV);
			for (size_t j = 0; j < h->n_env; j++)
				if (!strchr(h->env[j], '=') || h->env[j][0] == '=')
					return sbx_err_setx(err, EINVAL,
							    "config.json: hooks.%s[%zu].env[%zu]: "
							    "not KEY=VALUE",
							    name, i, j);
			for (size_t j = 0; j < h->n_args + h->n_env; j++) {
				const char *s = j < h->n_args ? h->args[j] : h->env[j - h->n_args];
				if (strlen(s) + 1 > SBX_RUN_MAX_STR)
					return sbx_err_setx(err, E2BIG,
							    "config.json: hooks.%s[%zu]: a string "
							    "over %u bytes",
							    name, i, SBX_RUN_MAX_STR - 1);
			}
		}
	}
	return 0;
}

int oci_guest_hooks_render(struct oci_spec *spec, const struct oci_state *st, struct sbx_err *err)
{
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!spec->hooks[kinds[k].oci].n)
			continue;
		struct oci_state s = *st;
		s.status = kinds[k].status;
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return sbx_err_set(err, errno, "%s hooks: state",
					   oci_hook_kind_name(kinds[k].oci));
		oci_state_print(f, &s);
		fclose(f);
		spec->guest_hook_state[kinds[k].guest] = buf;
		if (len + 1 > SBX_RUN_MAX_STR)
			return sbx_err_setx(err, E2BIG,
					    "%s hooks: the state (annotations) exceeds %u bytes",
					    oci_hook_kind_name(kinds[k].oci), SBX_RUN_MAX_STR - 1);
	}
	return 0;
}

void oci_guest_hooks_free(struct oci_spec *spec)
{
	for (int k = 0; k < SBX_HOOK_KINDS; k++) {
		free(spec->guest_hook_state[k]);
		spec->guest_hook_state[k] = NULL;
	}
}

void oci_guest_hooks_to_run(const struct oci_spec *spec, struct sbx_run_req *req)
{
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct oci_hook_list *l = &spec->hooks[kinds[k].oci];
		struct sbx_run_hooks *out = &req->hooks[kinds[k].guest];
		/* oci_guest_hooks_check refused more at create; the encoder checks again. */
		out->n = l->n < SBX_RUN_MAX_HOOKS ? l->n : SBX_RUN_MAX_HOOKS;
		out->state = spec->guest_hook_state[kinds[k].guest];
		for (size_t i = 0; i < out->n; i++) {
			const struct oci_hook *h = &l->v[i];
			out->v[i] = (struct sbx_run_hook){
			    .path = h->path,
			    .args = h->args,
			    .n_args = h->n_args,
			    .env = h->env,
			    .n_env = h->n_env,
			    .timeout_s =
				h->timeout > 0 ? (uint32_t)h->timeout : HOOK_DEFAULT_TIMEOUT_S,
			};
		}
	}
}
