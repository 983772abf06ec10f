/* sandbox: run containers in KVM micro-VMs. Subcommand dispatch only. */
#include <stdio.h>
#include <string.h>

#include "run.h"
#include "template_cmd.h"

#define SANDBOX_VERSION "0.1.0"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{"run", cmd_run, "run a command in a container inside its own micro-VM"},
	{"template", cmd_template, "build, list and remove the VM templates runs start from"},
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
	if (argc < 2) {
		usage(stderr);
		return 125;
	}
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
	fprintf(stderr, "sandbox: unknown command '%s' (see 'sandbox --help')\n", argv[1]);
	return 125;
}
