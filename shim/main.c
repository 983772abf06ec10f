/* sandbox: run containers in KVM micro-VMs. Subcommand dispatch only. */
#include <stdio.h>
#include <string.h>

#include "detach.h"
#include "image_cmd.h"
#include "oci_cmd.h"
#include "oci_log.h"
#include "run.h"
#include "template_cmd.h"

#define SANDBOX_VERSION "0.1.0"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
    {"run", cmd_run_dispatch,
     "run a command in a container inside its own micro-VM (or runc's run ID)"},
    {"create", cmd_oci_create, "OCI: create a container from a bundle (runc create)"},
    {"start", cmd_oci_start, "OCI: start a created container's process"},
    {"state", cmd_oci_state, "OCI: print a container's state JSON"},
    {"kill", cmd_oci_kill, "OCI: send a signal to a container's process"},
    {"delete", cmd_oci_delete, "OCI: delete a container (--force: also a running one)"},
    {"list", cmd_oci_list, "OCI: list containers (--format table|json, -q)"},
    {"exec", cmd_exec_dispatch, "run another process inside a running container (-i, -t)"},
    {"ps", cmd_ps_dispatch, "list containers ([-a] [-q]), or with an ID its processes (runc)"},
    {"logs", cmd_logs, "print a detached container's output (-f: follow)"},
    {"stop", cmd_stop, "stop a detached container (SIGTERM, SIGKILL after -t SECONDS)"},
    {"rm", cmd_rm, "remove a stopped container (-f: also a running one)"},
    {"pause", cmd_oci_pause, "OCI: stop a running container's VM (its vCPUs)"},
    {"resume", cmd_oci_resume, "OCI: continue a paused container's VM"},
    {"spec", cmd_oci_spec, "OCI: write a default config.json"},
    {"features", cmd_oci_features, "OCI: print the runtime's features JSON"},
    {"events", cmd_oci_events, "OCI: a container's resource usage as JSON (--stats: once)"},
    {"template", cmd_template, "build, list and remove the VM templates runs start from"},
    {"pull", cmd_pull, "download an image from a registry into the image store"},
    {"load", cmd_load, "load images from a docker-save / OCI archive or OCI layout"},
    {"images", cmd_images, "list the images in the store"},
    {"rmi", cmd_rmi, "remove images from the store"},
    {"inspect", cmd_inspect, "print an image's digests, layers and config as JSON"},
    {"prune", cmd_prune, "delete blobs no image uses and leftover temp files"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: sandbox [--version] [--help] COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nRun 'sandbox COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	/* runc's global options come before the command (shim/oci_log.h). */
	int nglobal = oci_globals_parse(argc, argv);
	if (nglobal < 0)
		return 125;
	argv[nglobal] = argv[0];
	argv += nglobal;
	argc -= nglobal;
	if (argc < 2) /* one line: the command list is --help's */
		return oci_fail("no command given (see 'sandbox --help')");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("sandbox version %s\n", SANDBOX_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return oci_fail("unknown command '%s' (see 'sandbox --help')", argv[1]);
}
