/*
 * Guest RAM as one shared memfd mapping. MAP_SHARED on a memfd (rather than anonymous memory)
 * so that a vhost-user daemon (virtio-fs) can later map the same pages from the fd.
 */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/cleanup.h"

#define GUEST_MEM_PAGE 4096ull
/*
 * Inaccessible address space on each side of guest RAM: a device bug that runs past either end
 * faults at once instead of reading or corrupting whatever host mapping happens to be next.
 * ASan does not watch mmap'd memory, so these guards are also what makes such a bug visible to
 * the hostile-guest tests (docs/security.md). Reserved PROT_NONE + NORESERVE: no memory cost.
 */
#define GUEST_MEM_GUARD (2ull << 20)

/* Reserves size bytes between two guards; returns the start of the middle part or NULL. */
static uint8_t *reserve_guarded(uint64_t size)
{
	void *p = mmap(NULL, size + 2 * GUEST_MEM_GUARD, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : (uint8_t *)p + GUEST_MEM_GUARD;
}

static void release_guarded(uint8_t *host, uint64_t size)
{
	munmap(host - GUEST_MEM_GUARD, size + 2 * GUEST_MEM_GUARD);
}

/* Maps fd over the middle of a guarded reservation; NULL (errno set) on failure. */
static uint8_t *map_guarded(uint64_t size, int flags, int fd)
{
	uint8_t *slot = reserve_guarded(size);
	if (!slot)
		return NULL;
	void *p =
	    mmap(slot, size, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		release_guarded(slot, size);
		errno = e;
		return NULL;
	}
	return p;
}

int guest_mem_create(struct guest_mem *m, uint64_t size, struct sbx_err *err)
{
	m->host = NULL;
	m->size = 0;
	m->memfd = -1;
	if (size == 0 || size % GUEST_MEM_PAGE != 0)
		return sbx_err_setx(err, EINVAL,
				    "guest memory size %llu is not a positive multiple of 4 KiB",
				    (unsigned long long)size);

	cleanup_close int fd = memfd_create("sandbox-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "memfd_create guest RAM");
	if (ftruncate(fd, (off_t)size) < 0)
		return sbx_err_set(err, errno, "ftruncate guest RAM memfd to %llu bytes",
				   (unsigned long long)size);
	/* MAP_NORESERVE: the guest touches only what it uses; untouched pages cost nothing. */
	uint8_t *p = map_guarded(size, MAP_SHARED, fd);
	if (!p)
		return sbx_err_set(err, errno, "mmap %llu bytes of guest RAM",
				   (unsigned long long)size);

	m->host = p;
	m->size = size;
	m->memfd = steal_fd(fd);
	return 0;
}

int guest_mem_map_private(struct guest_mem *m, int fd, uint64_t size, struct sbx_err *err)
{
	m->host = NULL;
	m->size = 0;
	m->memfd = -1;
	if (size == 0 || size % GUEST_MEM_PAGE != 0)
		return sbx_err_setx(err, EINVAL,
				    "guest memory size %llu is not a positive multiple of 4 KiB",
				    (unsigned long long)size);
	/* No MAP_POPULATE: restore must not read the file; the guest faults in what it uses. */
	uint8_t *p = map_guarded(size, MAP_PRIVATE, fd);
	if (!p)
		return sbx_err_set(err, errno, "mmap %llu bytes of guest RAM from the snapshot",
				   (unsigned long long)size);
	m->host = p;
	m->size = size;
	return 0;
}

/* Copies the data extents of fd (SEEK_DATA/SEEK_HOLE) into dst; holes stay unallocated. */
static int copy_data_extents(int fd, uint8_t *dst, uint64_t size, struct sbx_err *err)
{
	off_t off = 0;
	while ((uint64_t)off < size) {
		off_t d = lseek(fd, off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			return 0; /* only a hole is left */
		if (d < 0)
			return sbx_err_set(err, errno, "SEEK_DATA in the guest memory file");
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return sbx_err_set(err, errno, "SEEK_HOLE in the guest memory file");
		if ((uint64_t)h > size)
			h = (off_t)size;
		for (off_t p = d; p < h;) {
			ssize_t n = pread(fd, dst + p, (size_t)(h - p), p);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return sbx_err_set(err, n < 0 ? errno : EIO,
						   "read the guest memory file");
			p += n;
		}
		off = h;
	}
	return 0;
}

int guest_mem_share(struct guest_mem *m, int fd, struct sbx_err *err)
{
	if (m->memfd >= 0)
		return 0;
	cleanup_close int mfd = memfd_create("sandbox-guest-ram", MFD_CLOEXEC);
	if (mfd < 0)
		return sbx_err_set(err, errno, "memfd_create guest RAM");
	if (ftruncate(mfd, (off_t)m->size) < 0)
		return sbx_err_set(err, errno, "ftruncate guest RAM memfd");
	uint8_t *tmp =
	    mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mfd, 0);
	if (tmp == MAP_FAILED)
		return sbx_err_set(err, errno, "mmap guest RAM memfd");
	int r = copy_data_extents(fd, tmp, m->size, err);
	munmap(tmp, m->size);
	if (r < 0)
		return r;
	/* MAP_FIXED replaces the private mapping in one step; KVM follows the new pages. */
	void *p = mmap(m->host, m->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE | MAP_FIXED, mfd, 0);
	if (p == MAP_FAILED)
		return sbx_err_set(err, errno, "mmap guest RAM memfd over the snapshot mapping");
	m->memfd = steal_fd(mfd);
	return 0;
}

void guest_mem_destroy(struct guest_mem *m)
{
	if (!m)
		return;
	if (m->host && m->size)
		release_guarded(m->host, m->size);
	if (m->memfd >= 0)
		close(m->memfd);
	m->host = NULL;
	m->size = 0;
	m->memfd = -1;
}

void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	/* Written so that no sum can wrap: gpa <= size first, then len <= size - gpa. */
	if (!m || !m->host || gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->host + gpa;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = gpa_to_hva(m, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gpa_to_hva(m, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
