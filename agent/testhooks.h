/*
 * TEST HOOK (agent/testhooks.c): only in the test agent built with -DSANDBOX_TEST_HOOKS
 * ($(B)/testhooks/sandbox-agent); a release agent has neither this code nor the call to it.
 */
#ifndef SANDBOX_AGENT_TESTHOOKS_H
#define SANDBOX_AGENT_TESTHOOKS_H

#include "agent.h"

/* Name of the RUN environment variable that asks for a death (testhooks.c lists the values). */
#define AGENT_TESTHOOK_ENV "SANDBOX_TEST_AGENT_DIE"

/* Called by PID 1 once per RUN, before the container is built; a no-op unless asked. fd is
 * the host connection (the hangup hook closes it). */
void agent_testhooks_arm(const struct agent_cfg *cfg, const struct sbx_run_req *req, int fd);

#endif
