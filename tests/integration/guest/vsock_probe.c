/*
 * Runs inside a container (tests/integration/test_guest_security.c): tries to reach the host's
 * agent port over vsock, which a container process must never be able to do. Static, so it
 * runs in the busybox rootfs. Prints one line; exit 0 connected, 2 socket refused, 3 connect
 * refused. The line is "vsock=...".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("vsock=socket: %s (errno %d)\n", strerror(errno), errno);
		return 2;
	}
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = 1024};
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		printf("vsock=connect: %s (errno %d)\n", strerror(errno), errno);
		return 3;
	}
	printf("vsock=connected to the host\n");
	close(fd);
	return 0;
}
