/*
 * The VMM's seccomp allowlists: the one reviewed table (docs/security.md "Seccomp").
 *
 * Found by running sandbox-vmm under `strace -f` for a template build, a restore with heavy
 * stdio in both directions and a 2-vCPU cold boot, then reading every call site that only runs
 * on error paths (they must not turn an error into a SIGSYS). Only what a thread does after it
 * installed its filter counts: opening the kernel, the disks, /dev/kvm, mapping guest RAM and
 * creating the VM all happen before.
 *
 * Columns: syscall, the lists allowing it (V = vCPU threads, M = main + device I/O threads,
 * S = extra for the main thread of a template build), and for ioctl/socket the one argument
 * value allowed. A syscall listed twice (ioctl) is allowed when any of its rows matches.
 * Adding a row: say which code path needs it, on which thread, and why it cannot happen before
 * the filter is installed.
 */
#include "seccomp.h"

#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define V SECCOMP_VCPU
#define M SECCOMP_VMM
#define S SECCOMP_SNAPSHOT

#define ANY(sys, lists)                                                                            \
	{                                                                                          \
		SYS_##sys, #sys, (lists), SECCOMP_ANY, 0, 0                                        \
	}
#define IOCTL(req, lists)                                                                          \
	{                                                                                          \
		SYS_ioctl, "ioctl " #req, (lists), SECCOMP_ARG_EQ, 1, (uint32_t)(req)              \
	}

