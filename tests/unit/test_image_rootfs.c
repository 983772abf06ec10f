/*
 * The erofs cache of image root filesystems: a real store in a temp dir, real layer blobs
 * (libarchive's writer), real mkfs.erofs; no VM.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/image_rootfs.h"
#include "../../shim/image_store.h"

static char root[] = "/tmp/test-image-rootfs.XXXXXX";
static struct image_store store;

struct file {
	const char *path, *data;
};

static void setup(void)
{
	struct sbx_err err = {0};
	snprintf(root, sizeof(root), "/tmp/test-image-rootfs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	ck_assert_int_eq(image_store_open(&store, root, &err), 0);
}

static void teardown(void)
{
	image_store_close(&store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* A gzip'd layer holding files into the store; its descriptor into l. */
static void put_layer(const struct file *files, size_t n, struct image_layer *l)
{
	static char buf[1 << 16];
	size_t used = 0;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	ck_assert_int_eq(archive_write_open_memory(a, buf, sizeof(buf), &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, files[i].path);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(files[i].data));
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		archive_write_data(a, files[i].data, strlen(files[i].data));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	struct sbx_err err = {0};
	image_sha256_buf(buf, used, l->digest);
	snprintf(l->media_type, sizeof(l->media_type),
		 "application/vnd.oci.image.layer.v1.tar+gzip");
	l->size = used;
	ck_assert_int_eq(image_store_put_blob(&store, buf, used, l->digest, &err), 0);
}

/* An image record over the given layers; the manifest bytes only need a unique digest. */
static void make_record(struct image_layer *layers, size_t n, const char *tag,
			struct image_record *r)
{
	memset(r, 0, sizeof(*r));
	r->name = "docker.io/library/test";
	r->tag = (char *)tag;
	r->layers = layers;
	r->n_layers = n;
	image_sha256_buf(tag, strlen(tag), r->manifest_digest);
	image_sha256_buf("{}", 2, r->config_digest);
}

static void assert_no_build_dirs(void)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/rootfs", root);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		ck_assert_msg(strncmp(e->d_name, ".build-", 7), "%s left behind", e->d_name);
	if (d)
		closedir(d);
}

START_TEST(test_built_once_then_cached)
{
	static const struct file base[] = {{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
					   {"etc/group", "root:x:0:\n"},
					   {"bin/tool", "v1"}};
	static const struct file top[] = {{"bin/tool", "v2"}};
	struct image_layer layers[2];
	put_layer(base, 3, &layers[0]);
	put_layer(top, 1, &layers[1]);
	struct image_record rec;
	make_record(layers, 2, "one", &rec);
	/* A build a crash interrupted: the next build removes it. */
	char stale[128];
	snprintf(stale, sizeof(stale), "%s/rootfs", root);
	ck_assert_int_eq(mkdir(stale, 0755), 0);
	snprintf(stale, sizeof(stale), "%s/rootfs/.build-crashed", root);
	ck_assert_int_eq(mkdir(stale, 0700), 0);
	struct image_rootfs rf, again;
	struct sbx_err err = {0};
	int r = image_rootfs_get(&store, &rec, &rf, &err);
	ck_assert_msg(r == 0, "build failed: %s", err.msg);
	ck_assert(rf.built);
	ck_assert_ptr_nonnull(strstr(rf.erofs, rec.manifest_digest + 7));
	struct stat st1, st2;
	ck_assert_int_eq(stat(rf.erofs, &st1), 0);
	ck_assert(S_ISREG(st1.st_mode) && st1.st_size > 0);
	char passwd[PATH_MAX + 16];
	snprintf(passwd, sizeof(passwd), "%s/etc/passwd", rf.userdb);
	FILE *f = fopen(passwd, "r");
	ck_assert_ptr_nonnull(f);
	char line[128] = "";
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_str_eq(line, "root:x:0:0:root:/root:/bin/sh\n");
	assert_no_build_dirs();

	ck_assert_int_eq(image_rootfs_get(&store, &rec, &again, &err), 0);
	ck_assert(!again.built);
	ck_assert_str_eq(again.erofs, rf.erofs);
	ck_assert_int_eq(stat(rf.erofs, &st2), 0);
	ck_assert(st1.st_ino == st2.st_ino && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
}
END_TEST

START_TEST(test_bad_layers_leave_nothing)
{
	static const struct file evil[] = {{"../escape", "x"}};
	struct image_layer layers[2];
	put_layer(evil, 1, &layers[0]);
	struct image_record rec;
	make_record(layers, 1, "evil", &rec);
	struct image_rootfs rf;
	struct sbx_err err = {0};
	ck_assert_int_lt(image_rootfs_get(&store, &rec, &rf, &err), 0);
	ck_assert_msg(strstr(err.msg, "layer 1/1") && strstr(err.msg, "'..' in path"), "%s",
		      err.msg);
	ck_assert_int_ne(access(rf.erofs, F_OK), 0);
	ck_assert_int_ne(access(rf.userdb, F_OK), 0);
	assert_no_build_dirs();

	/* A layer blob the store does not have, and a media type that is no tar. */
	image_sha256_buf("missing", 7, layers[0].digest);
	ck_assert_int_lt(image_rootfs_get(&store, &rec, &rf, &err), 0);
	ck_assert_msg(strstr(err.msg, "open layer"), "%s", err.msg);
	put_layer(evil, 1, &layers[0]);
	snprintf(layers[0].media_type, sizeof(layers[0].media_type), "application/x-squashfs");
	ck_assert_int_lt(image_rootfs_get(&store, &rec, &rf, &err), 0);
	ck_assert_msg(strstr(err.msg, "unsupported media type"), "%s", err.msg);
	assert_no_build_dirs();
}
END_TEST

START_TEST(test_prune_keeps_named)
{
	static const struct file files[] = {{"a", "a"}};
	struct image_layer layer;
	put_layer(files, 1, &layer);
	struct image_record keep, drop;
	make_record(&layer, 1, "keep", &keep);
	make_record(&layer, 1, "drop", &drop);
	struct image_rootfs rk, rd;
	struct sbx_err err = {0};
	ck_assert_int_eq(image_rootfs_get(&store, &keep, &rk, &err), 0);
	ck_assert_int_eq(image_rootfs_get(&store, &drop, &rd, &err), 0);
	const char *names[] = {keep.manifest_digest};
	size_t removed = 0;
	ck_assert_int_eq(image_rootfs_prune(&store, names, 1, &removed, &err), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(access(rk.erofs, F_OK), 0);
	ck_assert_int_eq(access(rk.userdb, F_OK), 0);
	ck_assert_int_ne(access(rd.erofs, F_OK), 0);
	ck_assert_int_ne(access(rd.userdb, F_OK), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_rootfs");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_built_once_then_cached);
	tcase_add_test(tc, test_bad_layers_leave_nothing);
	tcase_add_test(tc, test_prune_keeps_named);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
