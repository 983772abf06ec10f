/* `sandbox template build|ls|rm`: manage the VM templates `sandbox run` starts from. */
#include "template_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/cleanup.h"
#include "run_opts.h"
#include "oci_log.h"
#include "template.h"

#define EXIT_FAILED 125

static void usage(FILE *out)
{
	fputs(
	    "Usage: sandbox template build [--cpus N] [--memory SIZE] [--kernel F] [--initrd F]\n"
	    "       sandbox template ls\n"
	    "       sandbox template rm KEY|--all\n"
	    "\n"
	    "VM templates are booted, snapshotted VMs that 'sandbox run' restores instead of\n"
	    "booting. One exists per (VMM, kernel, initramfs, vCPUs, memory); see\n"
	    "docs/templates.md. Stored in $SANDBOX_TEMPLATE_DIR (default " TEMPLATE_DEFAULT_ROOT
	    ").\n"
	    "\n"
	    "  build   build (or rebuild) the template for these settings (default 1 vCPU, 256M)\n"
	    "  ls      list templates: KEY CPUS MEMORY SIZE CREATED CURRENT (CURRENT: made from "
	    "the\n"
	    "          binaries 'sandbox run' would use now; stale ones are never used)\n"
	    "  rm      remove one template (a unique KEY prefix is enough) or all of them\n",
	    out);
}

