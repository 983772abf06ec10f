/*
 * vhost-user front end against a scripted back end on a socketpair: the replies a test expects
 * are written to the peer end before the call (the socket buffers them), and what the front
 * end sent is read back and checked afterwards. Covers the message layouts, fd passing, the
 * REPLY_ACK flow, and every way a hostile reply is refused.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../microvm/vhost_user.h"
#include "../../microvm/virtio_fs.h"
#include "../../microvm/virtio_mmio.h"

struct peer {
	struct vhost_user vu;
	int be; /* the back end's end */
};

static void peer_open(struct peer *p)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	vhost_user_init_fd(&p->vu, sv[0]);
	p->be = sv[1];
}

static void peer_close(struct peer *p)
{
	vhost_user_close(&p->vu);
	close(p->be);
}

/* Queues a reply: header with the given fields, then `size` bytes of payload. */
static void reply_raw(struct peer *p, uint32_t req, uint32_t flags, uint32_t size,
		      const void *payload, size_t payload_len)
{
	uint32_t hdr[3] = {req, flags, size};
	ck_assert_int_eq(write(p->be, hdr, sizeof(hdr)), sizeof(hdr));
	if (payload_len)
		ck_assert_int_eq(write(p->be, payload, payload_len), (ssize_t)payload_len);
}

static void reply_u64(struct peer *p, uint32_t req, uint64_t v)
{
	reply_raw(p, req, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, 8, &v, 8);
}

/* Reads one message the front end sent, with its fds (up to 8). */
static void take(struct peer *p, struct vhost_user_msg *m, int *fds, int *nfds)
{
	memset(m, 0, sizeof(*m));
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = VHOST_USER_HDR_SIZE};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ck_assert_int_eq(recvmsg(p->be, &mh, MSG_CMSG_CLOEXEC), VHOST_USER_HDR_SIZE);
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
		n += (int)k;
	}
	if (nfds)
		*nfds = n;
	else
		ck_assert_int_eq(n, 0);
	ck_assert_uint_le(m->size, sizeof(m->payload));
	if (m->size)
		ck_assert_int_eq(read(p->be, &m->payload, m->size), (ssize_t)m->size);
}

