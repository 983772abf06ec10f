/* `spec` (a default config.json, as runc writes it) and `features` (runc's JSON). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oci_cmd.h"
#include "oci_log.h"
#include "oci_state.h"

static const char spec_head[] =
    "{\n"
    "\t\"ociVersion\": \"" OCI_SPEC_VERSION "\",\n"
    "\t\"process\": {\n"
    "\t\t\"terminal\": true,\n"
    "\t\t\"user\": {\"uid\": 0, \"gid\": 0},\n"
    "\t\t\"args\": [\"sh\"],\n"
    "\t\t\"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
    "\"TERM=xterm\"],\n"
    "\t\t\"cwd\": \"/\",\n"
    "\t\t\"capabilities\": {\n"
    "\t\t\t\"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "\t\t\t\"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "\t\t\t\"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
    "\t\t},\n"
    "\t\t\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
    "\t\t\"noNewPrivileges\": true\n"
    "\t},\n"
    "\t\"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "\t\"hostname\": \"sandbox\",\n"
    "\t\"mounts\": [\n"
    "\t\t{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "\t\t{\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", "
    "\"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
    "\t\t{\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", "
    "\"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\"]},\n"
    "\t\t{\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", "
    "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
    "\t\t{\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\", "
    "\"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
    "\t\t{\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", "
    "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]}\n"
    "\t],\n";

static const char spec_linux[] =
    "\t\"linux\": {\n"
    "\t\t\"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
    "\t\t\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
    "{\"type\": \"uts\"}, {\"type\": \"mount\"}, {\"type\": \"cgroup\"}],\n"
    "\t\t\"maskedPaths\": [\"/proc/acpi\", \"/proc/kcore\", \"/proc/keys\", "
    "\"/proc/latency_stats\", "
    "\"/proc/timer_list\", \"/proc/timer_stats\", \"/proc/sched_debug\", \"/sys/firmware\"],\n"
    "\t\t\"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
    "\"/proc/sysrq-trigger\"]\n"
    "\t}\n"
    "}\n";

/* runc --rootless: a user namespace mapping the caller's ids to root; no network namespace. */
static const char spec_linux_rootless_fmt[] =
    "\t\"linux\": {\n"
    "\t\t\"uidMappings\": [{\"containerID\": 0, \"hostID\": %u, \"size\": 1}],\n"
    "\t\t\"gidMappings\": [{\"containerID\": 0, \"hostID\": %u, \"size\": 1}],\n"
    "\t\t\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"ipc\"}, {\"type\": \"uts\"}, "
    "{\"type\": \"mount\"}, {\"type\": \"cgroup\"}, {\"type\": \"user\"}],\n"
    "\t\t\"maskedPaths\": [\"/proc/acpi\", \"/proc/kcore\", \"/proc/keys\", \"/sys/firmware\"],\n"
    "\t\t\"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
    "\"/proc/sysrq-trigger\"]\n"
    "\t}\n"
    "}\n";

int cmd_oci_spec(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"bundle", required_argument, NULL, 'b'},
	    {"rootless", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *bundle = ".";
	bool rootless = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long_only(argc, argv, "+:b:", longopts, NULL)) != -1) {
		if (c == 'b')
			bundle = optarg;
		else if (c == 'r')
			rootless = true;
		else if (c == 'h')
			return printf("Usage: sandbox spec [--rootless] [--bundle DIR]\n"), 0;
		else
			return oci_opt_fail("spec", c, argv);
	}
	if (optind != argc)
		return oci_fail("spec: unexpected argument '%s'", argv[optind]);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST)
		return oci_fail("File %s exists. Remove it first", path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		return oci_fail("create '%s': %s", path, strerror(errno));
	fputs(spec_head, f);
	if (rootless)
		fprintf(f, spec_linux_rootless_fmt, (unsigned)getuid(), (unsigned)getgid());
	else
		fputs(spec_linux, f);
	if (fclose(f) != 0)
		return oci_fail("write '%s': %s", path, strerror(errno));
	return 0;
}

/* runc's `features` document (runtime-spec features.md), describing this runtime. */
static const char features_json[] =
    "{\n"
    "  \"ociVersionMin\": \"1.0.0\",\n"
    "  \"ociVersionMax\": \"" OCI_SPEC_VERSION "\",\n"
    "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", \"startContainer\", "
    "\"poststart\", \"poststop\"],\n"
    "  \"mountOptions\": [\"ro\", \"rw\", \"nosuid\", \"nodev\", \"noexec\"],\n"
    "  \"linux\": {\n"
    "    \"namespaces\": [\"pid\", \"network\", \"ipc\", \"uts\", \"mount\"],\n"
    "    \"capabilities\": [],\n"
    "    \"cgroup\": {\"v1\": false, \"v2\": true, \"systemd\": false, \"systemdUser\": false},\n"
    "    \"seccomp\": {\"enabled\": false},\n"
    "    \"apparmor\": {\"enabled\": false},\n"
    "    \"selinux\": {\"enabled\": false}\n"
    "  },\n"
    "  \"annotations\": {\n"
    "    \"io.sandbox.vm\": \"every container runs in its own KVM micro-VM\",\n"
    "    \"io.sandbox.vcpus\": \"vCPUs of the container's VM (1..8)\",\n"
    "    \"io.sandbox.memory\": \"RAM of the container's VM (e.g. 512M)\"\n"
    "  }\n"
    "}\n";

int cmd_oci_features(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))
		return oci_fail("features: unexpected argument '%s'", argv[1]);
	fputs(argc > 1 ? "Usage: sandbox features\n" : features_json, stdout);
	return 0;
}
