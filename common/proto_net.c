/*
 * NET value of a RUN request (common/proto_net.h). Layout, all integers little-endian:
 *   mac[6] u16 reserved  u32 mtu  addr[4] u8 prefix u8 n_routes u16 reserved
 *   then n_routes x { dst[4] u8 prefix u8 reserved[3] gw[4] }
 */
#include "proto_net.h"

#include <errno.h>
#include <string.h>

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t sbx_net_encode(const struct sbx_net_cfg *c, uint8_t out[SBX_NET_MAX_SIZE])
{
	unsigned n = c->n_routes > SBX_NET_MAX_ROUTES ? SBX_NET_MAX_ROUTES : c->n_routes;
	memset(out, 0, SBX_NET_HDR_SIZE + n * SBX_NET_ROUTE_SIZE);
	memcpy(out, c->mac, 6);
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(c->mtu >> (8 * i));
	memcpy(out + 12, c->addr, 4);
	out[16] = c->prefix;
	out[17] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *r = out + SBX_NET_HDR_SIZE + i * SBX_NET_ROUTE_SIZE;
		memcpy(r, c->routes[i].dst, 4);
		r[4] = c->routes[i].prefix;
		memcpy(r + 8, c->routes[i].gw, 4);
	}
	return SBX_NET_HDR_SIZE + n * SBX_NET_ROUTE_SIZE;
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int check_hdr(const uint8_t *v, size_t len, struct sbx_err *err)
{
	if (len < SBX_NET_HDR_SIZE)
		return sbx_err_setx(err, EPROTO, "RUN net: %zu bytes, want at least %u", len,
				    SBX_NET_HDR_SIZE);
	unsigned n = v[17];
	if (n > SBX_NET_MAX_ROUTES || len != SBX_NET_HDR_SIZE + n * SBX_NET_ROUTE_SIZE)
		return sbx_err_setx(err, EPROTO, "RUN net: %u routes in %zu bytes", n, len);
	if (!zero(v + 6, 2) || !zero(v + 18, 2))
		return sbx_err_setx(err, EPROTO, "RUN net: reserved bytes set");
	if (v[0] & 1)
		return sbx_err_setx(err, EPROTO, "RUN net: multicast MAC");
	uint32_t mtu = get_u32(v + 8);
	if (mtu < SBX_NET_MIN_MTU || mtu > SBX_NET_MAX_MTU)
		return sbx_err_setx(err, EPROTO, "RUN net: MTU %u outside %u..%u", mtu,
				    SBX_NET_MIN_MTU, SBX_NET_MAX_MTU);
	if (v[16] < 1 || v[16] > 32)
		return sbx_err_setx(err, EPROTO, "RUN net: prefix length %u", v[16]);
	return 0;
}

int sbx_net_decode(const uint8_t *v, size_t len, struct sbx_net_cfg *out, struct sbx_err *err)
{
	int r = check_hdr(v, len, err);
	if (r < 0)
		return r;
	unsigned n = v[17];
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = v + SBX_NET_HDR_SIZE + i * SBX_NET_ROUTE_SIZE;
		if (e[4] > 32 || !zero(e + 5, 3))
			return sbx_err_setx(err, EPROTO, "RUN net: route %u is malformed", i);
	}
	if (!out)
		return 0;
	memset(out, 0, sizeof(*out));
	out->present = true;
	memcpy(out->mac, v, 6);
	out->mtu = get_u32(v + 8);
	memcpy(out->addr, v + 12, 4);
	out->prefix = v[16];
	out->n_routes = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = v + SBX_NET_HDR_SIZE + i * SBX_NET_ROUTE_SIZE;
		memcpy(out->routes[i].dst, e, 4);
		out->routes[i].prefix = e[4];
		memcpy(out->routes[i].gw, e + 8, 4);
	}
	return 0;
}
