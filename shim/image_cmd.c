/* `sandbox pull|load|images|rmi|inspect|prune`: the image store from the command line. */
#include "image_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/cleanup.h"
#include "image_json.h"
#include "image_load.h"
#include "image_pull.h"
#include "image_store.h"
#include "oci_log.h"

#define EXIT_FAILED 125

/* Options every image command takes, and the ones only some do. */
struct image_opts {
	const char *root;
	const char *input; /* load -i */
	const char *name;  /* load --name */
	bool quiet;	   /* pull/load/images -q */
	bool insecure;	   /* pull */
	bool no_trunc;	   /* images */
};

enum { OPT_ROOT = 1000, OPT_INSECURE, OPT_NAME, OPT_NO_TRUNC, OPT_HELP };

static int fail(const char *cmd, const struct sbx_err *err)
{
	return oci_fail("%s: %s", cmd, err->msg); /* stderr and --log; EXIT_FAILED */
}

/* Parses argv; allowed lists the short/long options this command accepts ("rqikn").
 * Returns the index of the first operand, 0 after --help (usage printed), < 0 on error. */
static int parse(int argc, char **argv, const char *allowed, const char *usage,
		 struct image_opts *o, struct sbx_err *err)
{
	static const struct option longopts[] = {
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"quiet", no_argument, NULL, 'q'},
	    {"insecure", no_argument, NULL, OPT_INSECURE},
	    {"input", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:qi:h", longopts, NULL)) != -1) {
		char key = c == OPT_ROOT       ? 'r'
			   : c == OPT_INSECURE ? 'k'
			   : c == OPT_NAME     ? 'n'
			   : c == OPT_NO_TRUNC ? 't'
					       : (char)c;
		if (c == OPT_HELP || c == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (c == ':')
			return sbx_err_setx(err, EINVAL, "missing value for '%s'",
					    argv[optind - 1]);
		if (c == '?' || !strchr(allowed, key))
			return sbx_err_setx(err, EINVAL, "unknown option '%s' (see --help)",
					    argv[optind - 1]);
		if (key == 'r')
			o->root = optarg;
		else if (key == 'q')
			o->quiet = true;
		else if (key == 'k')
			o->insecure = true;
		else if (key == 'i')
			o->input = optarg;
		else if (key == 'n')
			o->name = optarg;
		else if (key == 't')
			o->no_trunc = true;
	}
	return optind;
}

/* "docker.io/library/busybox" shows as "busybox", "docker.io/x/y" as "x/y". */
static const char *short_name(const char *name)
{
	if (!strncmp(name, "docker.io/library/", 18))
		return name + 18;
	if (!strncmp(name, "docker.io/", 10))
		return name + 10;
	return name;
}

int cmd_pull(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox pull [--root DIR] [--insecure] [-q] NAME[:TAG|@DIGEST]\n"
	    "\n"
	    "Downloads an image from a registry (docker.io when NAME names none) into the image\n"
	    "store ($SANDBOX_IMAGE_ROOT or " IMAGE_STORE_DEFAULT_ROOT "). Credentials come from\n"
	    "$REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json.\n"
	    "\n"
	    "  --root DIR   image store directory\n"
	    "  --insecure   allow http and unverified TLS (always allowed for loopback)\n"
	    "  -q, --quiet  no progress bar; print only the image reference\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "rqk", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("pull", &err);
	if (argc - i != 1) {
		sbx_err_setx(&err, EINVAL, "expected one image reference (see --help)");
		return fail("pull", &err);
	}
	struct image_store s;
	struct image_record rec = {0};
	struct pull_opts po = {.insecure = o.insecure, .quiet = o.quiet};
	int r = image_store_open(&s, o.root, &err);
	r = r ?: image_pull(&s, argv[i], &po, &rec, &err);
	image_store_close(&s);
	if (r < 0)
		return fail("pull", &err);
	if (!o.quiet)
		printf("Digest: %s\nStatus: pulled ", rec.manifest_digest);
	printf("%s%s%s\n", rec.name, rec.tag ? ":" : "@", rec.tag ? rec.tag : rec.manifest_digest);
	image_record_free(&rec);
	return 0;
}

int cmd_load(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox load [--root DIR] [--name NAME[:TAG]] [-q] -i FILE|DIR\n"
	    "\n"
	    "Loads images from a `docker save` archive, an OCI archive (tar, maybe compressed)\n"
	    "or an OCI image layout directory into the image store.\n"
	    "\n"
	    "  -i, --input F   the archive or layout directory\n"
	    "  --name NAME     repository (and tag) for an image the archive names by tag only\n"
	    "                  or not at all; with one image, it replaces the archive's name\n"
	    "  --root DIR      image store directory\n"
	    "  -q, --quiet     print only the loaded references\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "rqin", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("load", &err);
	if (i < argc || !o.input) {
		sbx_err_setx(&err, EINVAL,
			     i < argc ? "unexpected argument '%s'"
				      : "which archive? give it with -i FILE%s",
			     i < argc ? argv[i] : "");
		return fail("load", &err);
	}
	struct image_store s;
	struct image_record *recs = NULL;
	size_t n = 0;
	int r = image_store_open(&s, o.root, &err);
	r = r ?: image_load(&s, o.input, o.name, &recs, &n, &err);
	image_store_close(&s);
	if (r < 0)
		return fail("load", &err);
	for (size_t k = 0; k < n; k++) {
		printf("%s%s%s%s\n", o.quiet ? "" : "Loaded image: ", short_name(recs[k].name),
		       recs[k].tag ? ":" : "@",
		       recs[k].tag ? recs[k].tag : recs[k].manifest_digest);
		image_record_free(&recs[k]);
	}
	free(recs);
	return 0;
}

static void human_size(uint64_t n, char *buf, size_t len)
{
	if (n >= 1000000000)
		snprintf(buf, len, "%.2fGB", (double)n / 1e9);
	else if (n >= 1000000)
		snprintf(buf, len, "%.1fMB", (double)n / 1e6);
	else
		snprintf(buf, len, "%.1fkB", (double)n / 1e3);
}

/* "3 days ago" from an RFC 3339 time; "N/A" when absent or unreadable. */
static void human_age(const char *rfc3339, char *buf, size_t len)
{
	struct tm tm = {0};
	const char *end = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end) {
		snprintf(buf, len, "N/A");
		return;
	}
	double age = difftime(time(NULL), timegm(&tm));
	static const struct {
		double secs;
		const char *unit;
	} units[] = {{365 * 86400.0, "year"}, {30 * 86400.0, "month"}, {7 * 86400.0, "week"},
		     {86400, "day"},	      {3600, "hour"},	       {60, "minute"}};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		long n = (long)(age / units[i].secs);
		if (n >= 1) {
			snprintf(buf, len, "%ld %s%s ago", n, units[i].unit, n > 1 ? "s" : "");
			return;
		}
	}
	snprintf(buf, len, age < 0 ? "in the future" : "seconds ago");
}

