/*
 * docker-style detached containers (`sandbox run -d [--name N] IMAGE`, ps, logs, stop, rm,
 * exec), built on the OCI monitor (shim/monitor.h): a detached container is an OCI container
 * whose process comes from an image instead of a bundle. docs/images.md has the commands.
 */
#ifndef SANDBOX_DETACH_H
#define SANDBOX_DETACH_H

#include "oci_spec.h"
#include "run_opts.h"

/* Annotations in state.json that mark a detached image container and feed `ps`. */
#define DETACH_ANN_IMAGE "io.sandbox.image"
#define DETACH_ANN_COMMAND "io.sandbox.command"
/* The container's stdout and stderr, in its state directory. */
#define DETACH_LOG "log"

/* `run -d`: forks the monitor, waits until the process runs, prints the id. Exit status. */
int detach_run(const struct run_opts *o);

/* The commands; each takes argv starting at its own name. */
int cmd_ps_dispatch(int argc, char **argv);
int cmd_exec_dispatch(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_rm(int argc, char **argv);

/*
 * The base of an exec in a detached image container (it has no config.json): root, cwd "/",
 * the default PATH. Fills p (freed with oci_process_free); -ENOMEM.
 */
int detach_exec_process(struct oci_process *p);

#endif