static void expect(struct peer *p, uint32_t req, uint32_t size, bool need_reply)
{
	struct vhost_user_msg m;
	take(p, &m, NULL, NULL);
	ck_assert_uint_eq(m.request, req);
	ck_assert_uint_eq(m.size, size);
	ck_assert_uint_eq(m.flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
	ck_assert_uint_eq(!!(m.flags & VHOST_USER_FLAG_NEED_REPLY), need_reply);
}

#define FEATURES (VIRTIO_F_VERSION_1 | VHOST_USER_F_PROTOCOL_FEATURES)

/* Handshake with REPLY_ACK negotiated: the state most tests start from. */
static void handshake(struct peer *p)
{
	reply_u64(p, VHOST_USER_GET_FEATURES, FEATURES);
	reply_u64(p, VHOST_USER_GET_PROTOCOL_FEATURES,
		  VHOST_USER_PROTOCOL_F_REPLY_ACK | 1 /* MQ */);
	reply_u64(p, VHOST_USER_SET_OWNER, 0); /* the ack */
	struct sbx_err err = {0};
	ck_assert_int_eq(vhost_user_handshake(&p->vu, VIRTIO_F_VERSION_1, &err), 0);
	expect(p, VHOST_USER_GET_FEATURES, 0, false);
	expect(p, VHOST_USER_GET_PROTOCOL_FEATURES, 0, false);
	struct vhost_user_msg m;
	take(p, &m, NULL, NULL);
	ck_assert_uint_eq(m.request, VHOST_USER_SET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(m.payload.u64, VHOST_USER_PROTOCOL_F_REPLY_ACK); /* MQ not taken */
	ck_assert(!(m.flags & VHOST_USER_FLAG_NEED_REPLY));
	expect(p, VHOST_USER_SET_OWNER, 0, true);
	ck_assert_uint_eq(p->vu.backend_features, FEATURES);
	ck_assert_uint_eq(p->vu.protocol_features, VHOST_USER_PROTOCOL_F_REPLY_ACK);
}

START_TEST(handshake_negotiates_reply_ack_only)
{
	struct peer p;
	peer_open(&p);
	handshake(&p);
	peer_close(&p);
}
END_TEST

START_TEST(handshake_without_protocol_features)
{
	struct peer p;
	peer_open(&p);
	reply_u64(&p, VHOST_USER_GET_FEATURES, VIRTIO_F_VERSION_1);
	struct sbx_err err = {0};
	ck_assert_int_eq(vhost_user_handshake(&p.vu, VIRTIO_F_VERSION_1, &err), 0);
	expect(&p, VHOST_USER_GET_FEATURES, 0, false);
	expect(&p, VHOST_USER_SET_OWNER, 0, false); /* no ack asked: none negotiated */
	ck_assert_uint_eq(p.vu.protocol_features, 0);
	/* SET_FEATURES then carries no PROTOCOL_FEATURES bit. */
	ck_assert_int_eq(vhost_user_set_features(&p.vu, VIRTIO_F_VERSION_1, &err), 0);
	struct vhost_user_msg m;
	take(&p, &m, NULL, NULL);
	ck_assert_uint_eq(m.payload.u64, VIRTIO_F_VERSION_1);
	peer_close(&p);
}
END_TEST

START_TEST(handshake_refuses_missing_features)
{
	struct peer p;
	peer_open(&p);
	reply_u64(&p, VHOST_USER_GET_FEATURES, VHOST_USER_F_PROTOCOL_FEATURES);
	struct sbx_err err = {0};
	ck_assert_int_eq(vhost_user_handshake(&p.vu, VIRTIO_F_VERSION_1, &err), -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err.msg, "lacks features"));
	peer_close(&p);
}
END_TEST

START_TEST(mem_table_passes_the_memfd)
{
	struct peer p;
	peer_open(&p);
	handshake(&p);
	int memfd = memfd_create("test-ram", MFD_CLOEXEC);
	ck_assert_int_ge(memfd, 0);
	struct vhost_user_region reg = {.gpa = 0, .size = 1 << 20, .uaddr = 0x7f0000000000ull};
	reply_u64(&p, VHOST_USER_SET_MEM_TABLE, 0);
	struct sbx_err err = {0};
	ck_assert_int_eq(vhost_user_set_mem_table(&p.vu, &reg, &memfd, 1, &err), 0);
	struct vhost_user_msg m;
	int fds[8], n = 0;
	take(&p, &m, fds, &n);
	ck_assert_uint_eq(m.request, VHOST_USER_SET_MEM_TABLE);
	ck_assert_uint_eq(m.size, 8 + 32);
	ck_assert_uint_eq(m.payload.mem.nregions, 1);
	ck_assert_uint_eq(m.payload.mem.regions[0].size, 1 << 20);
	ck_assert_uint_eq(m.payload.mem.regions[0].uaddr, 0x7f0000000000ull);
	ck_assert_int_eq(n, 1);
	struct stat a, b;
	ck_assert_int_eq(fstat(memfd, &a), 0);
	ck_assert_int_eq(fstat(fds[0], &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	close(fds[0]);
	/* Bounds on the region count. */
	ck_assert_int_eq(vhost_user_set_mem_table(&p.vu, &reg, &memfd, 0, &err), -EINVAL);
	ck_assert_int_eq(vhost_user_set_mem_table(&p.vu, &reg, &memfd, 9, &err), -EINVAL);
	close(memfd);
	peer_close(&p);
}
END_TEST

START_TEST(vring_setup_layouts)
{
	struct peer p;
	peer_open(&p);
	handshake(&p);
	struct sbx_err err = {0};
	int kick = eventfd(0, EFD_CLOEXEC);
	for (int i = 0; i < 5; i++)
		reply_u64(&p,
			  i == 0   ? VHOST_USER_SET_VRING_NUM
			  : i == 1 ? VHOST_USER_SET_VRING_ADDR
			  : i == 2 ? VHOST_USER_SET_VRING_KICK
			  : i == 3 ? VHOST_USER_SET_VRING_CALL
				   : VHOST_USER_SET_VRING_ENABLE,
			  0);
	struct vhost_user_vring_addr a = {
	    .index = 1, .desc_uaddr = 0x1000, .used_uaddr = 0x3000, .avail_uaddr = 0x2000};
	ck_assert_int_eq(vhost_user_set_vring_num(&p.vu, 1, 256, &err), 0);
	ck_assert_int_eq(vhost_user_set_vring_addr(&p.vu, &a, &err), 0);
	ck_assert_int_eq(vhost_user_set_vring_kick(&p.vu, 1, kick, &err), 0);
	ck_assert_int_eq(vhost_user_set_vring_call(&p.vu, 1, -1, &err), 0);
	ck_assert_int_eq(vhost_user_set_vring_enable(&p.vu, 1, true, &err), 0);

	struct vhost_user_msg m;
	int fds[8], n;
	take(&p, &m, NULL, NULL);
	ck_assert_uint_eq(m.payload.state.index, 1);
	ck_assert_uint_eq(m.payload.state.num, 256);
	take(&p, &m, NULL, NULL);
	ck_assert_uint_eq(m.size, sizeof(struct vhost_user_vring_addr));
	ck_assert_uint_eq(m.payload.addr.avail_uaddr, 0x2000);
	ck_assert_uint_eq(m.payload.addr.used_uaddr, 0x3000);
	take(&p, &m, fds, &n);
	ck_assert_int_eq(n, 1);
	close(fds[0]);
	ck_assert_uint_eq(m.payload.u64, 1); /* index, fd attached */
	take(&p, &m, fds, &n);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(m.payload.u64, 1 | VHOST_USER_VRING_NOFD);
	take(&p, &m, NULL, NULL);
	ck_assert_uint_eq(m.payload.state.num, 1);
	close(kick);
	peer_close(&p);
}
END_TEST

START_TEST(get_vring_base_checks_the_reply)
{
	struct peer p;
	peer_open(&p);
	struct sbx_err err = {0};
	uint32_t base = 0;
	struct vhost_user_vring_state st = {.index = 0, .num = 42};
	uint32_t ok = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	reply_raw(&p, VHOST_USER_GET_VRING_BASE, ok, 8, &st, 8);
	ck_assert_int_eq(vhost_user_get_vring_base(&p.vu, 0, &base, &err), 0);
	ck_assert_uint_eq(base, 42);
	/* A ring position beyond 16 bits. */
	st.num = 0x10000;
	reply_raw(&p, VHOST_USER_GET_VRING_BASE, ok, 8, &st, 8);
	ck_assert_int_eq(vhost_user_get_vring_base(&p.vu, 0, &base, &err), -EPROTO);
	/* The answer for another ring. */
	st = (struct vhost_user_vring_state){.index = 1, .num = 1};
	reply_raw(&p, VHOST_USER_GET_VRING_BASE, ok, 8, &st, 8);
	ck_assert_int_eq(vhost_user_get_vring_base(&p.vu, 0, &base, &err), -EPROTO);
	ck_assert_uint_eq(base, 42);
	peer_close(&p);
}
END_TEST

START_TEST(hostile_replies_are_refused)
{
	struct peer p;
	peer_open(&p);
	struct sbx_err err = {0};
	uint64_t v = 1;
	uint32_t ok = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	/* Not marked as a reply. */
	reply_raw(&p, VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8, &v, 8);
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -EPROTO);
	peer_close(&p);

	/* Wrong version. */
	peer_open(&p);
	reply_raw(&p, VHOST_USER_GET_FEATURES, 2 | VHOST_USER_FLAG_REPLY, 8, &v, 8);
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -EPROTO);
	peer_close(&p);

	/* A reply to another request. */
	peer_open(&p);
	reply_raw(&p, VHOST_USER_GET_PROTOCOL_FEATURES, ok, 8, &v, 8);
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -EPROTO);
	peer_close(&p);

	/* A huge size: refused from the header, no attempt to read 4 GiB. */
	peer_open(&p);
	reply_raw(&p, VHOST_USER_GET_FEATURES, ok, 0xffffffffu, NULL, 0);
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err.msg, "expected 8"));
	peer_close(&p);

	/* A short payload: size 4 for a u64. */
	peer_open(&p);
	reply_raw(&p, VHOST_USER_GET_FEATURES, ok, 4, &v, 4);
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -EPROTO);
	peer_close(&p);
}
END_TEST