/* Newest first; entries added in the same second by name, then tag. */
static int by_added_desc(const void *pa, const void *pb)
{
	const struct image_record *a = pa, *b = pb;
	if (a->added != b->added)
		return a->added > b->added ? -1 : 1;
	int c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->tag ? a->tag : "", b->tag ? b->tag : "");
}

int cmd_images(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox images [--root DIR] [-q] [--no-trunc]\n"
	    "\n"
	    "Lists the image store: REPOSITORY TAG DIGEST SIZE CREATED (SIZE: compressed layers).\n"
	    "  -q, --quiet   only digests      --no-trunc  full digests\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "rqt", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("images", &err);
	if (i < argc) {
		sbx_err_setx(&err, EINVAL, "unexpected argument '%s'", argv[i]);
		return fail("images", &err);
	}
	struct image_store s;
	struct image_record *recs = NULL;
	size_t n = 0;
	int r = image_store_open(&s, o.root, &err);
	r = r ?: image_store_list(&s, &recs, &n, &err);
	image_store_close(&s);
	if (r < 0)
		return fail("images", &err);
	int dw = o.no_trunc ? 71 : 12;
	if (!o.quiet)
		printf("%-40s %-16s %-*s %-10s %s\n", "REPOSITORY", "TAG", dw, "DIGEST", "SIZE",
		       "CREATED");
	if (n)
		qsort(recs, n, sizeof(*recs), by_added_desc);
	for (size_t k = 0; k < n; k++) {
		const struct image_record *rec = &recs[k];
		const char *digest = o.no_trunc ? rec->manifest_digest : rec->manifest_digest + 7;
		char size[16], age[32];
		human_size(rec->size, size, sizeof(size));
		human_age(rec->created, age, sizeof(age));
		if (o.quiet)
			printf("%.*s\n", dw, digest);
		else
			printf("%-40s %-16s %-*.*s %-10s %s\n", short_name(rec->name),
			       rec->tag ? rec->tag : "<none>", dw, dw, digest, size, age);
	}
	for (size_t k = 0; k < n; k++)
		image_record_free(&recs[k]);
	free(recs);
	return 0;
}

