/*
 * The virtio-vsock device (microvm/virtio_vsock.c, vsock_conn.c) with a fake guest driver on one
 * side and real unix sockets on the host side: handshakes both ways, data, credit accounting,
 * closing, misuse, and a 10 MiB full-duplex stream checked byte for byte.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../microvm/vsock_conn.h"
#include "virtio_harness.h"

#define MEM_SIZE (32u << 20)
#define RX_RING 0x10000u
#define TX_RING 0x20000u
#define EV_RING 0x30000u
#define RX_BUF_BASE 0x100000u
#define RX_BUF_STRIDE 0x2000u
#define RX_BUF_SIZE (VSOCK_HDR_SIZE + 4096u) /* what Linux posts */
#define TX_BUF_BASE 0x400000u
#define TX_BUF_STRIDE 0x11000u
#define QSIZE 256u
#define RX_POSTED 128u
#define GUEST_CID 3u
#define GUEST_PORT 5000u
#define STREAM_BYTES (10u << 20)

static struct vm vm;
static void *dev;
static struct drvq rxq, txq, evq;
static char dir[] = "/tmp/sbx-vsock-XXXXXX";
static char uds[80];
/* What our fake guest advertises and has consumed. */
static uint32_t g_buf_alloc = 256 * 1024, g_fwd_cnt;

