/*
 * The image store without a registry: blobs enter only with the right digest and size, the
 * index finds images by name, tag, digest and digest prefix, replaces and removes entries,
 * survives leftovers of a crash, and prune deletes exactly what nothing references (and
 * nothing while a pull holds the store).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/image_store.h"

static char root[64];
static struct image_store store;

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/test-image-store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	struct sbx_err err = {0};
	ck_assert_msg(image_store_open(&store, root, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
	image_store_close(&store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

static int h_count(const char *dir)
{
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_dir(const char *sub)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, sub);
	return h_count(path);
}

/* Puts text into the store as a blob; its digest into digest. */
static void put(const char *text, char *digest)
{
	struct sbx_err err = {0};
	image_sha256_buf(text, strlen(text), digest);
	ck_assert_msg(image_store_put_blob(&store, text, strlen(text), digest, &err) == 0, "%s",
		      err.msg);
}

/* A record of name:tag whose manifest, config and one layer are the blobs for seed. */
static void make_record(struct image_record *r, struct image_layer *layer, const char *name,
			const char *tag, const char *seed)
{
	char text[128];
	memset(r, 0, sizeof(*r));
	r->name = (char *)name;
	r->tag = (char *)tag;
	snprintf(text, sizeof(text), "manifest %s", seed);
	put(text, r->manifest_digest);
	snprintf(text, sizeof(text), "config %s", seed);
	put(text, r->config_digest);
	snprintf(text, sizeof(text), "layer %s", seed);
	put(text, layer->digest);
	snprintf(layer->media_type, sizeof(layer->media_type), "application/x-test");
	layer->size = strlen(text);
	r->layers = layer;
	r->n_layers = 1;
	r->size = layer->size;
	r->created = "2024-01-02T03:04:05Z";
}

static void add(const char *name, const char *tag, const char *seed, struct image_record *r)
{
	static struct image_layer layers[16];
	static int next;
	struct sbx_err err = {0};
	make_record(r, &layers[next++ % 16], name, tag, seed);
	ck_assert_msg(image_store_add(&store, r, &err) == 0, "%s", err.msg);
}

