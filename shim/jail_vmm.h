/*
 * What a jailed VMM sees (shim/jail.h): the VMM's inputs bound into its jail, and its command
 * line rewritten to the paths inside.
 */
#ifndef SANDBOX_JAIL_VMM_H
#define SANDBOX_JAIL_VMM_H

#include "jail.h"
#include "paths.h"
#include "vmm_proc.h"

/*
 * Prepares j for the VMM described by (p, cfg) and fills (jp, jcfg) with the same run as seen
 * from inside the jail. On failure j is released.
 */
int jail_vmm_prepare(struct jail *j, const struct sandbox_paths *p, const struct vmm_cfg *cfg,
		     struct sandbox_paths *jp, struct vmm_cfg *jcfg, struct sbx_err *err);

#endif
