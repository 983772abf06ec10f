/* The VMM's --net argument (microvm/virtio_net.h). Strict: every bad field is named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "rate_limiter.h"
#include "virtio_net.h"

static int parse_rate(const char *key, const char *v, uint64_t *out, struct sbx_err *err)
{
	char *end;
	errno = 0;
	unsigned long long n = (v[0] >= '0' && v[0] <= '9') ? strtoull(v, &end, 10) : 0;
	if (v[0] < '0' || v[0] > '9' || errno || *end || n > RATE_MAX)
		return sbx_err_setx(err, EINVAL, "--net %s='%s': expected a number in 0..%llu", key,
				    v, (unsigned long long)RATE_MAX);
	*out = n;
	return 0;
}

static int parse_mac(const char *v, uint8_t mac[6], struct sbx_err *err)
{
	unsigned b[6];
	char tail;
	if (strlen(v) != 17 || sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &tail) != 6)
		return sbx_err_setx(err, EINVAL, "--net mac='%s': expected XX:XX:XX:XX:XX:XX", v);
	if (b[0] & 1)
		return sbx_err_setx(err, EINVAL, "--net mac='%s': a multicast address", v);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int parse_fd(const char *v, int *fd, struct sbx_err *err)
{
	char *end;
	errno = 0;
	long n = (v[0] >= '0' && v[0] <= '9') ? strtol(v, &end, 10) : -1;
	if (n < 0 || errno || *end || n > 65535)
		return sbx_err_setx(err, EINVAL, "--net fd='%s': expected a file descriptor number",
				    v);
	*fd = (int)n;
	return 0;
}

/* The backend: first field. */
static int parse_backend(const char *f, struct net_opts *o, struct sbx_err *err)
{
	if (strcmp(f, "none") == 0) {
		o->empty = true;
		return 0;
	}
	if (strncmp(f, "fd=", 3) == 0)
		return parse_fd(f + 3, &o->fd, err);
	if (strncmp(f, "tap=", 4) == 0) {
		size_t n = strlen(f + 4);
		if (n == 0 || n >= sizeof(o->tap))
			return sbx_err_setx(err, EINVAL, "--net tap='%s': 1..%zu characters", f + 4,
					    sizeof(o->tap) - 1);
		memcpy(o->tap, f + 4, n + 1);
		return 0;
	}
	return sbx_err_setx(err, EINVAL, "--net '%s': expected tap=NAME, fd=N or none first", f);
}

static int parse_field(char *f, struct net_opts *o, struct sbx_err *err)
{
	char *eq = strchr(f, '=');
	if (!eq)
		return sbx_err_setx(err, EINVAL, "--net: '%s' is not KEY=VALUE", f);
	*eq = '\0';
	const char *v = eq + 1;
	if (strcmp(f, "mac") == 0) {
		o->mac_set = true;
		return parse_mac(v, o->mac, err);
	}
	struct {
		const char *key;
		uint64_t *dst;
	} rates[] = {{"rx-bps", &o->rx_bps},
		     {"tx-bps", &o->tx_bps},
		     {"rx-pps", &o->rx_pps},
		     {"tx-pps", &o->tx_pps}};
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (strcmp(f, rates[i].key) == 0)
			return parse_rate(f, v, rates[i].dst, err);
	return sbx_err_setx(err, EINVAL, "--net: unknown key '%s'", f);
}

int net_opts_parse(const char *arg, struct net_opts *o, struct sbx_err *err)
{
	char buf[512];
	if (o->enabled)
		return sbx_err_setx(err, EINVAL, "--net given twice (one network device)");
	*o = (struct net_opts){.enabled = true, .fd = -1};
	if (strlen(arg) >= sizeof(buf))
		return sbx_err_setx(err, E2BIG, "--net: argument too long");
	strcpy(buf, arg);
	char *save = NULL;
	char *f = strtok_r(buf, ",", &save);
	if (!f)
		return sbx_err_setx(err, EINVAL, "--net '': expected tap=NAME, fd=N or none");
	int r = parse_backend(f, o, err);
	while (r >= 0 && (f = strtok_r(NULL, ",", &save)))
		r = parse_field(f, o, err);
	if (r >= 0 && !o->mac_set)
		net_random_mac(o->mac);
	return r;
}

void net_random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6) {
		unsigned v = (unsigned)getpid();
		memcpy(mac, &v, sizeof(v));
	}
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
}
