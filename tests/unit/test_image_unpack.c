/*
 * Layer extraction: real layer tarballs written with libarchive's writer, applied with
 * image_unpack_layer to a temp rootfs; hostile layers must fail and leave the outside untouched.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../shim/image_unpack.h"

enum { FILT_NONE, FILT_GZIP, FILT_ZSTD };

struct ent {
	const char *path;
	char type; /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'p' fifo, 'c' char device */
	const char *data; /* file content, symlink or hard-link target */
	unsigned mode;
	unsigned uid, gid;
};

#define MTIME 1500000000

static char base_dir[256], root_dir[300], outside_dir[300];

static void setup(void)
{
	snprintf(base_dir, sizeof(base_dir), "/tmp/test-image-unpack.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base_dir));
	snprintf(root_dir, sizeof(root_dir), "%s/root", base_dir);
	snprintf(outside_dir, sizeof(outside_dir), "%s/outside", base_dir);
	ck_assert_int_eq(mkdir(root_dir, 0755), 0);
	ck_assert_int_eq(mkdir(outside_dir, 0755), 0);
	char p[400];
	snprintf(p, sizeof(p), "%s/secret", outside_dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("original", f);
	fclose(f);
}

static void teardown(void)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes a layer tarball with the given entries; returns its path (static buffer rotation). */
static const char *make_layer(const char *name, int filter, const struct ent *ents, size_t n)
{
	static char paths[4][400];
	static int next;
	char *path = paths[next++ % 4];
	snprintf(path, 400, "%s/%s.tar", base_dir, name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter == FILT_GZIP)
		archive_write_add_filter_gzip(a);
	if (filter == FILT_ZSTD)
		ck_assert_int_eq(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].path);
		archive_entry_set_mtime(e, MTIME + (time_t)i, 0);
		archive_entry_set_uid(e, ents[i].uid);
		archive_entry_set_gid(e, ents[i].gid);
		unsigned perm = ents[i].mode ? ents[i].mode : 0644;
		switch (ents[i].type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(ents[i].data));
			if (!strcmp(ents[i].path, "xattr-file"))
				archive_entry_xattr_add_entry(e, "user.sandbox", "yes", 3);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			perm = ents[i].mode ? ents[i].mode : 0755;
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, ents[i].data);
			perm = 0777;
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, ents[i].data);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdev(e, makedev(1, 3));
			break;
		}
		archive_entry_set_perm(e, perm);
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		if (ents[i].type == 'f')
			archive_write_data(a, ents[i].data, strlen(ents[i].data));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static void apply_ok(const char *layer)
{
	struct sbx_err err = {0};
	int r = image_unpack_layer(root_dir, layer, &err);
	ck_assert_msg(r == 0, "unpack failed: %s", err.msg);
}

