/*
 * The virtio-net device (microvm/virtio_net.c) with a fake guest driver on one side and a real
 * tap on the other: the test creates the tap, and a packet socket bound to it plays the host
 * network (what it sends, the device must deliver to the guest; what the guest sends, it must
 * see). Frames carry a private ethertype so the host's own traffic on the tap is ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../microvm/tap.h"
#include "../../microvm/virtio_net.h"
#include "virtio_harness.h"

#define MEM_SIZE (16u << 20)
#define RX_RING 0x10000u
#define TX_RING 0x20000u
#define RX_BUF_BASE 0x100000u
#define RX_BUF_SIZE 1536u /* what Linux's mergeable rx posts for a 1500-byte MTU, roughly */
#define TX_BUF_BASE 0x400000u
#define QSIZE 256u
#define RX_POSTED 64u
#define ETH_P_TEST 0x88b5 /* IEEE 802 local experimental ethertype */
#define HDR TAP_VNET_HDR_LEN

#define F_MAC (1ull << 5)
#define F_MRG_RXBUF (1ull << 15)
#define F_STATUS (1ull << 16)
#define F_CSUM (1ull << 0)

static struct vm vm;
static void *dev;
static struct drvq rxq, txq;
static char ifname[IFNAMSIZ];
static int pkt_fd = -1;
static const uint8_t guest_mac[6] = {0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc};
static unsigned rx_buf_next;

/* Up, with room for 4000-byte frames and without the host's IPv6 chatter. */
static void if_up(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = 9000;
	ck_assert_int_eq(ioctl(s, SIOCSIFMTU, &ifr), 0);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int packet_socket(const char *name)
{
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_TEST));
	ck_assert_int_ge(s, 0);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_TEST),
				  .sll_ifindex = (int)if_nametoindex(name)};
	ck_assert_int_ne(sll.sll_ifindex, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static void rx_post(uint32_t len)
{
	struct hseg s = {RX_BUF_BASE + (uint64_t)(rx_buf_next++ % QSIZE) * 0x1000, len, true};
	drvq_add(&rxq, &s, 1);
}

static void start_device(const struct net_opts *o, uint64_t features, uint32_t rx_len)
{
	struct sbx_err err = {0};
	ck_assert_msg(virtio_net_create(&vm, TEST_BASE, TEST_IRQ, o, &dev, &err) == 0, "%s",
		      err.msg);
	ck_assert(drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1 | features) & VIRTIO_STATUS_FEATURES_OK);
	drvq_setup(&rxq, &vm, 0, 0, QSIZE, RX_RING);
	drvq_setup(&txq, &vm, 0, 1, QSIZE, TX_RING);
	rx_buf_next = 0;
	for (unsigned i = 0; i < RX_POSTED; i++)
		rx_post(rx_len);
	drv_ok(&vm, 0);
	drvq_kick(&rxq);
}

static void setup(void)
{
	hvm_init(&vm, MEM_SIZE);
	snprintf(ifname, sizeof(ifname), "sbxut%d", (int)getpid() % 100000);
	struct net_opts o = {.enabled = true, .fd = -1, .mac_set = true};
	memcpy(o.mac, guest_mac, 6);
	snprintf(o.tap, sizeof(o.tap), "%s", ifname);
	start_device(&o, F_MAC | F_STATUS | F_MRG_RXBUF | F_CSUM, RX_BUF_SIZE);
	if_up(ifname);
	pkt_fd = packet_socket(ifname);
}

static void teardown(void)
{
	if (pkt_fd >= 0)
		close(pkt_fd);
	pkt_fd = -1;
	virtio_dev_destroy(dev); /* closes the tap: the kernel removes the interface */
	hvm_fini(&vm);
	ck_assert_uint_eq(if_nametoindex(ifname), 0);
}