const struct seccomp_rule seccomp_table[] = {
    /* ---- memory and threads (glibc) ---- */
    ANY(futex, V | M),		/* pthread mutexes/conds: transport lock, stop rendezvous, joins */
    ANY(mmap, V | M),		/* malloc of large blocks and per-thread arenas */
    ANY(munmap, V | M),		/* free of those; teardown unmaps guest RAM and kvm_run */
    ANY(mprotect, V | M),	/* malloc grows a thread arena by changing protection */
    ANY(brk, V | M),		/* malloc on the main arena */
    ANY(madvise, V | M),	/* glibc releases a finished thread's stack (MADV_DONTNEED) */
    ANY(rt_sigprocmask, V | M), /* pthread_create/exit block signals around the switch */
    ANY(rt_sigreturn, V | M),	/* return from the SIGUSR1 vCPU kick handler */
    ANY(exit, V | M),		/* a thread ends (vCPU stop, I/O thread stop) */
    ANY(exit_group, M),		/* the VMM ends */
    ANY(clock_gettime, V | M),	/* monotonic_ns() when the vDSO falls back (unstable TSC) */
    ANY(getpid, M),		/* pthread_kill names the process when kicking a vCPU */
    ANY(tgkill, M),		/* vcpu_stop(): SIGUSR1 makes KVM_RUN return EINTR */

    /* ---- file descriptors already open ---- */
    ANY(read, V | M),	  /* eventfd kicks, vsock/vhost-user/tap sockets */
    ANY(write, V | M),	  /* serial log, boot timer, stderr, eventfd kicks, sockets, tap */
    ANY(readv, M),	  /* virtio-net: a frame from the tap fd into a descriptor chain */
    ANY(writev, V | M),	  /* virtio-net: a frame from a descriptor chain to the tap fd, on the
			     vCPU that wrote QueueNotify (tx latency, issue 7) or the I/O thread */
    ANY(pread64, V),	  /* virtio-blk reads, on the notifying vCPU thread */
    ANY(pwrite64, V | S), /* virtio-blk writes; the snapshot's memory file */
    ANY(fdatasync, V),	  /* virtio-blk VIRTIO_BLK_T_FLUSH */
    ANY(close, V | M),	  /* closed connections, reset devices, teardown */
    ANY(fcntl, M),	  /* O_NONBLOCK on accepted/connected sockets */
    ANY(getrandom, V),	  /* virtio-rng entropy, served on the notifying vCPU thread */

    /* ---- device I/O threads: vsock over unix sockets, vhost-user ---- */
    ANY(epoll_wait, M), /* the I/O thread's loop */
    ANY(epoll_ctl, M),	/* watch new vsock connections, stop watching closed ones */
    ANY(accept4, M),	/* host-initiated vsock connections (the `sandbox` side) */
    /* Guest-initiated vsock connections become unix connections to <uds>_<port>, and
     * vhost-user back ends are unix sockets too: no other family. */
    {SYS_socket, "socket AF_UNIX", M, SECCOMP_ARG_EQ, 0, AF_UNIX},
    ANY(connect, M),	     /* ... to <vsock-uds>_<port> */
    ANY(recvfrom, M),	     /* recv(): the "CONNECT <port>" line of a host-initiated connection */
    ANY(sendto, M),	     /* send(): its "OK <port>" reply */
    ANY(poll, V | M),	     /* vhost-user: waiting for the back end's reply (virtio-fs set-up runs
				on the vCPU that wrote DRIVER_OK) */
    ANY(timerfd_settime, M), /* virtio-net: the rate limiter's refill timer */
    ANY(shutdown, M),	     /* vsock SHUTDOWN from the guest: half-close the host socket */
    ANY(sendmsg, V | M),     /* vhost-user messages with SCM_RIGHTS (V: set-up at DRIVER_OK) */
    ANY(recvmsg, V | M),     /* vhost-user replies */
    ANY(unlink, M),	     /* teardown: the vsock listening socket the VMM created */

    /* ---- KVM and device ioctls, by request ---- */
    IOCTL(KVM_RUN, V),		 /* the vCPU loop; also completes pending I/O before a snapshot */
    IOCTL(KVM_IRQ_LINE, V | M),	 /* vm_irq_pulse(): device interrupts from any thread */
    IOCTL(KVM_GET_REGS, V),	 /* the registers printed when a vCPU stops with a fault */
    IOCTL(KVM_GET_SREGS, V | S), /* same; and the snapshot of every vCPU */
    IOCTL(KVM_IOEVENTFD, V | M), /* virtio-fs over vhost-user: queue notify -> kick eventfd,
				    (de)assigned when the driver starts or resets the device */
    IOCTL(TUNSETOFFLOAD, V | M), /* virtio-net: offloads the guest negotiated, set by the
				    device's I/O thread once the driver runs (and after a reset) */

    /* ---- the main thread of a template build (--snapshot-to) writes the snapshot ---- */
    /* Only that VM runs with these: it booted our kernel and agent, never tenant code (the
     * snapshot point is before the agent accepts any request), see docs/security.md. */
    ANY(openat, S),		   /* the temp dir's files; /proc/self/exe for the VMM's identity */
    ANY(mkdir, S),		   /* the temp dir beside the target */
    ANY(newfstatat, S),		   /* fstat of /proc/self/exe before hashing it */
    ANY(pread64, S),		   /* hashing /proc/self/exe */
    ANY(lseek, S),		   /* the memory file is written sparse */
    ANY(ftruncate, S),		   /* the memory file's size */
    ANY(fsync, S),		   /* files and directories, before the swap */
    ANY(rename, S),		   /* temp dir -> target */
    ANY(renameat2, S),		   /* RENAME_EXCHANGE with an existing snapshot */
    ANY(getdents64, S),		   /* removing the temp dir on failure or the swapped-out old one */
    ANY(unlinkat, S),		   /* same */
    ANY(rmdir, S),		   /* same */
    IOCTL(KVM_CHECK_EXTENSION, S), /* which optional state (XSAVE, XCRS) to save */
    IOCTL(KVM_GET_MSR_INDEX_LIST, S), /* the MSRs to save */
    IOCTL(KVM_GET_MSRS, S),
    IOCTL(KVM_GET_CPUID2, S),
    IOCTL(KVM_GET_FPU, S),
    IOCTL(KVM_GET_XSAVE, S),
    IOCTL(KVM_GET_XCRS, S),
    IOCTL(KVM_GET_LAPIC, S),
    IOCTL(KVM_GET_REGS, S),
    IOCTL(KVM_GET_DEBUGREGS, S),
    IOCTL(KVM_GET_VCPU_EVENTS, S),
    IOCTL(KVM_GET_MP_STATE, S),
    IOCTL(KVM_GET_IRQCHIP, S), /* PIC master/slave and IOAPIC */
    IOCTL(KVM_GET_PIT2, S),
    IOCTL(KVM_GET_CLOCK, S),
};

const size_t seccomp_table_len = sizeof(seccomp_table) / sizeof(seccomp_table[0]);
