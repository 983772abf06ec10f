#include "run_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void run_usage(FILE *out)
{
	fputs("Usage: sandbox run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]\n"
	      "\n"
	      "Run COMMAND in a container inside its own KVM micro-VM.\n"
	      "\n"
	      "Options:\n"
	      "  --rootfs DIR        container root filesystem (a directory)\n"
	      "  --cpus N            vCPUs of the VM (default 1, max 8)\n"
	      "  -m, --memory SIZE   guest RAM, e.g. 512M or 1G (default 256M)\n"
	      "  -t, --tty           give the process a terminal\n"
	      "  -i, --interactive   keep stdin open and pass it to the process\n"
	      "  -e, --env K=V       set an environment variable (repeatable)\n"
	      "  -w, --workdir DIR   working directory inside the container\n"
	      "  -u, --user U[:G]    user and group (numeric, or names from the rootfs's /etc/passwd)\n"
	      "  --hostname NAME     container hostname\n"
	      "  --kernel FILE       guest kernel (default: the one built with sandbox)\n"
	      "  --initrd FILE       guest initramfs (default: the one built with sandbox)\n"
	      "  --no-template       cold-boot the VM instead of restoring the VM template\n"
	      "  --debug             show the guest console and VMM messages on stderr\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Exit status: the command's; 128+N if it died of signal N; 127 command not found;\n"
	      "126 not executable; 125 sandbox itself failed.\n",
	      out);
}

static const struct {
	const char *suffix;
	unsigned long long mul, div; /* MiB = value * mul / div */
} mem_suffixes[] = {
	{"", 1, 1},	 {"m", 1, 1},	   {"mb", 1, 1},      {"mib", 1, 1}, {"g", 1024, 1},
	{"gb", 1024, 1}, {"gib", 1024, 1}, {"k", 1, 1024},    {"kb", 1, 1024},
	{"kib", 1, 1024},
};

int parse_memory_mib(const char *s, unsigned *mib, struct sbx_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-' || v > (1ull << 40))
		return sbx_err_setx(err, EINVAL, "invalid memory size '%s'", s);
	for (size_t i = 0; i < sizeof(mem_suffixes) / sizeof(mem_suffixes[0]); i++) {
		if (strcasecmp(end, mem_suffixes[i].suffix))
			continue;
		unsigned long long m = v * mem_suffixes[i].mul / mem_suffixes[i].div;
		if (m < RUN_MIN_MEMORY_MIB || m > RUN_MAX_MEMORY_MIB)
			return sbx_err_setx(err, ERANGE,
					    "memory size '%s' out of range (%u MiB .. %u MiB)", s,
					    RUN_MIN_MEMORY_MIB, RUN_MAX_MEMORY_MIB);
		*mib = (unsigned)m;
		return 0;
	}
	return sbx_err_setx(err, EINVAL, "invalid memory size '%s' (use e.g. 512M or 1G)", s);
}

int parse_cpus(const char *s, unsigned *cpus, struct sbx_err *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > RUN_MAX_CPUS)
		return sbx_err_setx(err, EINVAL, "invalid --cpus '%s' (1..%d)", s, RUN_MAX_CPUS);
	*cpus = (unsigned)v;
	return 0;
}

enum { OPT_ROOTFS = 256, OPT_CPUS, OPT_HOSTNAME, OPT_KERNEL, OPT_INITRD, OPT_DEBUG, OPT_NO_TEMPLATE };

static const struct option run_long_opts[] = {
	{"rootfs", required_argument, NULL, OPT_ROOTFS},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, 'm'},
	{"tty", no_argument, NULL, 't'},
	{"interactive", no_argument, NULL, 'i'},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"user", required_argument, NULL, 'u'},
	{"hostname", required_argument, NULL, OPT_HOSTNAME},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"debug", no_argument, NULL, OPT_DEBUG},
	{"no-template", no_argument, NULL, OPT_NO_TEMPLATE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int add_env(struct run_opts *o, const char *kv, struct sbx_err *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return sbx_err_setx(err, EINVAL, "invalid --env '%s' (expected KEY=VALUE)", kv);
	if (o->n_env >= RUN_MAX_ENV)
		return sbx_err_setx(err, E2BIG, "too many --env options (max %d)", RUN_MAX_ENV);
	o->env[o->n_env++] = kv;
	return 0;
}

static int apply_opt(struct run_opts *o, int c, const char *arg, struct sbx_err *err)
{
	switch (c) {
	case OPT_ROOTFS:
		o->rootfs = arg;
		return 0;
	case OPT_CPUS:
		return parse_cpus(arg, &o->cpus, err);
	case 'm':
		return parse_memory_mib(arg, &o->memory_mib, err);
	case 't':
		o->tty = true;
		return 0;
	case 'i':
		o->interactive = true;
		return 0;
	case 'e':
		return add_env(o, arg, err);
	case 'w':
		if (arg[0] != '/')
			return sbx_err_setx(err, EINVAL, "--workdir '%s' must be absolute", arg);
		o->workdir = arg;
		return 0;
	case 'u':
		if (!arg[0])
			return sbx_err_setx(err, EINVAL, "--user must not be empty");
		o->user = arg;
		return 0;
	case OPT_HOSTNAME:
		if (!arg[0] || strlen(arg) > 64)
			return sbx_err_setx(err, EINVAL, "invalid --hostname '%s' (1..64 bytes)", arg);
		o->hostname = arg;
		return 0;
	case OPT_KERNEL:
		o->kernel = arg;
		return 0;
	case OPT_INITRD:
		o->initrd = arg;
		return 0;
	case OPT_DEBUG:
		o->debug = true;
		return 0;
	case OPT_NO_TEMPLATE:
		o->no_template = true;
		return 0;
	}
	return sbx_err_setx(err, EINVAL, "unknown option (see 'sandbox run --help')");
}

int run_opts_parse(struct run_opts *o, int argc, char *const *argv, struct sbx_err *err)
{
	memset(o, 0, sizeof(*o));
	o->cpus = RUN_DEFAULT_CPUS;
	o->memory_mib = RUN_DEFAULT_MEMORY_MIB;

	/* '+': stop at the first non-option, so the command's own flags are left alone. */
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:m:tie:w:u:h", run_long_opts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			return 1;
		}
		if (c == ':')
			return sbx_err_setx(err, EINVAL, "run: missing value for '%s'",
					    argv[optind - 1]);
		if (c == '?') {
			if (optopt && optopt < 256)
				return sbx_err_setx(err, EINVAL, "run: unknown option '-%c'", optopt);
			return sbx_err_setx(err, EINVAL, "run: unknown option '%s'", argv[optind - 1]);
		}
		int r = apply_opt(o, c, optarg, err);
		if (r < 0)
			return r;
	}
	if (optind >= argc)
		return sbx_err_setx(err, EINVAL, "run: no command given (usage: sandbox run --rootfs DIR -- CMD [ARG...])");
	if (!o->rootfs)
		return sbx_err_setx(err, EINVAL, "run: no root filesystem: pass --rootfs DIR");
	o->argv = argv + optind;
	o->argc = argc - optind;
	return 0;
}
