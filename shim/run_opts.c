#include "run_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void run_usage(FILE *out)
{
	fputs(
	    "Usage: sandbox run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
	    "       sandbox run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]\n"
	    "\n"
	    "Run COMMAND in a container inside its own KVM micro-VM, from an image in the local\n"
	    "store (its Entrypoint, Cmd, Env, WorkingDir and User apply) or a rootfs directory.\n"
	    "\n"
	    "Options:\n"
	    "  --rootfs DIR        container root filesystem (a directory) instead of an IMAGE\n"
	    "  --entrypoint CMD    replace the image's Entrypoint (and drop its Cmd); \"\" clears "
	    "it\n"
	    "  --root DIR          image store (default $SANDBOX_IMAGE_ROOT or /var/lib/sandbox)\n"
	    "  --rm                remove the container's writable layer at exit (always done "
	    "today)\n"
	    "  -d, --detach        run an IMAGE in the background; print its id (docs/images.md)\n"
	    "  --name NAME         the detached container's name (default: a generated id)\n"
	    "  --cpus N            vCPUs of the VM (default 1, max 8); also caps the VMM at N\n"
	    "                      cpus of host time (its cgroup's quota, docs/security.md)\n"
	    "  -m, --memory SIZE   guest RAM, e.g. 512M or 1G (default 256M)\n"
	    "  -t, --tty           give the process a terminal\n"
	    "  -i, --interactive   keep stdin open and pass it to the process\n"
	    "  -e, --env K=V       set an environment variable (repeatable)\n"
	    "  -w, --workdir DIR   working directory inside the container\n"
	    "  -u, --user U[:G]    user and group (numeric, or names from the rootfs's "
	    "/etc/passwd)\n"
	    "  --hostname NAME     container hostname\n"
	    "  -p, --publish HOSTPORT:PORT[/tcp|/udp]  publish a container port on the host\n"
	    "                      (repeatable; needs the default network)\n"
	    "  --network none|default|ns:PATH  no network; an address on bridge sbx0 with NAT\n"
	    "                      (the default); or the interface of the network namespace\n"
	    "                      at PATH, as a CNI plugin set it up\n"
	    "  -v, --volume HOSTDIR:DIR[:ro]  share a host directory at DIR over virtio-fs\n"
	    "                      (repeatable, max 4; :ro makes it read-only)\n"
	    "  --kernel FILE       guest kernel (default: the one built with sandbox)\n"
	    "  --initrd FILE       guest initramfs (default: the one built with sandbox)\n"
	    "  --no-template       cold-boot the VM instead of restoring the VM template\n"
	    "  --no-jail           run the VMM unjailed (debugging only; docs/security.md)\n"
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
    {"", 1, 1},	     {"m", 1, 1},      {"mb", 1, 1},   {"mib", 1, 1},	{"g", 1024, 1},
    {"gb", 1024, 1}, {"gib", 1024, 1}, {"k", 1, 1024}, {"kb", 1, 1024}, {"kib", 1, 1024},
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

enum {
	OPT_ROOTFS = 256,
	OPT_CPUS,
	OPT_HOSTNAME,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_DEBUG,
	OPT_NO_TEMPLATE,
	OPT_NO_JAIL
};
enum { OPT_ENTRYPOINT = 300, OPT_STORE_ROOT, OPT_RM };
enum { OPT_NETWORK = 320 };
enum { OPT_NAME = 340 };

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
    {"no-jail", no_argument, NULL, OPT_NO_JAIL},
    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
    {"root", required_argument, NULL, OPT_STORE_ROOT},
    {"rm", no_argument, NULL, OPT_RM},
    {"volume", required_argument, NULL, 'v'},
    {"publish", required_argument, NULL, 'p'},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"detach", no_argument, NULL, 'd'},
    {"name", required_argument, NULL, OPT_NAME},
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
	case OPT_CPUS: {
		int r = parse_cpus(arg, &o->cpus, err);
		/* As docker's --cpus, also a bound on host cpu time (the jailed VMM's cgroup). */
		o->cpu_period_us = 100000;
		o->cpu_quota_us = r < 0 ? 0 : 100000ull * o->cpus;
		return r;
	}
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
			return sbx_err_setx(err, EINVAL, "invalid --hostname '%s' (1..64 bytes)",
					    arg);
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
	case OPT_NO_JAIL:
		o->no_jail = true;
		return 0;
	case OPT_NO_TEMPLATE:
		o->no_template = true;
		return 0;
	case OPT_ENTRYPOINT:
		o->entrypoint = arg;
		return 0;
	case OPT_STORE_ROOT:
		if (!arg[0])
			return sbx_err_setx(err, EINVAL, "--root must not be empty");
		o->store_root = arg;
		return 0;
	case OPT_RM:
		o->rm = true;
		return 0;
	case 'v':
		if (o->n_volumes >= RUN_MAX_VOLUMES)
			return sbx_err_setx(err, E2BIG, "too many -v options (max %u)",
					    RUN_MAX_VOLUMES);
		return volume_parse(arg, &o->volumes[o->n_volumes++], err);
	case 'p':
		if (o->n_publish >= NET_MAX_PUBLISH)
			return sbx_err_setx(err, E2BIG, "too many -p options (max %d)",
					    NET_MAX_PUBLISH);
		return net_publish_parse(arg, &o->publish[o->n_publish++], err);
	case 'd':
		o->detach = true;
		return 0;
	case OPT_NAME:
		if (!arg[0])
			return sbx_err_setx(err, EINVAL, "--name must not be empty");
		o->name = arg;
		return 0;
	case OPT_NETWORK:
		if (strncmp(arg, "ns:", 3) == 0 && arg[3] == '/') {
			o->netns = arg + 3;
			o->network_none = false;
			return 0;
		}
		if (strcmp(arg, "none") && strcmp(arg, "default"))
			return sbx_err_setx(
			    err, EINVAL, "--network '%s': expected none, default or ns:PATH", arg);
		o->network_none = strcmp(arg, "none") == 0;
		o->netns = NULL;
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
	while ((c = getopt_long(argc, argv, "+:m:tie:w:u:v:p:hd", run_long_opts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			return 1;
		}
		if (c == ':')
			return sbx_err_setx(err, EINVAL, "run: missing value for '%s'",
					    argv[optind - 1]);
		if (c == '?') {
			if (optopt && optopt < 256)
				return sbx_err_setx(err, EINVAL, "run: unknown option '-%c'",
						    optopt);
			return sbx_err_setx(err, EINVAL, "run: unknown option '%s'",
					    argv[optind - 1]);
		}
		int r = apply_opt(o, c, optarg, err);
		if (r < 0)
			return r;
	}
	if (!o->rootfs && optind < argc) {
		/* docker's form: the first operand is the image, the rest (maybe none) its CMD. */
		o->image = argv[optind++];
		if (!o->image[0])
			return sbx_err_setx(err, EINVAL, "run: empty image name");
	} else if (o->rootfs && (o->entrypoint || o->store_root)) {
		return sbx_err_setx(err, EINVAL,
				    "run: --entrypoint and --root go with an IMAGE, not --rootfs");
	}
	if (optind >= argc && !o->image)
		return sbx_err_setx(
		    err, EINVAL,
		    o->rootfs
			? "run: no command given (usage: sandbox run --rootfs DIR -- CMD [ARG...])"
			: "run: no image given (usage: sandbox run [OPTIONS] IMAGE [CMD...], or "
			  "--rootfs DIR -- CMD...)");
	if ((o->network_none || o->netns) && o->n_publish)
		return sbx_err_setx(err, EINVAL, "run: -p needs the default network");
	o->argv = argv + optind;
	o->argc = argc - optind;
	return 0;
}
