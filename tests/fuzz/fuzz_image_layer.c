/*
 * libFuzzer target for what `sandbox run IMAGE` reads from an image: layer tarballs
 * (shim/image_unpack.c) and the image config (shim/image_config.c). The first input byte
 * selects which; the rest is its input.
 *
 * The layer oracle: each input is applied to <base>/root, beside which sits a sentinel file;
 * afterwards <base> must hold exactly those two entries and the sentinel must be unchanged,
 * whatever the archive tried (absolute names, "..", symlinks and hard links out).
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shim/image_config.h"
#include "../../shim/image_unpack.h"
#include "../../shim/rundir.h"

#define SENTINEL "do not touch\n"

static char base[] = "/tmp/fuzz-image-layer.XXXXXX";
static char root[64], sentinel[64];

static void remove_base(void)
{
	rmtree(base);
}

static void init_once(void)
{
	if (root[0])
		return;
	assert(mkdtemp(base));
	atexit(remove_base);
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", base);
	FILE *f = fopen(sentinel, "w");
	assert(f);
	fputs(SENTINEL, f);
	fclose(f);
}

static void assert_outside_untouched(void)
{
	DIR *d = opendir(base);
	assert(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		assert(!strcmp(e->d_name, "root") || !strcmp(e->d_name, "sentinel"));
		n++;
	}
	closedir(d);
	assert(n == 2);
	char buf[64] = "";
	FILE *f = fopen(sentinel, "r");
	assert(f && fgets(buf, sizeof(buf), f));
	fclose(f);
	assert(!strcmp(buf, SENTINEL));
	struct stat st;
	assert(lstat(sentinel, &st) == 0 && st.st_nlink == 1 && S_ISREG(st.st_mode));
}

static void check_layer(const uint8_t *data, size_t len)
{
	init_once();
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert(fd >= 0);
	assert(write(fd, data, len) == (ssize_t)len);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	assert(mkdir(root, 0755) == 0);
	struct sbx_err err = {0};
	if (image_unpack_layer(root, path, &err) < 0)
		assert(err.code > 0 && err.msg[0]);
	close(fd);
	assert_outside_untouched();
	rmtree(root);
}

static void check_config(const char *s, size_t len)
{
	struct image_config c;
	struct sbx_err err = {0};
	if (image_config_parse(s, len, &c, &err) < 0) {
		assert(err.msg[0]);
		return;
	}
	for (size_t i = 0; i < c.n_env; i++)
		assert(strchr(c.env[i], '=') && c.env[i][0] != '=');
	assert(!c.workdir || c.workdir[0] == '/');
	char *args[] = {"x"};
	struct image_overrides o = {.args = args, .n_args = 1};
	struct image_process p;
	assert(image_config_apply(&c, &o, &p, &err) == 0);
	assert(p.argc == c.n_entrypoint + 1 && p.argv[p.argc] == NULL && p.workdir);
	image_process_free(&p);
	image_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		check_config((const char *)data + 1, size - 1);
	else
		check_layer(data + 1, size - 1);
	return 0;
}