static void assert_outside_intact(void)
{
	char p[400], buf[32] = "";
	snprintf(p, sizeof(p), "%s/secret", outside_dir);
	FILE *f = fopen(p, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "original");
	snprintf(p, sizeof(p), "%s/x", outside_dir);
	ck_assert_int_ne(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/hl", outside_dir);
	ck_assert_int_ne(access(p, F_OK), 0);
}

/* The layer must fail with a message containing want, leaving outside/ as it was. */
static void apply_rejected(const char *layer, const char *want)
{
	struct sbx_err err = {0};
	ck_assert_int_lt(image_unpack_layer(root_dir, layer, &err), 0);
	ck_assert_msg(strstr(err.msg, want), "error '%s' lacks '%s'", err.msg, want);
	assert_outside_intact();
}

static const char *rpath(const char *rel)
{
	static char p[600];
	snprintf(p, sizeof(p), "%s/%s", root_dir, rel);
	return p;
}

static int lstat_rel(const char *rel, struct stat *st)
{
	return lstat(rpath(rel), st);
}

static void assert_content(const char *rel, const char *want)
{
	char buf[256] = "";
	FILE *f = fopen(rpath(rel), "r");
	ck_assert_msg(f != NULL, "%s missing", rel);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_assert_str_eq(buf, want);
}

static void assert_absent(const char *rel)
{
	struct stat st;
	ck_assert_msg(lstat_rel(rel, &st) < 0 && errno == ENOENT, "%s should not exist", rel);
}

static const struct ent normal[] = {
    {"./", 'd', NULL, 0711, 0, 0},
    {"./etc/", 'd', NULL, 0750, 0, 42},
    {"./etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\n", 0640, 1000, 42},
    {"./bin/tool", 'f', "#!/bin/sh\n", 04755, 0, 0}, /* parent "bin" not in the archive */
    {"./bin/link", 'l', "tool", 0, 7, 8},
    {"./bin/hard", 'h', "bin/tool", 0, 0, 0},
    {"./dev/fifo", 'p', NULL, 0620, 0, 0},
    {"./dev/null", 'c', NULL, 0666, 0, 0},
    {"xattr-file", 'f', "x", 0600, 0, 0},
};

static void check_normal_tree(void)
{
	struct stat st, st2;
	ck_assert_int_eq(lstat_rel("", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0711);
	ck_assert_int_eq(lstat_rel("etc", &st), 0);
	ck_assert(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 && st.st_gid == 42);
	ck_assert_int_eq(st.st_mtime, MTIME + 1); /* set after its children were written */
	assert_content("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	ck_assert_int_eq(lstat_rel("etc/passwd", &st), 0);
	ck_assert(st.st_uid == 1000 && st.st_gid == 42 && (st.st_mode & 07777) == 0640);
	ck_assert_int_eq(st.st_mtime, MTIME + 2);
	ck_assert_int_eq(lstat_rel("bin/tool", &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 04755); /* set-uid survives the chown */
	ck_assert_int_eq(lstat_rel("bin/hard", &st2), 0);
	ck_assert(st.st_ino == st2.st_ino && st2.st_nlink == 2);
	ck_assert_int_eq(lstat_rel("bin/link", &st), 0);
	ck_assert(S_ISLNK(st.st_mode) && st.st_uid == 7 && st.st_gid == 8);
	char target[64] = "";
	ck_assert_int_eq(readlink(rpath("bin/link"), target, sizeof(target)), 4);
	ck_assert_int_eq(lstat_rel("dev/fifo", &st), 0);
	ck_assert(S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0620);
	ck_assert_int_eq(lstat_rel("dev/null", &st), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	char val[8] = "";
	ck_assert_int_eq(getxattr(rpath("xattr-file"), "user.sandbox", val, sizeof(val)), 3);
	ck_assert_str_eq(val, "yes");
}

START_TEST(test_normal_entries_kept)
{
	apply_ok(make_layer("plain", FILT_NONE, normal, sizeof(normal) / sizeof(normal[0])));
	check_normal_tree();
}
END_TEST

START_TEST(test_compressed_layers)
{
	apply_ok(make_layer("gz", FILT_GZIP, normal, sizeof(normal) / sizeof(normal[0])));
	check_normal_tree();
	static const struct ent more[] = {{"zst/file", 'f', "zstd", 0644, 0, 0}};
	apply_ok(make_layer("zst", FILT_ZSTD, more, 1));
	assert_content("zst/file", "zstd");
}
END_TEST

START_TEST(test_whiteouts)
{
	static const struct ent l1[] = {
	    {"a/x", 'f', "x", 0, 0, 0},
	    {"a/y", 'f', "y", 0, 0, 0},
	    {"b/z", 'f', "z", 0, 0, 0},
	    {"d/old", 'f', "old", 0, 0, 0},
	    {"d/sub/deep", 'f', "deep", 0, 0, 0},
	    {"f", 'f', "one", 0, 0, 0},
	    {"g", 'f', "g1", 0, 0, 0},
	};
	static const struct ent l2[] = {
	    {"a/.wh.x", 'f', "", 0, 0, 0},
	    {".wh.b", 'f', "", 0, 0, 0},
	    {"d/new", 'f', "new", 0, 0, 0}, /* this layer's own entry, before the marker */
	    {"d/.wh..wh..opq", 'f', "", 0, 0, 0},
	    {".wh.f", 'f', "", 0, 0, 0},
	    {"g", 'f', "g2", 0, 0, 0}, /* same layer: the whiteout hides only the lower "g" */
	    {".wh.g", 'f', "", 0, 0, 0},
	    {".wh.never-existed", 'f', "", 0, 0, 0},
	};
	static const struct ent l3[] = {{"f", 'f', "three", 0, 0, 0}};
	apply_ok(make_layer("l1", FILT_GZIP, l1, sizeof(l1) / sizeof(l1[0])));
	apply_ok(make_layer("l2", FILT_GZIP, l2, sizeof(l2) / sizeof(l2[0])));
	assert_absent("a/x");
	assert_content("a/y", "y");
	assert_absent("b");
	assert_absent("d/old");
	assert_absent("d/sub");
	assert_content("d/new", "new");
	assert_absent("d/.wh..wh..opq");
	assert_absent("a/.wh.x");
	assert_absent("f");
	assert_content("g", "g2");
	apply_ok(make_layer("l3", FILT_NONE, l3, 1));
	assert_content("f", "three"); /* deleted in layer 2, recreated in layer 3 */
}
END_TEST

START_TEST(test_replacing_entries)
{
	static const struct ent l1[] = {
	    {"s", 'l', "../outside/secret", 0, 0, 0}, /* only data: allowed to exist */
	    {"dir/inner", 'f', "i", 0, 0, 0},
	    {"file", 'f', "f", 0, 0, 0},
	};
	static const struct ent l2[] = {
	    {"s", 'f', "replaced", 0, 0, 0}, /* replaces the link, never writes through it */
	    {"dir", 'f', "now a file", 0, 0, 0},
	    {"file/", 'd', NULL, 0, 0, 0},
	};
	apply_ok(make_layer("r1", FILT_NONE, l1, 3));
	apply_ok(make_layer("r2", FILT_NONE, l2, 3));
	struct stat st;
	ck_assert_int_eq(lstat_rel("s", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	assert_content("s", "replaced");
	assert_content("dir", "now a file");
	ck_assert_int_eq(lstat_rel("file", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	assert_outside_intact();
}
END_TEST

START_TEST(test_hostile_paths)
{
	static const struct ent abs[] = {{"/abs", 'f', "x", 0, 0, 0}};
	static const struct ent dotdot[] = {{"a/../../outside/x", 'f', "x", 0, 0, 0}};
	apply_rejected(make_layer("abs", FILT_NONE, abs, 1), "absolute path");
	apply_rejected(make_layer("dotdot", FILT_NONE, dotdot, 1), "'..' in path");
	assert_absent("abs");
}
END_TEST

START_TEST(test_hostile_symlinks)
{
	char abs_out[400];
	snprintf(abs_out, sizeof(abs_out), "%s", outside_dir);
	const struct ent rel[] = {{"evil", 'l', "../outside", 0, 0, 0},
				  {"evil/x", 'f', "pwned", 0, 0, 0}};
	const struct ent absl[] = {{"evil2", 'l', abs_out, 0, 0, 0},
				   {"evil2/x", 'f', "pwned", 0, 0, 0}};
	const struct ent dirl[] = {{"evil3", 'l', "../outside", 0, 0, 0},
				   {"evil3/sub/x", 'f', "pwned", 0, 0, 0}};
	apply_rejected(make_layer("rel", FILT_NONE, rel, 2), "outside the rootfs");
	apply_rejected(make_layer("absl", FILT_NONE, absl, 2), "outside the rootfs");
	apply_rejected(make_layer("dirl", FILT_NONE, dirl, 2), "outside the rootfs");
	/* A link planted by a lower layer, used by a whiteout in the next one. */
	static const struct ent wh[] = {{"evil/.wh.secret", 'f', "", 0, 0, 0}};
	apply_rejected(make_layer("wh", FILT_NONE, wh, 1), "outside the rootfs");
}
END_TEST

START_TEST(test_hostile_hardlinks)
{
	static const struct ent up[] = {{"hl", 'h', "../outside/secret", 0, 0, 0}};
	static const struct ent absh[] = {{"hl", 'h', "/etc/passwd", 0, 0, 0}};
	static const struct ent via[] = {{"evil", 'l', "../outside", 0, 0, 0},
					 {"hl", 'h', "evil/secret", 0, 0, 0}};
	static const struct ent missing[] = {{"hl", 'h', "nope", 0, 0, 0}};
	apply_rejected(make_layer("up", FILT_NONE, up, 1), "'..' in path");
	apply_rejected(make_layer("absh", FILT_NONE, absh, 1), "absolute path");
	apply_rejected(make_layer("via", FILT_NONE, via, 2), "outside the rootfs");
	apply_rejected(make_layer("missing", FILT_NONE, missing, 1), "does not exist");
	assert_absent("hl");
}
END_TEST

START_TEST(test_not_an_archive)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/garbage", base_dir);
	FILE *f = fopen(p, "w");
	fputs("this is not a tar archive, not even close, it is only some bytes..", f);
	fclose(f);
	apply_rejected(p, "open layer");
	snprintf(p, sizeof(p), "%s/none", base_dir);
	apply_rejected(p, "open layer");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_unpack");
	TCase *tc = tcase_create("unpack");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_normal_entries_kept);
	tcase_add_test(tc, test_compressed_layers);
	tcase_add_test(tc, test_whiteouts);
	tcase_add_test(tc, test_replacing_entries);
	tcase_add_test(tc, test_hostile_paths);
	tcase_add_test(tc, test_hostile_symlinks);
	tcase_add_test(tc, test_hostile_hardlinks);
	tcase_add_test(tc, test_not_an_archive);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
