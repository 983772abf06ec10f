/*
 * virtio block device (virtio 1.2 §5.2) backed by a host file. One request queue, served
 * synchronously on the notifying vCPU thread with pread/pwrite. Every request is checked against
 * the capacity; malformed requests complete with VIRTIO_BLK_S_IOERR (or are dropped when they
 * have no room for the status byte) and are counted.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio_devices.h"
#include "virtio_mmio.h"

#define BLK_QUEUE_REQUEST 0u
#define BLK_QUEUE_SIZE 128u
#define BLK_SECTOR_SIZE 512u /* §5.2.6: sectors are always 512 bytes */

/* Feature bits, §5.2.3. */
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

/* Request types and status values, §5.2.6. */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_ID_BYTES 20u
#define BLK_REQ_HDR_SIZE 16u /* le32 type, le32 reserved, le64 sector */

/* Config space prefix we expose (§5.2.4): capacity, size_max, seg_max, geometry, blk_size. */
#define BLK_CFG_CAPACITY 0u
#define BLK_CFG_SEG_MAX 12u
#define BLK_CFG_SIZE 24u
/* A request's data segments: the queue size minus the header and status descriptors. */
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2u)

/* Slot flags in a snapshot record (docs/snapshot.md). */
#define BLK_SNAP_RO 1u
#define BLK_SNAP_EMPTY 2u
#define BLK_PATH_MAX 4096u

struct virtio_blk {
	struct virtio_mmio t; /* first: the opaque handle is a struct virtio_mmio too */
	int fd; /* -1 for an empty slot: every request fails with IOERR (capacity 0) */
	bool read_only;
	bool config_pending;	 /* restored into an empty slot: tell the driver on resume */
	char path[BLK_PATH_MAX]; /* "" for an empty slot */
	uint64_t capacity;	 /* in 512-byte sectors */
	uint8_t config[BLK_CFG_SIZE];
	char id[VIRTIO_BLK_ID_BYTES];
	struct vq_chain chain;
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t bad_requests;
	uint64_t io_errors;
};

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *blk = dev;
	memcpy(data, blk->config + off, len);
}

/* Full pread/pwrite of every piece of `iov`, advancing the file offset; 0 or -errno. */
static int blk_rw(int fd, const struct iovec *iov, int n, uint64_t pos, bool write)
{
	for (int i = 0; i < n; i++) {
		size_t done = 0;
		while (done < iov[i].iov_len) {
			uint8_t *p = (uint8_t *)iov[i].iov_base + done;
			size_t left = iov[i].iov_len - done;
			ssize_t r = write ? pwrite(fd, p, left, (off_t)pos)
					  : pread(fd, p, left, (off_t)pos);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -errno : -EIO; /* EOF inside capacity: file shrank */
			done += (size_t)r;
			pos += (uint64_t)r;
		}
	}
	return 0;
}

