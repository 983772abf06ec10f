/*
 * A container's state on the host: <root>/<id>/state.json, written by the monitor at every
 * transition (atomically: temp file + rename), read by every other command. The monitor process
 * is the container: when it is gone, the container is stopped whatever the file says.
 */
#ifndef SANDBOX_OCI_STATE_H
#define SANDBOX_OCI_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "../common/error.h"
#include "oci_spec.h"

#define OCI_ID_MAX 128
#define OCI_SPEC_VERSION "1.1.0"
/* Files in <root>/<id>/ besides state.json (docs/oci.md). */
#define OCI_EXEC_SECRET_FILE "exec.secret" /* the exec dials' secret, 0600 */
#define OCI_OOM_FILE "oom"		   /* the guest's OOM kill count, when there was one */

enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED, OCI_PAUSED };

struct oci_state {
	char id[OCI_ID_MAX + 1];
	enum oci_status status;
	pid_t pid;		      /* the monitor */
	unsigned long long pid_start; /* its start time (/proc/PID/stat field 22): pid reuse */
	int exit_code;		      /* valid when stopped by the monitor itself; -1 unknown */
	char bundle[PATH_MAX];
	char rootfs[PATH_MAX];
	char created[48]; /* RFC 3339, UTC */
	struct oci_kv *annotations;
	size_t n_annotations;
};

const char *oci_status_name(enum oci_status s);
/* runc's rule: letters, digits, '_', '+', '-', '.'; not "." or ".."; at most OCI_ID_MAX. */
int oci_id_check(const char *id, struct sbx_err *err);
/* <root>/<id> and <root>/<id>/<name>. */
void oci_state_dir(const char *id, char *out, size_t cap);
void oci_state_file(const char *id, const char *name, char *out, size_t cap);

int oci_state_write(const struct oci_state *st, struct sbx_err *err);
/* -ENOENT (err: "container ID does not exist") when there is no such container. */
int oci_state_read(const char *id, struct oci_state *st, struct sbx_err *err);
void oci_state_free(struct oci_state *st);
/* True while the monitor recorded in st runs (same pid, same start time). */
bool oci_state_monitor_alive(const struct oci_state *st);
/* The status callers see: stopped when the monitor is gone. */
enum oci_status oci_state_status(const struct oci_state *st);
/* The OCI state document (runtime-spec "state") on f. */
void oci_state_print(FILE *f, const struct oci_state *st);
/* Start time of pid in clock ticks since boot, 0 if unknown. */
unsigned long long oci_pid_start_time(pid_t pid);

#endif