int cmd_rmi(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox rmi [--root DIR] IMAGE...\n"
	    "\n"
	    "Removes images (NAME[:TAG], NAME@DIGEST, or a digest / unique prefix of one: every\n"
	    "name for that digest) from the index, then the blobs nothing else uses.\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "r", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("rmi", &err);
	if (i == argc) {
		sbx_err_setx(&err, EINVAL, "which image? (see --help)");
		return fail("rmi", &err);
	}
	struct image_store s;
	int r = image_store_open(&s, o.root, &err), rc = 0;
	if (r < 0)
		return fail("rmi", &err);
	for (; i < argc; i++) {
		struct image_record rec = {0};
		if (image_store_remove(&s, argv[i], &rec, &err) < 0) {
			rc = fail("rmi", &err);
			continue;
		}
		printf("Untagged: %s%s%s\n", short_name(rec.name), rec.tag ? ":" : "@",
		       rec.tag ? rec.tag : rec.manifest_digest);
		image_record_free(&rec);
	}
	size_t blobs = 0;
	uint64_t bytes = 0;
	struct sbx_err gc_err = {0};
	/* Busy (a pull is running): the blobs stay until the next rmi or prune. */
	if (image_store_prune(&s, &blobs, &bytes, &gc_err) == 0 && blobs)
		printf("Deleted: %zu blobs\n", blobs);
	image_store_close(&s);
	return rc;
}

static void print_record(FILE *f, const struct image_store *s, const struct image_record *r)
{
	fputs("    {\n        \"Id\": ", f);
	json_print_string(f, r->manifest_digest);
	fputs(",\n        \"Name\": ", f);
	json_print_string(f, r->name);
	fputs(",\n        \"Tag\": ", f);
	if (r->tag)
		json_print_string(f, r->tag);
	else
		fputs("null", f);
	fprintf(f, ",\n        \"RepoDigest\": \"%s@%s\"", r->name, r->manifest_digest);
	if (r->index_digest[0])
		fprintf(f, ",\n        \"IndexDigest\": \"%s\"", r->index_digest);
	fprintf(f, ",\n        \"ConfigDigest\": \"%s\",\n        \"Created\": ", r->config_digest);
	if (r->created)
		json_print_string(f, r->created);
	else
		fputs("null", f);
	fprintf(f, ",\n        \"Added\": %lld,\n        \"Size\": %llu,\n        \"Layers\": [",
		(long long)r->added, (unsigned long long)r->size);
	for (size_t i = 0; i < r->n_layers; i++)
		fprintf(f,
			"%s\n            {\"Digest\": \"%s\", \"MediaType\": \"%s\", \"Size\": "
			"%llu}",
			i ? "," : "", r->layers[i].digest, r->layers[i].media_type,
			(unsigned long long)r->layers[i].size);
	fputs(r->n_layers ? "\n        ]" : "]", f);
	cleanup_free char *cfg = NULL;
	size_t len = 0;
	cleanup_json_val json_val doc = NULL;
	if (image_store_read_blob(s, r->config_digest, 4u << 20, &cfg, &len, NULL) == 0 &&
	    json_parse(cfg, len, &doc, "config", NULL) == 0) {
		fputs(",\n        \"Config\": ", f);
		json_print(f, doc, 2);
	}
	fputs("\n    }", f);
}

int cmd_inspect(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox inspect [--root DIR] IMAGE...\n"
	    "\n"
	    "Prints what the store knows about images as a JSON array: digests, layers, size and\n"
	    "the image config.\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "r", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("inspect", &err);
	if (i == argc) {
		sbx_err_setx(&err, EINVAL, "which image? (see --help)");
		return fail("inspect", &err);
	}
	struct image_store s;
	if (image_store_open(&s, o.root, &err) < 0)
		return fail("inspect", &err);
	int rc = 0;
	size_t shown = 0;
	fputs("[", stdout);
	for (; i < argc; i++) {
		struct image_record rec = {0};
		if (image_store_find(&s, argv[i], &rec, &err) < 0) {
			rc = oci_fail("inspect: %s", err.msg);
			continue;
		}
		fputs(shown++ ? ",\n" : "\n", stdout);
		print_record(stdout, &s, &rec);
		image_record_free(&rec);
	}
	fputs(shown ? "\n]\n" : "]\n", stdout);
	image_store_close(&s);
	return rc;
}

int cmd_prune(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: sandbox prune [--root DIR]\n"
	    "\n"
	    "Deletes blobs no image uses and temp files left by interrupted pulls and loads.\n";
	struct image_opts o = {0};
	struct sbx_err err = {0};
	int i = parse(argc, argv, "r", usage, &o, &err);
	if (i <= 0)
		return i == 0 ? 0 : fail("prune", &err);
	if (i < argc) {
		sbx_err_setx(&err, EINVAL, "unexpected argument '%s'", argv[i]);
		return fail("prune", &err);
	}
	struct image_store s;
	size_t blobs = 0;
	uint64_t bytes = 0;
	int r = image_store_open(&s, o.root, &err);
	r = r ?: image_store_prune(&s, &blobs, &bytes, &err);
	image_store_close(&s);
	if (r < 0)
		return fail("prune", &err);
	char size[16];
	human_size(bytes, size, sizeof(size));
	printf("Deleted %zu blobs, reclaimed %s\n", blobs, size);
	return 0;
}