START_TEST(test_layout_and_digests)
{
	/* opening and reading create nothing; the first write makes the layout */
	struct image_record *list = NULL;
	size_t n = 1;
	struct sbx_err e = {0};
	ck_assert_int_eq(image_store_list(&store, &list, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	ck_assert(!image_store_exists(&store));
	ck_assert_int_eq(image_store_remove(&store, "busybox", NULL, &e), -ENOENT);
	ck_assert_int_eq(h_count(root), 0);
	ck_assert_int_eq(image_store_hold(&store, &e), 0);
	ck_assert(image_store_exists(&store));
	ck_assert_int_eq(count_dir("blobs/sha256"), 0);
	ck_assert_int_eq(count_dir("tmp"), 0);
	char path[PATH_MAX], d[IMAGE_DIGEST_MAX];
	struct sbx_err err = {0};
	image_sha256_buf("", 0, d);
	ck_assert_str_eq(d,
			 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(image_store_blob_path(&store, d, path, sizeof(path), &err), 0);
	ck_assert_ptr_nonnull(strstr(path, "/blobs/sha256/e3b0c442"));
	static const char *const bad[] = {"sha256:../../etc/passwd", "sha512:00", "sha256:ABC",
					  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
					  "7852b855"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(image_store_blob_path(&store, bad[i], path, sizeof(path), &err),
				 -EINVAL);
}
END_TEST

START_TEST(test_blob_verified_before_it_enters)
{
	char d[IMAGE_DIGEST_MAX], other[IMAGE_DIGEST_MAX];
	struct sbx_err err = {0};
	image_sha256_buf("hello", 5, d);
	image_sha256_buf("hellO", 5, other);
	ck_assert_int_eq(image_store_put_blob(&store, "hellO", 5, d, &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "corrupted"));
	ck_assert(!image_store_has_blob(&store, d));
	ck_assert_int_eq(count_dir("tmp"), 0);
	ck_assert_int_eq(count_dir("blobs/sha256"), 0);

	/* the size is checked too (a truncated download with a colliding digest is not) */
	char tmp[PATH_MAX];
	int fd = image_store_tmpfile(&store, tmp, sizeof(tmp), &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "hello", 5), 5);
	close(fd);
	ck_assert_int_eq(image_store_commit_blob(&store, tmp, d, 6, &err), -EBADMSG);
	ck_assert_int_eq(access(tmp, F_OK), -1);

	ck_assert_int_eq(image_store_put_blob(&store, "hello", 5, d, &err), 0);
	ck_assert(image_store_has_blob(&store, d));
	char *data = NULL;
	size_t len = 0;
	ck_assert_int_eq(image_store_read_blob(&store, d, 100, &data, &len, &err), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(data, "hello");
	free(data);
	ck_assert_int_eq(image_store_read_blob(&store, d, 4, &data, &len, &err), -EFBIG);
	ck_assert_int_eq(image_store_read_blob(&store, other, 100, &data, &len, &err), -ENOENT);
}
END_TEST

START_TEST(test_find_by_name_tag_digest_prefix)
{
	struct image_record a, b, got;
	struct sbx_err err = {0};
	add("docker.io/library/busybox", "latest", "a", &a);
	add("127.0.0.1:5000/x/y", "v1", "b", &b);

	ck_assert_int_eq(image_store_find(&store, "busybox", &got, &err), 0);
	ck_assert_str_eq(got.manifest_digest, a.manifest_digest);
	ck_assert_str_eq(got.tag, "latest");
	ck_assert_str_eq(got.created, "2024-01-02T03:04:05Z");
	ck_assert_uint_eq(got.n_layers, 1);
	ck_assert_str_eq(got.layers[0].digest, a.layers[0].digest);
	ck_assert_uint_eq(got.layers[0].size, a.layers[0].size);
	ck_assert_int_gt(got.added, 0);
	image_record_free(&got);

	char ref[256];
	snprintf(ref, sizeof(ref), "127.0.0.1:5000/x/y@%s", b.manifest_digest);
	ck_assert_int_eq(image_store_find(&store, ref, &got, &err), 0);
	ck_assert_str_eq(got.name, "127.0.0.1:5000/x/y");
	image_record_free(&got);
	ck_assert_int_eq(image_store_find(&store, b.manifest_digest, &got, &err), 0);
	image_record_free(&got);
	snprintf(ref, sizeof(ref), "%.12s", b.manifest_digest + 7);
	ck_assert_int_eq(image_store_find(&store, ref, &got, &err), 0);
	ck_assert_str_eq(got.manifest_digest, b.manifest_digest);
	image_record_free(&got);

	ck_assert_int_eq(image_store_find(&store, "busybox:1.36", &got, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "busybox:1.36"));
	ck_assert_int_eq(image_store_find(&store, "x/y:v1", &got, &err), -ENOENT);
	/* "" is a prefix of every digest: ambiguous, never a silent pick */
	ck_assert_int_lt(image_store_find(&store, "sha256:", &got, &err), 0);
}
END_TEST

START_TEST(test_add_replaces_and_checks_blobs)
{
	struct image_record a, b, *list = NULL;
	struct image_layer l;
	struct sbx_err err = {0};
	size_t n = 0;
	add("docker.io/library/busybox", "latest", "a", &a);
	add("docker.io/library/busybox", "latest", "b", &b); /* a newer pull of the same tag */
	add("docker.io/library/busybox", "old", "a", &a);
	ck_assert_int_eq(image_store_list(&store, &list, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++)
		image_record_free(&list[i]);
	free(list);
	struct image_record got;
	ck_assert_int_eq(image_store_find(&store, "busybox", &got, &err), 0);
	ck_assert_str_eq(got.manifest_digest, b.manifest_digest);
	image_record_free(&got);

	/* an entry naming a blob the store lacks is refused */
	make_record(&a, &l, "docker.io/library/c", "1", "c");
	char path[PATH_MAX];
	image_store_blob_path(&store, l.digest, path, sizeof(path), &err);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(image_store_add(&store, &a, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, l.digest));
	ck_assert_int_eq(image_store_find(&store, "c:1", &got, &err), -ENOENT);
}
END_TEST

START_TEST(test_remove)
{
	struct image_record a, b, got;
	struct sbx_err err = {0};
	add("docker.io/library/busybox", "latest", "a", &a);
	add("docker.io/library/busybox", "again", "a", &a);
	add("docker.io/library/other", "latest", "b", &b);
	ck_assert_int_eq(image_store_remove(&store, "busybox:again", &got, &err), 0);
	ck_assert_str_eq(got.tag, "again");
	image_record_free(&got);
	ck_assert_int_eq(image_store_find(&store, "busybox", &got, &err), 0);
	image_record_free(&got);
	add("docker.io/library/busybox", "again", "a", &a);
	/* by digest: every name of that manifest goes */
	ck_assert_int_eq(image_store_remove(&store, a.manifest_digest, NULL, &err), 0);
	ck_assert_int_eq(image_store_find(&store, "busybox", &got, &err), -ENOENT);
	ck_assert_int_eq(image_store_find(&store, "busybox:again", &got, &err), -ENOENT);
	ck_assert_int_eq(image_store_find(&store, "other", &got, &err), 0);
	image_record_free(&got);
	ck_assert_int_eq(image_store_remove(&store, "nothere", NULL, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "nothere"));
}
END_TEST

START_TEST(test_prune)
{
	struct image_record a, b;
	struct sbx_err err = {0};
	add("docker.io/library/keep", "latest", "a", &a);
	add("docker.io/library/drop", "latest", "b", &b);
	ck_assert_int_eq(image_store_remove(&store, "drop", NULL, &err), 0);
	char tmp[PATH_MAX], stray[IMAGE_DIGEST_MAX];
	int fd = image_store_tmpfile(&store, tmp, sizeof(tmp), &err); /* a crashed pull's */
	ck_assert_int_ge(fd, 0);
	close(fd);
	put("orphan", stray);
	ck_assert_int_eq(count_dir("blobs/sha256"), 7);

	/* a pull in progress (another holder of the store) blocks it: nothing is deleted */
	struct image_store puller;
	ck_assert_int_eq(image_store_open(&puller, root, &err), 0);
	ck_assert_int_eq(image_store_hold(&puller, &err), 0);
	size_t blobs = 0;
	uint64_t bytes = 0;
	ck_assert_int_eq(image_store_prune(&store, &blobs, &bytes, &err), -EBUSY);
	ck_assert_int_eq(count_dir("blobs/sha256"), 7);
	ck_assert_int_eq(count_dir("tmp"), 1);
	image_store_close(&puller);

	ck_assert_int_eq(image_store_prune(&store, &blobs, &bytes, &err), 0);
	ck_assert_uint_eq(blobs, 4);
	ck_assert_int_eq(count_dir("blobs/sha256"), 3);
	ck_assert_int_eq(count_dir("tmp"), 0);
	ck_assert(image_store_has_blob(&store, a.manifest_digest));
	ck_assert(image_store_has_blob(&store, a.config_digest));
	ck_assert(image_store_has_blob(&store, a.layers[0].digest));
	ck_assert(!image_store_has_blob(&store, stray));
}
END_TEST

START_TEST(test_index_crash_leftovers_and_corruption)
{
	struct image_record a, got;
	struct sbx_err err = {0};
	add("docker.io/library/busybox", "latest", "a", &a);
	/* a crash between writing the new index and renaming it leaves only a temp file */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/tmp/index.json.crash1", root);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"images\": [", f);
	fclose(f);
	ck_assert_int_eq(image_store_find(&store, "busybox", &got, &err), 0);
	image_record_free(&got);

	snprintf(path, sizeof(path), "%s/index.json", root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"version\":1,\"images\":[{\"name\":\"x\",\"manifest\":\"sha256:../../x\"}]}", f);
	fclose(f);
	ck_assert_int_lt(image_store_find(&store, "busybox", &got, &err), 0);
	ck_assert_msg(strstr(err.msg, "index.json") && strstr(err.msg, "malformed"), "%s", err.msg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image_store");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_layout_and_digests);
	tcase_add_test(tc, test_blob_verified_before_it_enters);
	tcase_add_test(tc, test_find_by_name_tag_digest_prefix);
	tcase_add_test(tc, test_add_replaces_and_checks_blobs);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_index_crash_leftovers_and_corruption);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