START_TEST(nack_eof_and_timeout)
{
	struct peer p;
	peer_open(&p);
	handshake(&p);
	struct sbx_err err = {0};
	reply_u64(&p, VHOST_USER_SET_VRING_NUM, 1); /* refused */
	ck_assert_int_eq(vhost_user_set_vring_num(&p.vu, 0, 128, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "refused"));
	/* The back end stays silent: the reply timeout ends the wait. */
	struct timeval tv = {.tv_usec = 100 * 1000};
	ck_assert_int_eq(setsockopt(p.vu.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	ck_assert_int_eq(vhost_user_set_vring_num(&p.vu, 0, 128, &err), -ETIMEDOUT);
	/* The back end goes away. */
	close(p.be);
	p.be = -1;
	ck_assert_int_lt(vhost_user_set_vring_num(&p.vu, 0, 128, &err), 0);
	vhost_user_close(&p.vu);
	ck_assert_int_eq(vhost_user_set_vring_num(&p.vu, 0, 128, &err), -ENOTCONN);
}
END_TEST

START_TEST(eof_mid_reply)
{
	struct peer p;
	peer_open(&p);
	uint32_t hdr[3] = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, 8};
	ck_assert_int_eq(write(p.be, hdr, sizeof(hdr)), sizeof(hdr));
	ck_assert_int_eq(write(p.be, "abc", 3), 3);
	shutdown(p.be, SHUT_WR);
	struct sbx_err err = {0};
	ck_assert_int_eq(vhost_user_handshake(&p.vu, 0, &err), -ECONNRESET);
	peer_close(&p);
}
END_TEST

START_TEST(check_reply_codec)
{
	struct vhost_user_msg m = {.request = VHOST_USER_GET_FEATURES,
				   .flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY,
				   .size = 8};
	ck_assert_uint_eq(vhost_user_msg_len(&m), 20);
	ck_assert_int_eq(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, 8, NULL), 0);
	ck_assert_int_eq(vhost_user_check_reply(&m, 19, VHOST_USER_GET_FEATURES, 8, NULL), -EPROTO);
	ck_assert_int_eq(vhost_user_check_reply(&m, 11, VHOST_USER_GET_FEATURES, 8, NULL), -EPROTO);
	ck_assert_int_eq(vhost_user_check_reply(&m, 20, VHOST_USER_SET_OWNER, 8, NULL), -EPROTO);
	m.flags |= VHOST_USER_FLAG_NEED_REPLY; /* harmless extra bit */
	ck_assert_int_eq(vhost_user_check_reply(&m, 20, VHOST_USER_GET_FEATURES, 8, NULL), 0);
}
END_TEST

