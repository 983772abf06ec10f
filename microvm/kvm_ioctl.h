/*
 * Checked KVM ioctls (KVM selftests style): the failing ioctl is named in the message, and the
 * pointer variant checks at compile time that the argument has the size the request encodes.
 */
#ifndef SANDBOX_KVM_IOCTL_H
#define SANDBOX_KVM_IOCTL_H

#include <errno.h>
#include <sys/ioctl.h>

#include "../common/error.h"

/* Returns the ioctl's non-negative result, or -errno with err set to "<name>: <strerror>". */
static inline int kvm_ioctl_named(int fd, unsigned long req, const char *name, unsigned long arg,
				  struct sbx_err *err)
{
	int r = ioctl(fd, req, arg);
	if (r < 0)
		return sbx_err_set(err, errno, "%s", name);
	return r;
}

/* For requests whose argument is a value (or none). */
#define KVM_IOCTL(fd, req, arg, err) kvm_ioctl_named((fd), (req), #req, (unsigned long)(arg), (err))

/* For requests whose argument is a pointer to the struct the request encodes. */
#define KVM_IOCTL_PTR(fd, req, ptr, err)                                                           \
	({                                                                                         \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(ptr)), #req ": argument size mismatch"); \
		kvm_ioctl_named((fd), (req), #req, (unsigned long)(ptr), (err));                   \
	})

#endif
