/*
 * libFuzzer target: virtio-net (microvm/virtio_net.c) behind the real MMIO transport, driven by
 * a hostile guest (tests/fuzz/fuzz_virtio.h) on one side and fuzzed frames from the host on the
 * other. Both directions run: guest tx chains (vnet header + frame) are sent at QueueNotify as
 * on a vCPU, and frames written into the "tap" fill the guest's rx chains; the per-device rate
 * limits are small so frames are held back and the timer path runs; config space is read at
 * fuzzed offsets and lengths.
 *
 * The tap is one end of an AF_UNIX socketpair adopted through `--net fd=N` (a datagram-style
 * socket keeps the frame boundaries a tap has). tap.c is not linked: its tap_adopt() would
 * rightly refuse a socket, so the two tap calls the device makes are replaced below. As in
 * fuzz_virtio_vsock.c the device file is included, so that after each notify the fuzzer runs
 * one round of the I/O thread's work itself under the transport lock (the thread also runs).
 *
 * Input: NET_IN bytes of host side parameters (layout at the NET_* offsets), then the input of
 * fuzz_virtio.h (features, queues, notify order, guest RAM).
 */
#include <fcntl.h>
#include <sys/socket.h>

#include "../../microvm/virtio_net.c"
#include "fuzz_virtio.h"

#define NET_FLAGS 0u	/* u8: NET_FL_* */
#define NET_RATES 1u	/* 4 x le16: rx bytes/16, tx bytes/16, rx packets, tx packets per second */
#define NET_MAC 9u	/* 6 bytes */
#define NET_NFRAMES 15u /* u8: frames the host sends, % (NET_MAX_FRAMES + 1) */
#define NET_FLENS 16u	/* NET_MAX_FRAMES x le16: their lengths (with the vnet header) */
#define NET_CFG 24u	/* NET_CFG_READS x (offset, length) bytes */
#define NET_CFG_READS 2u
#define NET_OPS 28u /* FUZZ_NOTIFIES x u8: the guest's extra move after each notify */
#define NET_IN (NET_OPS + FUZZ_NOTIFIES)
#define NET_MAX_FRAMES 4u

#define NET_FL_EMPTY 1u	     /* `--net none`: an empty slot, no tap */
#define NET_FL_DGRAM 2u	     /* SOCK_DGRAM instead of SOCK_SEQPACKET */
#define NET_FL_NO_DRAIN 4u   /* the host never reads what the guest sends: the tap fills up */
#define NET_FL_INTERLEAVE 8u /* one host frame after each notify instead of all up front */

#define NET_FL_NO_FILL 16u /* a snapshot restore gets no tap (the clone has no --net) */

/* Moves between notifies (low 3 bits of an op byte); bit 3 picks the queue, bits 4.. a size. */
#define OP_NONE 0u
#define OP_RESIZE 1u   /* QueueReady 0, a new QueueNum, QueueReady 1: with buffers still popped */
#define OP_RESET 2u    /* device reset and the whole setup again, with frames in flight */
#define OP_UNREADY 3u  /* QueueReady 0 and leave it so */
#define OP_SNAPSHOT 4u /* save the device mid-flight, destroy it, restore it on a new "tap" */

/* The device's two tap calls, for a socket: non-blocking, and no offload ioctls to make. */
int tap_adopt(int fd, struct sbx_err *err)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return sbx_err_set(err, errno, "fuzz tap: set O_NONBLOCK");
	return 0;
}

int tap_set_offload(int fd, const struct tap_offload *o, struct sbx_err *err)
{
	(void)fd, (void)o, (void)err;
	return 0;
}

int tap_open(const char *name, char *name_out, struct sbx_err *err)
{
	(void)name_out;
	return sbx_err_setx(err, ENODEV, "fuzz tap: no tap '%s' here", name);
}