START_TEST(fs_options_and_tags)
{
	struct virtio_fs_opt o;
	struct sbx_err err = {0};
	ck_assert_int_eq(virtio_fs_parse_opt("tag=sbxfs0", &o, &err), 0);
	ck_assert_str_eq(o.tag, "sbxfs0");
	ck_assert_str_eq(o.socket, "");
	ck_assert_int_eq(virtio_fs_parse_opt("tag=a,socket=/run/x,y.sock", &o, &err), 0);
	ck_assert_str_eq(o.tag, "a");
	ck_assert_str_eq(o.socket, "/run/x,y.sock");
	ck_assert_int_eq(virtio_fs_parse_opt("socket=/x", &o, &err), -EINVAL);
	ck_assert_int_eq(virtio_fs_parse_opt("tag=", &o, &err), -EINVAL);
	ck_assert_int_eq(virtio_fs_parse_opt("tag=a,sock=/x", &o, &err), -EINVAL);
	ck_assert_int_eq(virtio_fs_parse_opt("tag=a,socket=", &o, &err), -EINVAL);
	ck_assert_int_eq(virtio_fs_parse_opt("tag=0123456789012345678901234567890123456", &o, &err),
			 -EINVAL); /* 37 bytes */
	ck_assert_int_eq(virtio_fs_parse_opt("tag=012345678901234567890123456789012345", &o, &err),
			 0); /* 36 */
	ck_assert_int_eq(virtio_fs_tag_check("a b", NULL), -EINVAL);
	ck_assert_int_eq(virtio_fs_tag_check("a=b", NULL), -EINVAL);
	ck_assert_int_eq(virtio_fs_tag_check("\x01", NULL), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost_user");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, handshake_negotiates_reply_ack_only);
	tcase_add_test(tc, handshake_without_protocol_features);
	tcase_add_test(tc, handshake_refuses_missing_features);
	tcase_add_test(tc, mem_table_passes_the_memfd);
	tcase_add_test(tc, vring_setup_layouts);
	tcase_add_test(tc, get_vring_base_checks_the_reply);
	tcase_add_test(tc, hostile_replies_are_refused);
	tcase_add_test(tc, nack_eof_and_timeout);
	tcase_add_test(tc, eof_mid_reply);
	tcase_add_test(tc, check_reply_codec);
	tcase_add_test(tc, fs_options_and_tags);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
