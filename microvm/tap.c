/*
 * tap devices for virtio-net (microvm/tap.h). The VMM either opens a tap by name (it needs
 * CAP_NET_ADMIN for that) or adopts one its parent opened (`--net fd=N`), which is how a jailed
 * VMM without privileges gets its network.
 */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

static int tap_prepare(int fd, struct sbx_err *err)
{
	int hdr = TAP_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return sbx_err_set(err, errno, "tap: TUNSETVNETHDRSZ %d", hdr);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return sbx_err_set(err, errno, "tap: set O_NONBLOCK");
	/* Nothing is offloaded to the guest until it negotiates it (tap_set_offload). */
	if (ioctl(fd, TUNSETOFFLOAD, 0ul) < 0)
		return sbx_err_set(err, errno, "tap: TUNSETOFFLOAD 0");
	return 0;
}

int tap_open(const char *name, char *name_out, struct sbx_err *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	if (strlen(name) >= IFNAMSIZ)
		return sbx_err_setx(err, ENAMETOOLONG, "tap: name '%s' is longer than %d bytes",
				    name, IFNAMSIZ - 1);
	memcpy(ifr.ifr_name, name, strlen(name));
	int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sbx_err_set(err, errno, "tap: open " TUN_PATH);
	int r = 0;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		r = sbx_err_set(err, errno, "tap: TUNSETIFF '%s'", name);
	if (r == 0)
		r = tap_prepare(fd, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (name_out)
		memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

int tap_adopt(int fd, struct sbx_err *err)
{
	struct ifreq ifr = {0};
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return sbx_err_set(err, errno, "tap: fd %d: TUNGETIFF (not an attached tap?)", fd);
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_NO_PI) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR))
		return sbx_err_setx(err, EINVAL,
				    "tap: fd %d ('%.*s') is not a tap with IFF_NO_PI|IFF_VNET_HDR",
				    fd, IFNAMSIZ, ifr.ifr_name);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return sbx_err_set(err, errno, "tap: fd %d: FD_CLOEXEC", fd);
	return tap_prepare(fd, err);
}

int tap_set_offload(int fd, const struct tap_offload *o, struct sbx_err *err)
{
	unsigned long f = 0;
	if (o->csum) {
		f |= TUN_F_CSUM;
		/* Segmentation offloads need partial checksums (TUNSETOFFLOAD rejects them alone).
		 */
		f |= (o->tso4 ? TUN_F_TSO4 : 0) | (o->tso6 ? TUN_F_TSO6 : 0) |
		     (o->ecn ? TUN_F_TSO_ECN : 0);
	}
	if (ioctl(fd, TUNSETOFFLOAD, f) < 0)
		return sbx_err_set(err, errno, "tap: TUNSETOFFLOAD %#lx", f);
	return 0;
}