static int fail(const struct sbx_err *err)
{
	return oci_fail("template: %s", err->msg); /* stderr and --log; EXIT_FAILED */
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int parse_build(int argc, char **argv, struct run_opts *o, struct sbx_err *err)
{
	static const struct option longopts[] = {
	    {"cpus", required_argument, NULL, 'c'},
	    {"memory", required_argument, NULL, 'm'},
	    {"kernel", required_argument, NULL, 'k'},
	    {"initrd", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	o->cpus = RUN_DEFAULT_CPUS;
	o->memory_mib = RUN_DEFAULT_MEMORY_MIB;
	optind = 1;
	opterr = 0;
	int c, r = 0;
	while (r == 0 && (c = getopt_long(argc, argv, ":m:", longopts, NULL)) != -1) {
		if (c == 'c')
			r = parse_cpus(optarg, &o->cpus, err);
		else if (c == 'm')
			r = parse_memory_mib(optarg, &o->memory_mib, err);
		else if (c == 'k')
			o->kernel = optarg;
		else if (c == 'i')
			o->initrd = optarg;
		else if (c == ':')
			r = sbx_err_setx(err, EINVAL, "build: missing value for '%s'",
					 argv[optind - 1]);
		else
			r = sbx_err_setx(err, EINVAL, "build: unknown option '%s'",
					 argv[optind - 1]);
	}
	if (r == 0 && optind < argc)
		r = sbx_err_setx(err, EINVAL, "build: unexpected argument '%s'", argv[optind]);
	return r;
}

static int cmd_build(int argc, char **argv)
{
	struct sbx_err err = {0};
	struct run_opts o = {0};
	struct template_spec spec = {.sigfd = -1};
	char cache[PATH_MAX], key[TEMPLATE_KEY_HEX + 1];
	int r = parse_build(argc, argv, &o, &err);
	r = r ?: sandbox_paths_resolve(&spec.paths, o.kernel, o.initrd, &err);
	if (r < 0)
		return fail(&err);
	spec.cpus = o.cpus;
	spec.memory_mib = o.memory_mib;
	template_hash_cache(cache, sizeof(cache));
	if ((r = template_key(cache, &spec, key, &err)) < 0)
		return fail(&err);
	fprintf(stderr, "sandbox: building VM template %.12s for %u vCPU / %u MiB (~1 min)...\n",
		key, spec.cpus, spec.memory_mib);
	if ((r = template_build(&spec, key, true, false, &err)) < 0)
		return fail(&err);
	printf("%s\n", key);
	return 0;
}

static long long du_total;
static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)flag, (void)ftw;
	du_total += (long long)st->st_blocks * 512;
	return 0;
}

/* Disk use; pages shared copy-on-write between clones are not counted here. */
static long long dir_size(const char *dir)
{
	du_total = 0;
	nftw(dir, du_entry, 16, FTW_PHYS);
	return du_total;
}

/* Whether the template was built from what `sandbox run` would use now, for its cpus/memory. */
static const char *current_mark(const char *key, const struct template_meta *m)
{
	struct template_spec spec = {.cpus = m->cpus, .memory_mib = m->memory_mib};
	char cache[PATH_MAX], now[TEMPLATE_KEY_HEX + 1];
	struct sbx_err err = {0};
	template_hash_cache(cache, sizeof(cache));
	if (sandbox_paths_resolve(&spec.paths, NULL, NULL, &err) < 0 ||
	    template_key(cache, &spec, now, &err) < 0)
		return "?";
	return strcmp(now, key) ? "stale" : "yes";
}

static void print_one(const char *name)
{
	char dir[PATH_MAX], created[32] = "?";
	struct template_meta m;
	struct sbx_err err = {0};
	snprintf(dir, sizeof(dir), "%s/%s", template_root(), name);
	if (template_meta_read(dir, &m, &err) < 0) {
		printf("%-14.12s %-5s %-7s %-8s %-20s %s\n", name, "?", "?", "?", "?", "broken");
		return;
	}
	time_t t = (time_t)m.created;
	struct tm tm;
	if (localtime_r(&t, &tm))
		strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
	char mem[16], size[16];
	snprintf(mem, sizeof(mem), "%uM", m.memory_mib);
	snprintf(size, sizeof(size), "%.1fM", (double)dir_size(dir) / (1024.0 * 1024.0));
	printf("%-14.12s %-5u %-7s %-8s %-20s %s\n", name, m.cpus, mem, size, created,
	       current_mark(name, &m));
}

static int cmd_ls(int argc, char **argv)
{
	if (argc > 1) {
		oci_fail("template: ls: unexpected argument '%s'", argv[1]);
		return EXIT_FAILED;
	}
	printf("%-14s %-5s %-7s %-8s %-20s %s\n", "KEY", "CPUS", "MEMORY", "SIZE", "CREATED",
	       "CURRENT");
	DIR *d = opendir(template_root());
	if (!d)
		return errno == ENOENT ? 0 : (perror("sandbox: template: ls"), EXIT_FAILED);
	struct dirent *e;
	while ((e = readdir(d)))
		if (template_key_valid(e->d_name))
			print_one(e->d_name);
	closedir(d);
	return 0;
}

/* Resolves a unique prefix (>= 4 hex digits) to a full key. */
static int find_key(const char *prefix, char key[TEMPLATE_KEY_HEX + 1], struct sbx_err *err)
{
	size_t n = strlen(prefix), found = 0;
	if (n < 4 || n > TEMPLATE_KEY_HEX || strspn(prefix, "0123456789abcdef") != n)
		return sbx_err_setx(err, EINVAL, "rm: '%s' is not a template key", prefix);
	DIR *d = opendir(template_root());
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (template_key_valid(e->d_name) && !strncmp(e->d_name, prefix, n) && found++ == 0)
			snprintf(key, TEMPLATE_KEY_HEX + 1, "%s", e->d_name);
	if (d)
		closedir(d);
	if (found == 0)
		return sbx_err_setx(err, ENOENT, "rm: no template '%s'", prefix);
	if (found > 1)
		return sbx_err_setx(err, EINVAL, "rm: '%s' matches %zu templates", prefix, found);
	return 0;
}

static int remove_all(struct sbx_err *err)
{
	DIR *d = opendir(template_root());
	if (!d)
		return errno == ENOENT ? 0 : sbx_err_set(err, errno, "open '%s'", template_root());
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d)))
		if (template_key_valid(e->d_name))
			r = template_remove(e->d_name, err);
	closedir(d);
	return r;
}

static int cmd_rm(int argc, char **argv)
{
	struct sbx_err err = {0};
	char key[TEMPLATE_KEY_HEX + 1];
	if (argc != 2)
		return sbx_err_setx(&err, EINVAL, "rm: expected one KEY or --all"), fail(&err);
	int r = !strcmp(argv[1], "--all") ? remove_all(&err) : find_key(argv[1], key, &err);
	if (r == 0 && strcmp(argv[1], "--all"))
		r = template_remove(key, &err);
	return r < 0 ? fail(&err) : 0;
}

int cmd_template(int argc, char **argv)
{
	if (argc < 2) /* one line; the usage is --help's */
		return oci_fail("template: no command given (build, ls, rm; see --help)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (wants_help(argc - 1, argv + 1)) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "build"))
		return cmd_build(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls") || !strcmp(argv[1], "list"))
		return cmd_ls(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rm"))
		return cmd_rm(argc - 1, argv + 1);
	oci_fail("template: unknown command '%s' (build, ls, rm)", argv[1]);
	return EXIT_FAILED;
}