/* IN (read) or OUT (write) of `len` data bytes at `sector`; returns a status value. */
static uint8_t blk_data(struct virtio_blk *blk, uint64_t sector, uint64_t len, bool write)
{
	if (len % BLK_SECTOR_SIZE || sector > blk->capacity ||
	    len / BLK_SECTOR_SIZE > blk->capacity - sector) {
		blk->bad_requests++;
		return VIRTIO_BLK_S_IOERR;
	}
	if (write && blk->read_only) {
		blk->bad_requests++;
		return VIRTIO_BLK_S_IOERR;
	}
	uint64_t got;
	uint64_t off = write ? BLK_REQ_HDR_SIZE : 0;
	int n = vq_chain_iov(&blk->chain, !write, off, len, blk->iov, VIRTQ_MAX_SIZE, &got);
	if (got != len || blk_rw(blk->fd, blk->iov, n, sector * BLK_SECTOR_SIZE, write) < 0) {
		blk->io_errors++;
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* Executes the request in blk->chain; *used = bytes written to the guest before the status. */
static uint8_t blk_execute(struct virtio_blk *blk, uint32_t *used)
{
	const struct vq_chain *c = &blk->chain;
	uint8_t hdr[BLK_REQ_HDR_SIZE];
	*used = 0;
	if (vq_chain_read(c, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
		blk->bad_requests++;
		return VIRTIO_BLK_S_IOERR;
	}
	uint32_t type;
	uint64_t sector;
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	type = le32toh(type);
	sector = le64toh(sector);
	uint64_t in_data = c->in_len - 1; /* the last writable byte is the status */
	uint8_t st;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		st = blk_data(blk, sector, in_data, false);
		if (st == VIRTIO_BLK_S_OK)
			*used = (uint32_t)in_data; /* in_len <= UINT32_MAX, checked by blk_notify */
		return st;
	case VIRTIO_BLK_T_OUT:
		return blk_data(blk, sector, c->out_len - BLK_REQ_HDR_SIZE, true);
	case VIRTIO_BLK_T_FLUSH:
		if (!blk->read_only && fdatasync(blk->fd) < 0) {
			blk->io_errors++;
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		*used = (uint32_t)vq_chain_write(
		    c, 0, blk->id, in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	}
	blk->bad_requests++;
	return VIRTIO_BLK_S_UNSUPP;
}

static void blk_notify(void *dev, uint16_t q)
{
	struct virtio_blk *blk = dev;
	struct virtqueue *vq = virtio_mmio_queue(&blk->t, q);
	if (q != BLK_QUEUE_REQUEST || !vq)
		return;
	while (virtqueue_pop(vq, &blk->chain) == 1) {
		struct vq_chain *c = &blk->chain;
		if (c->in_len == 0 || c->in_len > UINT32_MAX) {
			/* No room for the status byte (or absurd size): nothing sane to report. */
			blk->bad_requests++;
			virtqueue_push(vq, c->head, 0);
			continue;
		}
		uint32_t used;
		uint8_t st = blk_execute(blk, &used);
		vq_chain_write(c, c->in_len - 1, &st, 1);
		virtqueue_push(vq, c->head, used + 1);
	}
	virtio_mmio_signal(&blk->t, q);
}

static void blk_reset(void *dev)
{
	(void)dev; /* requests complete synchronously: nothing in flight */
}

static void blk_destroy(void *dev)
{
	struct virtio_blk *blk = dev;
	if (blk->fd >= 0)
		close(blk->fd);
	virtio_mmio_fini(&blk->t);
	free(blk);
}

/* Record: flags (RO, EMPTY), capacity, backing path ("" for an empty slot). */
static int blk_save(void *dev, struct snap_w *w, struct sbx_err *err)
{
	struct virtio_blk *blk = dev;
	(void)err;
	snap_put_u32(w, (blk->read_only ? BLK_SNAP_RO : 0) | (blk->fd < 0 ? BLK_SNAP_EMPTY : 0));
	snap_put_u64(w, blk->capacity);
	snap_put_blob(w, blk->path, strlen(blk->path));
	return 0;
}

static void blk_resume(void *dev)
{
	struct virtio_blk *blk = dev;
	if (blk->config_pending)
		virtio_mmio_config_changed(&blk->t); /* virtio_blk re-reads the capacity */
	blk->config_pending = false;
}

static const struct virtio_dev_ops blk_ops = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max_size = BLK_QUEUE_SIZE,
    .config_size = BLK_CFG_SIZE,
    .config_read = blk_config_read,
    .notify = blk_notify,
    .reset = blk_reset,
    .destroy = blk_destroy,
    .save = blk_save,
    .resume = blk_resume,
};

static void blk_set_capacity(struct virtio_blk *blk, uint64_t sectors)
{
	blk->capacity = sectors;
	uint64_t cap = htole64(sectors);
	uint32_t seg_max = htole32(BLK_SEG_MAX);
	memcpy(blk->config + BLK_CFG_CAPACITY, &cap, sizeof(cap));
	memcpy(blk->config + BLK_CFG_SEG_MAX, &seg_max, sizeof(seg_max));
}

static int blk_open(struct virtio_blk *blk, const char *path, bool read_only, struct sbx_err *err)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "virtio-blk: open '%s'", path);
	off_t size = lseek(fd, 0, SEEK_END); /* works for regular files and block devices */
	if (size < 0) {
		int e = errno;
		close(fd);
		return sbx_err_set(err, e, "virtio-blk: size of '%s'", path);
	}
	blk->fd = fd;
	blk->read_only = read_only;
	snprintf(blk->path, sizeof(blk->path), "%s", path);
	blk_set_capacity(blk, (uint64_t)size / BLK_SECTOR_SIZE); /* partial last sector hidden */
	/* GET_ID answer: the file name, NUL-padded, unterminated when 20 bytes long (§5.2.6). */
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	memcpy(blk->id, name, strnlen(name, sizeof(blk->id)));
	return 0;
}

/* Creates the device; path NULL makes an empty read-only slot. */
static int blk_create(struct vm *vm, uint64_t base, uint32_t irq, const char *path, bool read_only,
		      struct virtio_blk **out, struct sbx_err *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk)
		return sbx_err_set(err, ENOMEM, "virtio-blk: allocate");
	blk->fd = -1;
	blk->read_only = read_only || !path;
	blk_set_capacity(blk, 0);
	int r = path ? blk_open(blk, path, read_only, err) : 0;
	if (r < 0) {
		free(blk);
		return r;
	}
	uint64_t features =
	    VIRTIO_BLK_F_SEG_MAX | (blk->read_only ? VIRTIO_BLK_F_RO : VIRTIO_BLK_F_FLUSH);
	r = virtio_mmio_init(&blk->t, vm, base, irq, &blk_ops, blk, features, err);
	if (r < 0) {
		if (blk->fd >= 0)
			close(blk->fd);
		free(blk);
		return r;
	}
	r = virtio_mmio_register(&blk->t, err);
	if (r < 0) {
		blk_destroy(blk);
		return r;
	}
	*out = blk;
	return 0;
}

