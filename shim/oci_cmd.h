/* The runc-compatible commands (docs/oci.md). Each takes argv starting at its own name. */
#ifndef SANDBOX_OCI_CMD_H
#define SANDBOX_OCI_CMD_H

int cmd_oci_create(int argc, char **argv);
int cmd_oci_run(int argc, char **argv);
int cmd_oci_start(int argc, char **argv);
int cmd_oci_state(int argc, char **argv);
int cmd_oci_kill(int argc, char **argv);
int cmd_oci_delete(int argc, char **argv);
int cmd_oci_list(int argc, char **argv);
int cmd_oci_pause(int argc, char **argv);
int cmd_oci_exec(int argc, char **argv);
int cmd_oci_ps(int argc, char **argv);
int cmd_oci_resume(int argc, char **argv);
int cmd_oci_spec(int argc, char **argv);
int cmd_oci_features(int argc, char **argv);
int cmd_oci_events(int argc, char **argv);

/*
 * `sandbox run` is both the docker-like `run --rootfs DIR -- CMD` (shim/run.c) and runc's
 * `run [--bundle B] ID`: this tells them apart by their options.
 */
int oci_run_is_runc_style(int argc, char **argv);
/* The "run" entry of the command table: runc-style or docker-like by oci_run_is_runc_style. */
int cmd_run_dispatch(int argc, char **argv);

#endif
