/*
 * One virtio-vsock stream connection between a guest port and a host unix socket
 * (virtio 1.2 §5.10.6), with its credit accounting. Used only by virtio_vsock.c, always under
 * the device lock, from the device's I/O thread.
 *
 * Credit (§5.10.6.3): we advertise VSOCK_BUF_ALLOC bytes per connection and count in fwd_cnt
 * what we have written to the host socket; what the host socket cannot take yet waits in a ring
 * of exactly VSOCK_BUF_ALLOC bytes, so a guest that respects our credit can never overflow it.
 * Toward the guest we send at most peer_buf_alloc - (tx_cnt - peer_fwd_cnt) bytes.
 */
#ifndef SANDBOX_VSOCK_CONN_H
#define SANDBOX_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

#define VSOCK_HOST_CID 2u		/* §5.10.4: the host's well-known CID */
#define VSOCK_HDR_SIZE 44u		/* struct virtio_vsock_hdr, §5.10.6 */
#define VSOCK_TYPE_STREAM 1u		/* §5.10.6: the only socket type we offer */
#define VSOCK_BUF_ALLOC (256u * 1024u)	/* our per-connection receive buffer */
#define VSOCK_MAX_PAYLOAD (64u * 1024u) /* largest RW payload either way (Linux's limit) */

/* Operations, §5.10.6. */
enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags, §5.10.6.5. */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* Decoded (host byte order) packet header. */
struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t raw[VSOCK_HDR_SIZE]);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

enum vsock_conn_state {
	VSOCK_HANDSHAKE,   /* host client on the listener; reading "CONNECT <port>\n" */
	VSOCK_CONNECTING,  /* REQUEST owed or sent to the guest; waiting for RESPONSE */
	VSOCK_ESTABLISHED, /* data flows */
	VSOCK_CLOSING,	   /* host fd closed; a final RST or SHUTDOWN is owed to the guest */
	VSOCK_DEAD,	   /* nothing owed: freed by the I/O thread at the end of its round */
};

struct vsock_conn {
	int fd; /* host unix socket, -1 once closed */
	enum vsock_conn_state state;
	uint32_t local_port; /* host side: src_port of the packets we send */
	uint32_t peer_port;  /* guest side */
	bool guest_knows;    /* the guest has seen or sent REQUEST: it needs a final RST */

	/* Handshake line from a host client. */
	char line[32];
	uint32_t line_len;

	/* Control packets owed to the guest. */
	bool need_request, need_response, need_rst, need_shutdown, need_credit_update;
	uint32_t shutdown_flags; /* accumulated SHUTDOWN flags we have queued */

	/* Host socket state. */
	bool host_readable; /* edge seen, no EAGAIN since */
	bool host_eof;	    /* read returned 0 */
	bool host_hup;	    /* peer closed both directions (EPOLLHUP) */
	bool shut_wr_done;  /* we shut down the host socket's write side */

	/* Guest -> host. */
	bool peer_shut_send, peer_shut_rcv;
	uint8_t *ring; /* VSOCK_BUF_ALLOC bytes, allocated on first use */
	uint32_t ring_head, ring_len;
	uint32_t fwd_cnt, fwd_cnt_sent;

	/* Host -> guest. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
};

struct vsock_conn *vsock_conn_new(int fd, enum vsock_conn_state state, uint32_t local_port,
				  uint32_t peer_port);
void vsock_conn_free(struct vsock_conn *c);

/* Takes the guest's credit fields from any packet of this connection. */
void vsock_conn_peer_credit(struct vsock_conn *c, const struct vsock_hdr *h);
/* Closes the host side and owes the guest an RST (or nothing if it never heard of us). */
void vsock_conn_abort(struct vsock_conn *c);

/* RW payload [VSOCK_HDR_SIZE, +len) of `chain` to the host; -ENOBUFS if it exceeds our credit. */
int vsock_conn_deliver(struct vsock_conn *c, const struct vq_chain *chain, uint32_t len);
/* Writes buffered guest data to the host socket; 0, or -errno when the socket failed. */
int vsock_conn_flush(struct vsock_conn *c);
/* Guest SHUTDOWN flags. */
void vsock_conn_guest_shutdown(struct vsock_conn *c, uint32_t flags);
/* Moves a connection toward closing once both sides are finished; call after any change. */
void vsock_conn_check_done(struct vsock_conn *c);

/* Host client bytes: 1 with *port once "CONNECT <port>\n" is complete, 0 for more, <0 bad. */
int vsock_conn_handshake(struct vsock_conn *c, uint32_t *port);
/* After the guest's RESPONSE to a host-initiated connection: "OK <local_port>\n" to the client. */
int vsock_conn_host_ok(struct vsock_conn *c);

/* True when the connection has a packet for the guest (given an rx buffer). */
bool vsock_conn_wants_rx(const struct vsock_conn *c);
/*
 * Writes the connection's next packet into the writable part of `chain` (at least
 * VSOCK_HDR_SIZE bytes); returns bytes written, 0 when it had nothing to send after all.
 */
uint32_t vsock_conn_fill_rx(struct vsock_conn *c, const struct vq_chain *chain, uint64_t guest_cid);

#endif