/* An Ethernet frame of `len` bytes (header included) with a recognisable payload. */
static void make_frame(uint8_t *f, size_t len, const uint8_t dst[6], uint8_t seed)
{
	static const uint8_t src[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

/* Guest transmit: header + frame in `nseg` descriptors. */
static void guest_send(const uint8_t *frame, size_t len, unsigned nseg)
{
	uint8_t *buf = gpa(&vm, TX_BUF_BASE);
	memset(buf, 0, HDR);
	memcpy(buf + HDR, frame, len);
	struct hseg s[4];
	size_t total = HDR + len, per = total / nseg;
	for (unsigned i = 0; i < nseg; i++)
		s[i] = (struct hseg){TX_BUF_BASE + i * per,
				     (uint32_t)(i + 1 == nseg ? total - i * per : per), false};
	drvq_add(&txq, s, nseg);
	drvq_kick(&txq);
}

static bool wait_used(struct drvq *q, uint32_t *id, uint32_t *len, unsigned ndesc, int ms)
{
	uint64_t t0 = now_ms();
	while (!drvq_used(q, id, len, ndesc)) {
		if (now_ms() - t0 > (uint64_t)ms)
			return false;
		usleep(200);
	}
	return true;
}

/* Next rx buffer holding one of our frames (others the host sent are re-posted). */
static uint8_t *guest_recv_one(uint32_t *len, int ms)
{
	uint32_t id;
	for (;;) {
		if (!wait_used(&rxq, &id, len, 1, ms))
			return NULL;
		uint8_t *b = gpa(&vm, RX_BUF_BASE + (uint64_t)id * 0x1000);
		if (*len >= HDR + 14 && b[HDR + 12] == (ETH_P_TEST >> 8) &&
		    b[HDR + 13] == (ETH_P_TEST & 0xff))
			return b;
		if (*len != 0) {
			rx_post(RX_BUF_SIZE);
			drvq_kick(&rxq);
		}
	}
}

static ssize_t host_recv(uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = pkt_fd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(pkt_fd, buf, cap, 0);
}

START_TEST(config_has_mac_and_link_up)
{
	uint8_t cfg[8];
	mmio_rd(&vm, 0, R_CONFIG, cfg, 8);
	ck_assert_mem_eq(cfg, guest_mac, 6);
	ck_assert_uint_eq(cfg[6] | cfg[7] << 8, 1); /* VIRTIO_NET_S_LINK_UP */
	ck_assert_uint_eq(mmio_r32(&vm, 0, R_DEVICE_ID), VIRTIO_ID_NET);
	mmio_w32(&vm, 0, R_DEV_FEATURES_SEL, 0);
	uint32_t f = mmio_r32(&vm, 0, R_DEV_FEATURES);
	ck_assert(f & F_MRG_RXBUF);
	ck_assert(f & F_MAC);
}
END_TEST

START_TEST(guest_to_host)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	for (unsigned nseg = 1; nseg <= 3; nseg++) {
		uint8_t frame[1000], got[2000];
		make_frame(frame, sizeof(frame), bcast, (uint8_t)nseg);
		guest_send(frame, sizeof(frame), nseg);
		uint32_t id, len;
		ck_assert(wait_used(&txq, &id, &len, nseg, 2000));
		ssize_t n = host_recv(got, sizeof(got), 2000);
		ck_assert_int_eq(n, sizeof(frame));
		ck_assert_mem_eq(got, frame, sizeof(frame));
	}
	struct virtio_net_stats st;
	virtio_net_get_stats(dev, &st);
	ck_assert_uint_eq(st.tx_frames, 3);
}
END_TEST

/* A 4000-byte frame spans three 1536-byte mergeable buffers; num_buffers says so. */
START_TEST(host_to_guest_mergeable)
{
	uint8_t frame[4000], got[5000];
	make_frame(frame, sizeof(frame), guest_mac, 9);
	ck_assert_int_eq(send(pkt_fd, frame, sizeof(frame), 0), sizeof(frame));
	uint32_t id, len;
	size_t have = 0;
	uint16_t nbuf = 0;
	for (unsigned i = 0; i == 0 || i < nbuf; i++) {
		uint8_t *b = i == 0 ? guest_recv_one(&len, 2000) : NULL;
		if (i > 0) {
			ck_assert_msg(wait_used(&rxq, &id, &len, 1, 2000), "buffer %u missing", i);
			b = gpa(&vm, RX_BUF_BASE + (uint64_t)id * 0x1000);
		}
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_le(len, RX_BUF_SIZE);
		if (i == 0) {
			memcpy(&nbuf, b + 10, 2);
			ck_assert_uint_ge(len, HDR);
		}
		memcpy(got + have, b, len);
		have += len;
	}
	ck_assert_uint_eq(nbuf, 3);
	ck_assert_uint_eq(have, HDR + sizeof(frame));
	ck_assert_mem_eq(got + HDR, frame, sizeof(frame));
}
END_TEST

/* A guest that runs out of rx buffers gets the frame once it posts more. */
START_TEST(host_to_guest_waits_for_buffers)
{
	uint32_t id, len;
	uint8_t frame[200];
	/* Use up the posted buffers with small frames (and whatever else the host sent). */
	unsigned posted = RX_POSTED;
	while (rxq.in_flight > 0) {
		make_frame(frame, sizeof(frame), guest_mac, 1);
		ck_assert_int_eq(send(pkt_fd, frame, sizeof(frame), 0), sizeof(frame));
		while (drvq_used(&rxq, &id, &len, 1))
			ck_assert_uint_le(--posted, RX_POSTED);
		usleep(1000);
	}
	usleep(50000);
	while (drvq_used(&rxq, &id, &len, 1))
		;
	make_frame(frame, sizeof(frame), guest_mac, 77);
	ck_assert_int_eq(send(pkt_fd, frame, sizeof(frame), 0), sizeof(frame));
	ck_assert(!wait_used(&rxq, &id, &len, 1, 200));
	for (unsigned i = 0; i < 8; i++)
		rx_post(RX_BUF_SIZE);
	drvq_kick(&rxq);
	uint8_t *b = NULL;
	do /* frames queued on the tap meanwhile come first; ours arrives */
		b = guest_recv_one(&len, 2000);
	while (b && b[HDR + 14] != frame[14]);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(len, HDR + sizeof(frame));
	ck_assert_mem_eq(b + HDR, frame, sizeof(frame));
}
END_TEST

START_TEST(malformed_tx_chains_dropped)
{
	uint32_t id, len;
	/* Shorter than the header. */
	struct hseg s = {TX_BUF_BASE, 4, false};
	drvq_add(&txq, &s, 1);
	drvq_kick(&txq);
	ck_assert(wait_used(&txq, &id, &len, 1, 2000));
	ck_assert_uint_eq(len, 0);
	/* Only device-writable buffers: nothing to send. */
	s = (struct hseg){TX_BUF_BASE, 100, true};
	drvq_add(&txq, &s, 1);
	drvq_kick(&txq);
	ck_assert(wait_used(&txq, &id, &len, 1, 2000));
	/* Outside guest RAM: the walker refuses the chain. */
	s = (struct hseg){MEM_SIZE - 16, 64, false};
	drvq_add(&txq, &s, 1);
	drvq_kick(&txq);
	ck_assert(wait_used(&txq, &id, &len, 1, 2000));
	ck_assert_uint_eq(len, 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(dev, &st);
	ck_assert_uint_eq(st.tx_frames, 0);
	ck_assert_uint_ge(st.tx_dropped, 2);
	ck_assert_uint_ge(hvm_transport(&vm, 0)->vqs[1].bad_chains, 1);
	/* The device still works. */
	uint8_t frame[100], got[200];
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	make_frame(frame, sizeof(frame), bcast, 1);
	guest_send(frame, sizeof(frame), 1);
	ck_assert_int_eq(host_recv(got, sizeof(got), 2000), sizeof(frame));
}
END_TEST

/* A fresh device (the bus cannot forget the old one) with options `o` on the test's tap. */
static void restart_device(struct net_opts *o, uint64_t features)
{
	virtio_dev_destroy(dev);
	close(pkt_fd);
	hvm_fini(&vm);
	hvm_init(&vm, MEM_SIZE);
	memcpy(o->mac, guest_mac, 6);
	snprintf(o->tap, sizeof(o->tap), "%s", ifname);
	start_device(o, features, RX_BUF_SIZE);
	if_up(ifname);
	pkt_fd = packet_socket(ifname);
}

static bool pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

/*
 * tx is served on the thread that writes QueueNotify (the vCPU's, in the VMM): the frame is on
 * the tap and its buffer used, with the interrupt raised, before the notify write returns. The
 * device's I/O thread runs on another CPU than the "vCPU", so work handed to it would show up
 * late rather than being run at once by a wakeup preemption.
 */
START_TEST(tx_sent_during_notify)
{
	if (!pin_to_cpu(1))
		return; /* a one-CPU host: nothing to tell apart */
	struct net_opts o = {.enabled = true, .fd = -1, .mac_set = true};
	restart_device(&o, F_MAC | F_STATUS | F_MRG_RXBUF);
	ck_assert(pin_to_cpu(0)); /* the I/O thread stays on CPU 1 */
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t frame[300], got[400];
	uint32_t id, len;
	for (unsigned i = 0; i < 5; i++) {
		make_frame(frame, sizeof(frame), bcast, (uint8_t)i);
		unsigned irqs = __atomic_load_n(&irq_pulses, __ATOMIC_RELAXED);
		guest_send(frame, sizeof(frame), 1);
		ck_assert_msg(drvq_used(&txq, &id, &len, 1), "frame %u not used during its notify",
			      i);
		ck_assert_uint_gt(__atomic_load_n(&irq_pulses, __ATOMIC_RELAXED), irqs);
		ck_assert_int_eq(host_recv(got, sizeof(got), 2000), sizeof(frame));
		ck_assert_mem_eq(got, frame, sizeof(frame));
	}
}
END_TEST

/* A frame over the tx rate is not sent on the notifying thread: the I/O thread's timer sends it. */
START_TEST(tx_over_rate_sent_later)
{
	struct net_opts o = {.enabled = true, .fd = -1, .mac_set = true, .tx_pps = 2};
	restart_device(&o, F_MAC | F_MRG_RXBUF);
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t frame[200], got[300];
	uint32_t id, len;
	/* The bucket holds one second of rate: two frames pass at once, the third waits ~0.5 s. */
	for (unsigned i = 0; i < 3; i++) {
		make_frame(frame, sizeof(frame), bcast, (uint8_t)i);
		uint64_t t0 = now_ms();
		guest_send(frame, sizeof(frame), 1);
		bool at_once = drvq_used(&txq, &id, &len, 1);
		ck_assert_msg(at_once == (i < 2), "frame %u: used during notify: %d", i, at_once);
		if (!at_once)
			ck_assert(wait_used(&txq, &id, &len, 1, 3000));
		ck_assert_int_eq(host_recv(got, sizeof(got), 3000), sizeof(frame));
		ck_assert_mem_eq(got, frame, sizeof(frame));
		if (i == 2)
			ck_assert_uint_ge(now_ms() - t0, 200);
	}
}
END_TEST

START_TEST(tiny_rx_buffers_rejected)
{
	/* Replace the posted buffers' view: a fresh device whose rx buffers are 8 bytes. */
	virtio_dev_destroy(dev);
	close(pkt_fd);
	hvm_fini(&vm);
	hvm_init(&vm, MEM_SIZE); /* the bus cannot forget the old device */
	struct net_opts o = {.enabled = true, .fd = -1, .mac_set = true};
	memcpy(o.mac, guest_mac, 6);
	snprintf(o.tap, sizeof(o.tap), "%s", ifname);
	start_device(&o, F_MRG_RXBUF, 8);
	if_up(ifname);
	pkt_fd = packet_socket(ifname);
	uint8_t frame[100];
	make_frame(frame, sizeof(frame), guest_mac, 3);
	ck_assert_int_eq(send(pkt_fd, frame, sizeof(frame), 0), sizeof(frame));
	uint32_t id, len;
	ck_assert(wait_used(&rxq, &id, &len, 1, 2000));
	ck_assert_uint_eq(len, 0);
	struct virtio_net_stats st;
	virtio_net_get_stats(dev, &st);
	ck_assert_uint_ge(st.bad_buffers, 1);
}
END_TEST

/* --net none: link down, transmitted frames are consumed and dropped. */
START_TEST(empty_slot)
{
	hvm_init(&vm, MEM_SIZE);
	struct net_opts o = {.enabled = true, .empty = true, .fd = -1};
	net_random_mac(o.mac);
	start_device(&o, F_STATUS, RX_BUF_SIZE);
	uint8_t cfg[8];
	mmio_rd(&vm, 0, R_CONFIG, cfg, 8);
	ck_assert_uint_eq(cfg[6] | cfg[7] << 8, 0);
	ck_assert_uint_eq(cfg[0] & 3, 2); /* random MAC: unicast, locally administered */
	uint8_t frame[64];
	make_frame(frame, sizeof(frame), guest_mac, 0);
	guest_send(frame, sizeof(frame), 1);
	uint32_t id, len;
	ck_assert(wait_used(&txq, &id, &len, 1, 2000));
	virtio_dev_destroy(dev);
	hvm_fini(&vm);
}
END_TEST

START_TEST(opts_parse)
{
	struct net_opts o = {0};
	struct sbx_err err = {0};
	ck_assert_int_eq(
	    net_opts_parse("fd=7,mac=02:aa:bb:cc:dd:ee,rx-bps=1000,tx-pps=5", &o, &err), 0);
	ck_assert_int_eq(o.fd, 7);
	ck_assert(o.mac_set);
	ck_assert_uint_eq(o.mac[5], 0xee);
	ck_assert_uint_eq(o.rx_bps, 1000);
	ck_assert_uint_eq(o.tx_pps, 5);
	const char *bad[] = {"",
			     "tap=",
			     "fd=x",
			     "tap=a,mac=01:00:00:00:00:00",
			     "none,rx-bps=-1",
			     "tap=waytoolongname17",
			     "tap=a,speed=1",
			     "tap=a,mac=zz",
			     "bogus"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = (struct net_opts){0};
		ck_assert_msg(net_opts_parse(bad[i], &o, &err) < 0, "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "--net"));
	}
	/* An fd that is not a tap is refused before the VM starts. */
	struct net_opts f = {.enabled = true, .fd = STDERR_FILENO};
	void *d = NULL;
	hvm_init(&vm, MEM_SIZE);
	ck_assert_int_lt(virtio_net_create(&vm, TEST_BASE, TEST_IRQ, &f, &d, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "tap"));
	hvm_fini(&vm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *c = tcase_create("tap");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, config_has_mac_and_link_up);
	tcase_add_test(c, guest_to_host);
	tcase_add_test(c, host_to_guest_mergeable);
	tcase_add_test(c, host_to_guest_waits_for_buffers);
	tcase_add_test(c, malformed_tx_chains_dropped);
	tcase_add_test(c, tiny_rx_buffers_rejected);
	tcase_add_test(c, tx_sent_during_notify);
	tcase_add_test(c, tx_over_rate_sent_later);
	suite_add_tcase(s, c);
	TCase *e = tcase_create("no tap");
	tcase_add_test(e, empty_slot);
	tcase_add_test(e, opts_parse);
	suite_add_tcase(s, e);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