static void rx_post(void)
{
	struct hseg s = {RX_BUF_BASE + (uint64_t)rxq.next_desc * RX_BUF_STRIDE, RX_BUF_SIZE, true};
	drvq_add(&rxq, &s, 1);
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	hvm_init(&vm, MEM_SIZE);
	struct sbx_err err = {0};
	ck_assert_int_eq(virtio_vsock_create(&vm, TEST_BASE, TEST_IRQ, GUEST_CID, uds, &dev, &err),
			 0);
	ck_assert(drv_negotiate(&vm, 0, VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	uint64_t cid = 0;
	mmio_rd(&vm, 0, R_CONFIG, &cid, 8);
	ck_assert_uint_eq(cid, GUEST_CID);
	drvq_setup(&rxq, &vm, 0, 0, QSIZE, RX_RING);
	drvq_setup(&txq, &vm, 0, 1, QSIZE, TX_RING);
	drvq_setup(&evq, &vm, 0, 2, QSIZE, EV_RING);
	for (unsigned i = 0; i < RX_POSTED; i++)
		rx_post();
	drv_ok(&vm, 0);
	drvq_kick(&rxq);
	g_buf_alloc = 256 * 1024;
	g_fwd_cnt = 0;
}

static void teardown(void)
{
	virtio_dev_destroy(dev);
	hvm_fini(&vm);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

static struct vsock_hdr ghdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	return (struct vsock_hdr){.src_cid = GUEST_CID,
				  .dst_cid = VSOCK_HOST_CID,
				  .src_port = src_port,
				  .dst_port = dst_port,
				  .len = len,
				  .type = VSOCK_TYPE_STREAM,
				  .op = op,
				  .buf_alloc = g_buf_alloc,
				  .fwd_cnt = g_fwd_cnt};
}

static void tx_reap(void)
{
	uint32_t id, len;
	while (drvq_used(&txq, &id, &len, 1))
		;
}

/* Header and payload in one descriptor; waits for a free tx slot. */
static void send_raw(const struct vsock_hdr *h, const void *payload, uint32_t len,
		     uint32_t desc_len)
{
	uint64_t t0 = now_ms();
	for (tx_reap(); txq.in_flight >= QSIZE; tx_reap()) {
		ck_assert_uint_lt(now_ms() - t0, 5000);
		usleep(100);
	}
	uint64_t a = TX_BUF_BASE + (uint64_t)txq.next_desc * TX_BUF_STRIDE;
	vsock_hdr_encode(h, gpa(&vm, a));
	if (len)
		memcpy(gpa(&vm, a + VSOCK_HDR_SIZE), payload, len);
	struct hseg s = {a, desc_len, false};
	drvq_add(&txq, &s, 1);
	drvq_kick(&txq);
}

static void send_pkt(struct vsock_hdr h, const void *payload)
{
	send_raw(&h, payload, h.len, VSOCK_HDR_SIZE + h.len);
}

/* Next packet for the guest within timeout_ms; the buffer is re-posted. */
static bool recv_pkt(struct vsock_hdr *h, uint8_t *payload, int timeout_ms)
{
	uint64_t t0 = now_ms();
	uint32_t id, len;
	while (!drvq_used(&rxq, &id, &len, 1)) {
		if (now_ms() - t0 >= (uint64_t)timeout_ms)
			return false;
		usleep(100);
	}
	ck_assert_uint_ge(len, VSOCK_HDR_SIZE);
	uint8_t *b = gpa(&vm, RX_BUF_BASE + (uint64_t)id * RX_BUF_STRIDE);
	vsock_hdr_decode(h, b);
	ck_assert_uint_eq(len, VSOCK_HDR_SIZE + h->len);
	ck_assert_uint_eq(h->src_cid, VSOCK_HOST_CID);
	ck_assert_uint_eq(h->dst_cid, GUEST_CID);
	ck_assert_uint_eq(h->type, VSOCK_TYPE_STREAM);
	if (payload)
		memcpy(payload, b + VSOCK_HDR_SIZE, h->len);
	rx_post();
	drvq_kick(&rxq);
	return true;
}

static void expect_op(uint16_t op, struct vsock_hdr *h, uint8_t *payload)
{
	ck_assert_msg(recv_pkt(h, payload, 2000), "no packet, wanted op %u", op);
	ck_assert_uint_eq(h->op, op);
}

static int host_listen(uint32_t port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static void host_read_exact(int fd, void *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (size_t got = 0; got < n;) {
		ck_assert_int_eq(poll(&p, 1, 2000), 1);
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
}

static void host_expect_eof(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	char c;
	ck_assert_int_eq(read(fd, &c, 1), 0);
}

/* Guest connects to host port 1024; returns the accepted host socket. */
static int guest_connect(int lfd)
{
	struct vsock_hdr h;
	send_pkt(ghdr(VSOCK_OP_REQUEST, GUEST_PORT, 1024, 0), NULL);
	expect_op(VSOCK_OP_RESPONSE, &h, NULL);
	ck_assert_uint_eq(h.src_port, 1024);
	ck_assert_uint_eq(h.dst_port, GUEST_PORT);
	ck_assert_uint_eq(h.buf_alloc, VSOCK_BUF_ALLOC);
	int fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(guest_initiated)
{
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd);
	send_pkt(ghdr(VSOCK_OP_RW, GUEST_PORT, 1024, 5), "hello");
	char buf[4200];
	host_read_exact(fd, buf, 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	ck_assert_int_eq(write(fd, "world!", 6), 6);
	struct vsock_hdr h;
	expect_op(VSOCK_OP_RW, &h, (uint8_t *)buf);
	ck_assert_uint_eq(h.len, 6);
	ck_assert(memcmp(buf, "world!", 6) == 0);
	ck_assert_uint_eq(h.fwd_cnt, 5); /* the 5 bytes we wrote to the host socket */
	ck_assert_uint_eq(h.src_port, 1024);
	/* close() in the guest: SHUTDOWN both ways -> the host sees EOF, the guest gets RST */
	send_pkt(ghdr(VSOCK_OP_SHUTDOWN, GUEST_PORT, 1024, 0), NULL);
	struct vsock_hdr sh = ghdr(VSOCK_OP_SHUTDOWN, GUEST_PORT, 1024, 0);
	sh.flags = VSOCK_SHUTDOWN_BOTH;
	send_pkt(sh, NULL);
	host_expect_eof(fd);
	expect_op(VSOCK_OP_RST, &h, NULL);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(guest_connect_refused)
{
	struct vsock_hdr h;
	send_pkt(ghdr(VSOCK_OP_REQUEST, GUEST_PORT, 4444, 0), NULL);
	expect_op(VSOCK_OP_RST, &h, NULL);
	ck_assert_uint_eq(h.src_port, 4444);
	ck_assert_uint_eq(h.dst_port, GUEST_PORT);
	/* data for a connection that does not exist: RST; an RST for one: silence */
	send_pkt(ghdr(VSOCK_OP_RW, GUEST_PORT, 4444, 3), "abc");
	expect_op(VSOCK_OP_RST, &h, NULL);
	send_pkt(ghdr(VSOCK_OP_RST, GUEST_PORT, 4444, 0), NULL);
	ck_assert(!recv_pkt(&h, NULL, 200));
}
END_TEST

static int host_dial(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(host_initiated)
{
	int fd = host_dial();
	ck_assert_int_eq(write(fd, "CONNECT 52\n", 11), 11);
	struct vsock_hdr h;
	uint8_t buf[4200];
	expect_op(VSOCK_OP_REQUEST, &h, NULL);
	ck_assert_uint_eq(h.dst_port, 52);
	uint32_t local = h.src_port;
	ck_assert_uint_ge(local, 1u << 30);
	send_pkt(ghdr(VSOCK_OP_RESPONSE, 52, local, 0), NULL);
	char ok[32] = {0}, want[32];
	int n = snprintf(want, sizeof(want), "OK %u\n", local);
	host_read_exact(fd, ok, (size_t)n);
	ck_assert_str_eq(ok, want);
	ck_assert_int_eq(write(fd, "ping", 4), 4);
	expect_op(VSOCK_OP_RW, &h, buf);
	ck_assert_uint_eq(h.len, 4);
	ck_assert(memcmp(buf, "ping", 4) == 0);
	send_pkt(ghdr(VSOCK_OP_RW, 52, local, 4), "pong");
	host_read_exact(fd, buf, 4);
	ck_assert(memcmp(buf, "pong", 4) == 0);
	/* The host closes: the guest is told nobody will send or receive any more. */
	close(fd);
	expect_op(VSOCK_OP_SHUTDOWN, &h, NULL);
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_BOTH);
	send_pkt(ghdr(VSOCK_OP_RST, 52, local, 0), NULL);
	ck_assert(!recv_pkt(&h, NULL, 200));
}
END_TEST

START_TEST(host_initiated_refused_and_bad_line)
{
	int fd = host_dial();
	ck_assert_int_eq(write(fd, "CONNECT 53\n", 11), 11);
	struct vsock_hdr h;
	expect_op(VSOCK_OP_REQUEST, &h, NULL);
	send_pkt(ghdr(VSOCK_OP_RST, 53, h.src_port, 0), NULL);
	host_expect_eof(fd);
	close(fd);
	fd = host_dial();
	ck_assert_int_eq(write(fd, "HELLO 1\n", 8), 8);
	host_expect_eof(fd);
	close(fd);
	fd = host_dial();
	ck_assert_int_eq(write(fd, "CONNECT 99999999999\n", 20), 20);
	host_expect_eof(fd);
	close(fd);
	ck_assert(!recv_pkt(&h, NULL, 200));
}
END_TEST

START_TEST(guest_half_close)
{
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd);
	struct vsock_hdr sh = ghdr(VSOCK_OP_SHUTDOWN, GUEST_PORT, 1024, 0);
	sh.flags = VSOCK_SHUTDOWN_SEND;
	send_pkt(sh, NULL);
	host_expect_eof(fd); /* the host reader sees EOF but may still answer */
	ck_assert_int_eq(write(fd, "bye", 3), 3);
	struct vsock_hdr h;
	uint8_t buf[4200];
	expect_op(VSOCK_OP_RW, &h, buf);
	ck_assert(memcmp(buf, "bye", 3) == 0);
	shutdown(fd, SHUT_WR);
	expect_op(VSOCK_OP_RST, &h, NULL); /* both directions finished */
	close(fd);
	close(lfd);
}
END_TEST

/* The device never sends more than the guest's buf_alloc minus what is in flight. */
START_TEST(credit_toward_guest)
{
	int lfd = host_listen(1024);
	g_buf_alloc = 4096;
	int fd = guest_connect(lfd);
	static uint8_t data[10000], got[10000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (int)sizeof(data));
	uint32_t total = 0;
	struct vsock_hdr h;
	for (uint32_t allowed = 4096; total < sizeof(data); allowed += 4096) {
		while (recv_pkt(&h, got + total, 300)) {
			ck_assert_uint_eq(h.op, VSOCK_OP_RW);
			total += h.len;
		}
		ck_assert_uint_eq(total, allowed < sizeof(data) ? allowed : sizeof(data));
		g_fwd_cnt = total; /* the guest application read everything */
		send_pkt(ghdr(VSOCK_OP_CREDIT_UPDATE, GUEST_PORT, 1024, 0), NULL);
	}
	ck_assert(memcmp(data, got, sizeof(data)) == 0);
	close(fd);
	close(lfd);
}
END_TEST

/* A guest that ignores our buf_alloc gets RST instead of unbounded buffering. */
START_TEST(credit_violation_resets)
{
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd); /* the host never reads */
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	struct vsock_hdr h;
	bool reset = false;
	for (int i = 0; i < 40 && !reset; i++) {
		send_pkt(ghdr(VSOCK_OP_RW, GUEST_PORT, 1024, sizeof(chunk)), chunk);
		while (recv_pkt(&h, NULL, 20))
			reset |= h.op == VSOCK_OP_RST;
	}
	ck_assert(reset);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(malformed_packets)
{
	struct vsock_hdr h;
	struct vsock_hdr bad = ghdr(VSOCK_OP_REQUEST, GUEST_PORT, 1024, 0);
	bad.src_cid = 7; /* spoofed source: dropped silently */
	send_pkt(bad, NULL);
	bad = ghdr(VSOCK_OP_REQUEST, GUEST_PORT, 1024, 0);
	bad.dst_cid = 9;
	send_pkt(bad, NULL);
	ck_assert(!recv_pkt(&h, NULL, 200));
	bad = ghdr(VSOCK_OP_REQUEST, GUEST_PORT, 1024, 0);
	bad.type = 2; /* SEQPACKET: not offered */
	send_pkt(bad, NULL);
	expect_op(VSOCK_OP_RST, &h, NULL);
	bad = ghdr(VSOCK_OP_RW, GUEST_PORT, 1024, 1000); /* len beyond the buffer */
	send_raw(&bad, "x", 1, VSOCK_HDR_SIZE + 1);
	expect_op(VSOCK_OP_RST, &h, NULL);
	send_raw(&bad, NULL, 0, 20); /* header cut short: dropped */
	ck_assert(!recv_pkt(&h, NULL, 200));
	/* still works */
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(reset_drops_connections)
{
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd);
	mmio_w32(&vm, 0, R_STATUS, 0);
	host_expect_eof(fd);
	close(fd);
	close(lfd);
}
END_TEST

/* ---- 10 MiB each way at once ---- */

static uint8_t pat_a(uint32_t i) /* host -> guest */
{
	return (uint8_t)(i * 131u + (i >> 12));
}

static uint8_t pat_b(uint32_t i) /* guest -> host */
{
	return (uint8_t)(i * 97u + (i >> 9) + 1);
}

static void *host_writer(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[65536];
	for (uint32_t off = 0; off < STREAM_BYTES;) {
		uint32_t n = STREAM_BYTES - off < sizeof(buf) ? STREAM_BYTES - off : sizeof(buf);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = pat_a(off + i);
		for (uint32_t done = 0; done < n;) {
			ssize_t r = write(fd, buf + done, n - done);
			if (r <= 0)
				return (void *)1;
			done += (uint32_t)r;
		}
		off += n;
	}
	return NULL;
}

static void *host_reader(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[65536];
	uint32_t off = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat_b(off + (uint32_t)i))
				return (void *)2;
		off += (uint32_t)r;
	}
	return off == STREAM_BYTES ? NULL : (void *)3;
}

START_TEST(stream_10mib_both_ways)
{
	int lfd = host_listen(1024);
	int fd = guest_connect(lfd);
	pthread_t w, r;
	pthread_create(&w, NULL, host_writer, &fd);
	pthread_create(&r, NULL, host_reader, &fd);
	static uint8_t out[4096], in[4200];
	uint32_t sent = 0, peer_alloc = VSOCK_BUF_ALLOC, peer_fwd = 0, credit_sent = 0;
	uint64_t t0 = now_ms();
	while (sent < STREAM_BYTES || g_fwd_cnt < STREAM_BYTES) {
		ck_assert_msg(now_ms() - t0 < 90000, "stalled: sent %u received %u", sent,
			      g_fwd_cnt);
		uint32_t credit = peer_alloc - (sent - peer_fwd);
		if (sent < STREAM_BYTES && credit > 0 && txq.in_flight < QSIZE) {
			uint32_t n =
			    STREAM_BYTES - sent < sizeof(out) ? STREAM_BYTES - sent : sizeof(out);
			n = n < credit ? n : credit;
			for (uint32_t i = 0; i < n; i++)
				out[i] = pat_b(sent + i);
			send_pkt(ghdr(VSOCK_OP_RW, GUEST_PORT, 1024, n), out);
			sent += n;
		}
		struct vsock_hdr h;
		while (recv_pkt(&h, in, 0)) {
			ck_assert(sent - h.fwd_cnt <=
				  VSOCK_BUF_ALLOC); /* fwd_cnt never runs ahead */
			peer_alloc = h.buf_alloc;
			peer_fwd = h.fwd_cnt;
			if (h.op == VSOCK_OP_CREDIT_UPDATE)
				continue;
			ck_assert_uint_eq(h.op, VSOCK_OP_RW);
			ck_assert_uint_le(g_fwd_cnt + h.len, STREAM_BYTES);
			for (uint32_t i = 0; i < h.len; i++)
				ck_assert_uint_eq(in[i], pat_a(g_fwd_cnt + i));
			g_fwd_cnt += h.len;
		}
		if (g_fwd_cnt - credit_sent >= g_buf_alloc / 4 ||
		    (g_fwd_cnt == STREAM_BYTES && credit_sent != g_fwd_cnt)) {
			send_pkt(ghdr(VSOCK_OP_CREDIT_UPDATE, GUEST_PORT, 1024, 0), NULL);
			credit_sent = g_fwd_cnt;
		}
		tx_reap();
	}
	struct vsock_hdr sh = ghdr(VSOCK_OP_SHUTDOWN, GUEST_PORT, 1024, 0);
	sh.flags = VSOCK_SHUTDOWN_BOTH;
	send_pkt(sh, NULL);
	void *wr, *rr;
	pthread_join(w, &wr);
	pthread_join(r, &rr);
	ck_assert_ptr_null(wr);
	ck_assert_ptr_null(rr);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(create_rejects)
{
	struct vm v;
	hvm_init(&v, 1 << 20);
	struct sbx_err err = {0};
	void *d = NULL;
	ck_assert_int_eq(virtio_vsock_create(&v, TEST_BASE, TEST_IRQ, 2, "/tmp/x", &d, &err),
			 -EINVAL);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	ck_assert_int_eq(virtio_vsock_create(&v, TEST_BASE, TEST_IRQ, 3, longp, &d, &err),
			 -ENAMETOOLONG);
	ck_assert_int_eq(
	    virtio_vsock_create(&v, TEST_BASE, TEST_IRQ, 3, "/nonexistent/dir/v.sock", &d, &err),
	    -ENOENT);
	ck_assert_uint_eq(v.mmio.n, 0);
	hvm_fini(&v);
}
END_TEST

static Suite *vsock_suite(void)
{
	Suite *s = suite_create("virtio_vsock");
	TCase *c = tcase_create("device");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 120);
	tcase_add_test(c, guest_initiated);
	tcase_add_test(c, guest_connect_refused);
	tcase_add_test(c, host_initiated);
	tcase_add_test(c, host_initiated_refused_and_bad_line);
	tcase_add_test(c, guest_half_close);
	tcase_add_test(c, credit_toward_guest);
	tcase_add_test(c, credit_violation_resets);
	tcase_add_test(c, malformed_packets);
	tcase_add_test(c, reset_drops_connections);
	tcase_add_test(c, stream_10mib_both_ways);
	suite_add_tcase(s, c);
	TCase *e = tcase_create("errors");
	tcase_add_test(e, create_rejects);
	suite_add_tcase(s, e);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vsock_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