static struct {
	struct virtio_net *n;
	int host_fd; /* the host network's end of the "tap", -1 with an empty slot */
	const uint8_t *in;
	const uint8_t *ram;
	struct vm *vm;
	const uint8_t *vin;
	unsigned sent, nframes, step;
	bool drain, interleave;
} fz;

static uint16_t fz_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Frame i: its fuzzed length, bytes taken from guest RAM (any content is a valid frame). */
static void host_send(unsigned i)
{
	static uint8_t frame[65536];
	uint32_t len = fz_le16(fz.in + NET_FLENS + 2 * i);
	for (uint32_t k = 0; k < len; k++)
		frame[k] = fz.ram[(i * 4099u + k) % FUZZ_RAM];
	if (send(fz.host_fd, frame, len, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
		abort(); /* a harness fault, not the device's */
}

static void host_drain(void)
{
	static uint8_t frame[NET_FRAME_MAX];
	while (recv(fz.host_fd, frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		;
}

/* A new socketpair: the device's end in o->fd (closed by its destroy), the host's kept here. */
static void new_tap(struct net_opts *o, uint8_t flags)
{
	int sv[2];
	int type = (flags & NET_FL_DGRAM) ? SOCK_DGRAM : SOCK_SEQPACKET;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	o->fd = sv[0];
	fz.host_fd = sv[1];
}

/*
 * A template build and its clone in one process: the state the guest left (popped chains, a
 * held frame, ring indexes) goes through save and restore, and the clone carries on. The fake
 * bus forgets the old window, as a new VMM process starts with none.
 */
static void snapshot_restore(void)
{
	struct snap_w w = {0};
	if (virtio_dev_save(fz.n, &w, NULL) < 0 || w.err)
		abort();
	virtio_dev_destroy(fz.n);
	fz.n = NULL;
	if (fz.host_fd >= 0)
		close(fz.host_fd);
	fz.host_fd = -1;
	fz.vm->mmio.n = 0;
	struct net_opts fill = {.enabled = true, .fd = -1};
	bool filled = !(fz.in[NET_FLAGS] & NET_FL_NO_FILL);
	if (filled)
		new_tap(&fill, fz.in[NET_FLAGS]);
	struct snap_rd r = {.p = w.buf, .len = w.len, .what = "fuzz"}, sec;
	uint32_t id = 0, irq = 0;
	uint64_t base = 0;
	void *dev = NULL;
	struct sbx_err err = {0};
	if (virtio_dev_restore_begin(&r, &sec, &id, &base, &irq, &err) < 0 || id != VIRTIO_ID_NET ||
	    virtio_net_restore(fz.vm, base, irq, &sec, filled ? &fill : NULL, &dev, &err) < 0) {
		fprintf(stderr, "fuzz: restore of a saved virtio-net failed: %s\n", err.msg);
		abort(); /* what the device saved, it must restore */
	}
	snap_w_free(&w);
	fz.n = dev;
	virtio_dev_resume(dev);
}

static void guest_move(uint8_t op)
{
	uint32_t q = (op >> 3) & 1;
	switch (op & 7) {
	case OP_RESIZE:
		fz_w32(fz.vm, FR_QUEUE_SEL, q);
		fz_w32(fz.vm, FR_QUEUE_READY, 0);
		fz_w32(fz.vm, FR_QUEUE_NUM, 1u << ((op >> 4) % 9));
		fz_w32(fz.vm, FR_QUEUE_READY, 1);
		break;
	case OP_RESET:
		fz_drive_setup(fz.vm, fz.vin);
		break;
	case OP_UNREADY:
		fz_w32(fz.vm, FR_QUEUE_SEL, q);
		fz_w32(fz.vm, FR_QUEUE_READY, 0);
		break;
	case OP_SNAPSHOT:
		snapshot_restore();
		break;
	}
}

/* After each notify: the host's and the guest's next moves, then one round of the I/O thread's
 * work. */
static void after_notify(void)
{
	if (fz.step < FUZZ_NOTIFIES)
		guest_move(fz.in[NET_OPS + fz.step++]);
	if (fz.host_fd >= 0 && fz.interleave && fz.sent < fz.nframes)
		host_send(fz.sent++);
	if (fz.host_fd >= 0 && fz.drain)
		host_drain();
	struct virtio_net *n = fz.n;
	pthread_mutex_lock(&n->t.lock);
	if (virtio_mmio_queue(&n->t, NET_QUEUE_RX))
		net_apply_offload(n);
	net_tx(n, false);
	net_rx(n);
	pthread_mutex_unlock(&n->t.lock);
}

/* Config reads at fuzzed offsets (also past config space) and every access width. */
static void config_reads(struct vm *vm)
{
	static const uint32_t widths[] = {1, 2, 4, 8};
	const struct bus_range *r = &vm->mmio.ranges[0];
	for (unsigned i = 0; i < NET_CFG_READS; i++) {
		uint8_t buf[8];
		const uint8_t *p = fz.in + NET_CFG + 2 * i;
		r->ops->read(r->opaque, FR_CONFIG + p[0] % 16, buf, widths[p[1] % 4]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < NET_IN + FUZZ_HDR)
		return 0;
	static struct vm vm;
	const uint8_t *in = data, *vin = data + NET_IN;
	size_t vsize = size - NET_IN;
	uint8_t flags = in[NET_FLAGS];
	struct net_opts o = {.enabled = true, .fd = -1, .mac_set = true};
	o.rx_bps = 16ull * fz_le16(in + NET_RATES);
	o.tx_bps = 16ull * fz_le16(in + NET_RATES + 2);
	o.rx_pps = fz_le16(in + NET_RATES + 4);
	o.tx_pps = fz_le16(in + NET_RATES + 6);
	memcpy(o.mac, in + NET_MAC, 6);
	fz_vm_init(&vm, vin, vsize);
	fz = (__typeof__(fz)){.host_fd = -1,
			      .in = in,
			      .ram = vm.mem.host,
			      .vm = &vm,
			      .vin = vin,
			      .nframes = in[NET_NFRAMES] % (NET_MAX_FRAMES + 1),
			      .drain = !(flags & NET_FL_NO_DRAIN),
			      .interleave = flags & NET_FL_INTERLEAVE};
	if (flags & NET_FL_EMPTY)
		o.empty = true;
	else
		new_tap(&o, flags);
	void *dev = NULL;
	if (virtio_net_create(&vm, FUZZ_BASE, FUZZ_IRQ, &o, &dev, NULL) == 0) {
		fz.n = dev; /* a snapshot move replaces it */
		fz_drive_setup(&vm, vin);
		config_reads(&vm);
		/* Frames sent before the driver is up wait in the socket like in a tap's queue. */
		while (fz.host_fd >= 0 && !fz.interleave && fz.sent < fz.nframes)
			host_send(fz.sent++);
		fz_drive_notifies(&vm, vin, after_notify);
		struct virtio_net_stats st;
		virtio_net_get_stats(fz.n, &st);
		if (getenv("FUZZ_NET_STATS")) /* to check what a seed reaches */
			fprintf(stderr,
				"net: tx %llu frames (%llu dropped), rx %llu frames (%llu dropped, "
				"%llu bad buffers), throttled tx %llu rx %llu\n",
				(unsigned long long)st.tx_frames, (unsigned long long)st.tx_dropped,
				(unsigned long long)st.rx_frames, (unsigned long long)st.rx_dropped,
				(unsigned long long)st.bad_buffers,
				(unsigned long long)fz.n->tx_rl.throttled,
				(unsigned long long)fz.n->rx_rl.throttled);
		virtio_dev_destroy(fz.n);
	} else {
		abort(); /* nothing here can fail: a harness fault */
	}
	if (fz.host_fd >= 0)
		close(fz.host_fd);
	fz_vm_fini(&vm);
	return 0;
}