int virtio_blk_create(struct vm *vm, uint64_t base, uint32_t irq, const char *path, bool read_only,
		      void **out, struct sbx_err *err)
{
	return blk_create(vm, base, irq, path, read_only, (struct virtio_blk **)out, err);
}

int virtio_blk_create_empty(struct vm *vm, uint64_t base, uint32_t irq, void **out,
			    struct sbx_err *err)
{
	return blk_create(vm, base, irq, NULL, true, (struct virtio_blk **)out, err);
}

struct blk_record {
	uint32_t flags;
	uint64_t capacity;
	char path[BLK_PATH_MAX];
};

static int blk_read_record(struct snap_rd *sec, struct blk_record *rec, struct sbx_err *err)
{
	size_t n = 0;
	int r = snap_get_u32(sec, &rec->flags, err);
	if (r >= 0)
		r = snap_get_u64(sec, &rec->capacity, err);
	if (r >= 0)
		r = snap_get_blob_max(sec, rec->path, sizeof(rec->path) - 1, &n, err);
	if (r < 0)
		return r;
	rec->path[n] = '\0';
	if ((rec->flags & ~(BLK_SNAP_RO | BLK_SNAP_EMPTY)) || strlen(rec->path) != n ||
	    ((rec->flags & BLK_SNAP_EMPTY) != 0) != (n == 0))
		return sbx_err_setx(err, EINVAL, "snapshot state is corrupt (virtio-blk record)");
	return 0;
}

bool virtio_blk_slot_is_empty(struct snap_rd sec)
{
	struct blk_record rec;
	return blk_read_record(&sec, &rec, NULL) == 0 && (rec.flags & BLK_SNAP_EMPTY);
}

/* An empty slot keeps the features the guest negotiated: a file put there is read-only. */
static int blk_fill(struct virtio_blk *blk, const char *path, struct sbx_err *err)
{
	int r = blk_open(blk, path, true, err);
	if (r >= 0)
		blk->config_pending = true;
	return r;
}

int virtio_blk_restore(struct vm *vm, uint64_t base, uint32_t irq, struct snap_rd *sec,
		       const char *fill_path, void **out, struct sbx_err *err)
{
	struct blk_record rec;
	struct virtio_blk *blk = NULL;
	int r = blk_read_record(sec, &rec, err);
	if (r < 0)
		return r;
	bool empty = rec.flags & BLK_SNAP_EMPTY;
	r = blk_create(vm, base, irq, empty ? NULL : rec.path, rec.flags & BLK_SNAP_RO, &blk, err);
	if (r < 0)
		return r;
	if (!empty && blk->capacity != rec.capacity)
		r = sbx_err_setx(err, EINVAL, "disk '%s' changed size since the snapshot",
				 rec.path);
	if (r >= 0 && empty && fill_path)
		r = blk_fill(blk, fill_path, err);
	if (r >= 0)
		r = virtio_mmio_restore_transport(&blk->t, sec, err);
	if (r >= 0)
		r = snap_end(sec, err);
	if (r < 0) {
		blk_destroy(blk);
		return r;
	}
	*out = blk;
	return 0;
}
