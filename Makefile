# sandbox: one entry point. `make` builds everything, `make check` runs every test.
# See README.md and docs/architecture.md.

B ?= build
CC ?= gcc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-format-truncation
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)

DEPS_PKGS := build-essential pkg-config clang check libyajl-dev libseccomp-dev libcap-ng-dev \
	linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio xz-utils erofs-utils \
	busybox-static util-linux procps qemu-system-x86 runc hyperfine clang-format \
	libcurl4-openssl-dev libarchive-dev docker-registry skopeo python3 apache2-utils \
	iproute2 nftables iperf3 podman containerd

COMMON_SRC := $(wildcard common/*.c)
VMM_SRC := $(filter-out microvm/main.c,$(wildcard microvm/*.c))
AGENT_SRC := $(filter-out agent/main.c agent/mem.c agent/testhooks.c,$(wildcard agent/*.c))
SHIM_SRC := $(filter-out shim/main.c,$(wildcard shim/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

SHIM_LIBS := $(shell pkg-config --libs yajl 2>/dev/null) -lcrypto -lpthread \
	$(shell pkg-config --libs libcurl libarchive 2>/dev/null)
VMM_LIBS := -lpthread $(shell pkg-config --libs libseccomp 2>/dev/null)
SHIM_LIBS += $(shell pkg-config --libs libcap-ng 2>/dev/null)
# OCI seccomp profiles are compiled to BPF on the host (shim/oci_security.c)
SHIM_LIBS += $(shell pkg-config --libs libseccomp 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

KERNEL := $(B)/vmlinux
INITRAMFS := $(B)/initramfs.cpio
BUSYBOX_ROOTFS := $(B)/rootfs-busybox

BINS := $(B)/sandbox $(B)/sandbox-vmm $(B)/sandbox-agent

.PHONY: all deps demo check check-unit check-integration bench asan fuzz format clean kernel stress

all: $(BINS) $(KERNEL) $(INITRAMFS) $(BUSYBOX_ROOTFS)/.done

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -MMD -MP -c $< -o $@

# The agent's copy routines must not use SSE (agent/mem.c says why); -fno-builtin and no loop
# pattern distribution keep GCC from turning them back into calls to themselves.
$(B)/obj/agent/mem.o: BASE_CFLAGS += -mgeneral-regs-only -fno-builtin -fno-tree-loop-distribute-patterns

$(B)/libcommon.a: $(call obj,$(COMMON_SRC))
$(B)/libvmm.a: $(call obj,$(VMM_SRC))
$(B)/libagent.a: $(call obj,$(AGENT_SRC))
$(B)/libshim.a: $(call obj,$(SHIM_SRC))
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Static: the jailed VMM runs in an empty root with no dynamic loader or libraries (shim/jail.h).
VMM_STATIC ?= -static
$(B)/sandbox-vmm: $(call obj,microvm/main.c) $(B)/libvmm.a $(B)/libcommon.a
	$(CC) $(VMM_STATIC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)

# Test-only VMM with SANDBOX_TEST_HOOKS (microvm/seccomp.h: a forbidden syscall on request);
# its own objects, so the release binary never contains the hooks.
TESTHOOKS_OBJ := $(patsubst %.c,$(B)/obj-testhooks/%.o,microvm/main.c $(VMM_SRC) $(COMMON_SRC))
$(B)/obj-testhooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -DSANDBOX_TEST_HOOKS -MMD -MP -c $< -o $@
$(B)/sandbox-vmm-testhooks: $(TESTHOOKS_OBJ)
	$(CC) $(VMM_STATIC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS)

# Test-only agent with SANDBOX_TEST_HOOKS (agent/testhooks.c: it dies on request) in its own
# initramfs, so in its own VM template; own objects: the release agent never contains the hooks.
AGENT_TESTHOOKS_OBJ := $(patsubst %.c,$(B)/obj-testhooks/%.o,agent/main.c agent/mem.c \
	agent/testhooks.c $(AGENT_SRC) $(COMMON_SRC))
$(B)/obj-testhooks/agent/mem.o: BASE_CFLAGS += -mgeneral-regs-only -fno-builtin -fno-tree-loop-distribute-patterns
$(B)/testhooks/sandbox-agent: $(AGENT_TESTHOOKS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -static $(LDFLAGS) -o $@ $^
$(B)/testhooks/initramfs.cpio: $(B)/testhooks/sandbox-agent rootfs/build-initramfs.sh
	rootfs/build-initramfs.sh $< $@
$(B)/tests/test_faults: $(B)/testhooks/initramfs.cpio

# The hostile test guest (tests/hostile/, docs/security.md "Hostile guest"): freestanding 32-bit
# code linked at 1 MiB and converted to the ELF64 the VMM's PVH loader takes; test_hostile runs
# it against an ASan/UBSan VMM built in its own tree, $(B)/asan.
HOSTILE_GUEST := $(B)/hostile/guest.elf
HOSTILE_SRC := $(wildcard tests/hostile/*.c tests/hostile/*.S)
HOSTILE_CFLAGS := -std=gnu11 $(WARN) -O2 -m32 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -mgeneral-regs-only -fno-builtin -fno-tree-loop-distribute-patterns \
	-no-pie -static
$(HOSTILE_GUEST): $(HOSTILE_SRC) $(wildcard tests/hostile/*.h) tests/hostile/hostile.ld
	@mkdir -p $(dir $@)
	$(CC) $(HOSTILE_CFLAGS) -Wl,-m,elf_i386,-T,tests/hostile/hostile.ld,--build-id=none \
		-Wl,--no-warn-rwx-segments -o $@.i386 $(HOSTILE_SRC)
	objcopy -O elf64-x86-64 $@.i386 $@
HOSTILE_VMM := $(B)/asan/sandbox-vmm
$(HOSTILE_VMM): $(COMMON_SRC) $(VMM_SRC) microvm/main.c $(wildcard microvm/*.h common/*.h)
	$(MAKE) B=$(B)/asan VMM_STATIC= EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" $@
$(B)/tests/test_hostile: $(HOSTILE_GUEST) $(HOSTILE_VMM)
.PHONY: hostile
hostile: $(HOSTILE_GUEST) $(HOSTILE_VMM)
# The same guest's cross-vCPU attacks on a ThreadSanitizer VMM (tests/hostile/tsan-race.sh; not in
# `make check`). -Wno-tsan: TSan cannot model the two seq_cst fences in virtqueue.c (EVENT_IDX).
HOSTILE_TSAN_VMM := $(B)/tsan/sandbox-vmm
$(HOSTILE_TSAN_VMM): $(COMMON_SRC) $(VMM_SRC) microvm/main.c $(wildcard microvm/*.h common/*.h)
	$(MAKE) B=$(B)/tsan VMM_STATIC= EXTRA_CFLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
		EXTRA_LDFLAGS="-fsanitize=thread" $@
.PHONY: hostile-tsan
hostile-tsan: $(HOSTILE_GUEST) $(HOSTILE_TSAN_VMM)
	tests/hostile/tsan-race.sh $(B)

# PID 1 of the guest: static, so the initramfs holds this one file and nothing else.
$(B)/sandbox-agent: $(call obj,agent/main.c) $(call obj,agent/mem.c) $(B)/libagent.a $(B)/libcommon.a
	$(CC) -static $(LDFLAGS) -o $@ $^

$(B)/sandbox: $(call obj,shim/main.c) $(B)/libshim.a $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(SHIM_LIBS)

# The guest kernel is cached outside the clone, keyed by a hash of its inputs.
kernel: $(KERNEL)
$(KERNEL): rootfs/build-kernel.sh rootfs/kernel/config-fragment $(wildcard rootfs/kernel/patches/*.patch)
	rootfs/build-kernel.sh $@

$(INITRAMFS): $(B)/sandbox-agent rootfs/build-initramfs.sh
	rootfs/build-initramfs.sh $(B)/sandbox-agent $@

$(BUSYBOX_ROOTFS)/.done: rootfs/build-busybox-rootfs.sh
	rootfs/build-busybox-rootfs.sh $(BUSYBOX_ROOTFS)
	touch $@

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEPS_PKGS)

# The demo image: the busybox rootfs as an OCI layout, loaded into the default image store
# (no network needed); `sandbox run busybox` then starts from its cached erofs.
BUSYBOX_OCI := $(B)/busybox-oci
$(BUSYBOX_OCI)/index.json: $(BUSYBOX_ROOTFS)/.done rootfs/build-oci-image.sh
	rm -rf $(BUSYBOX_OCI)
	rootfs/build-oci-image.sh --cmd '["sh"]' $(BUSYBOX_ROOTFS) $(BUSYBOX_OCI) >/dev/null

demo: all $(BUSYBOX_OCI)/index.json
	$(B)/sandbox load -q --name busybox -i $(BUSYBOX_OCI) >/dev/null
	$(B)/sandbox run busybox sh -c \
		'echo "hello from a container in a micro-VM"; echo "guest kernel: $$(uname -r), $$(nproc) vCPU(s)"'

# ---- tests ----
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(B)/tests/%,$(wildcard tests/integration/test_*.c))

$(B)/tests/%: tests/unit/%.c $(B)/libvmm.a $(B)/libshim.a $(B)/libagent.a $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -o $@ $< $(B)/libvmm.a $(B)/libshim.a $(B)/libagent.a $(B)/libcommon.a \
		$(CHECK_LIBS) $(SHIM_LIBS) $(VMM_LIBS)

$(B)/tests/%: tests/integration/%.c tests/integration/harness.h $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -o $@ $< $(B)/libcommon.a $(CHECK_LIBS) -lpthread

# A static vsock client the guest-security test puts into its container rootfs (busybox has none).
GUEST_PROBE := $(B)/tests/guest/vsock_probe
$(GUEST_PROBE): tests/integration/guest/vsock_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -static -o $@ $<
$(B)/tests/test_guest_security: $(GUEST_PROBE)

check: check-unit check-integration

check-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# Every integration test restoring VM templates (one template store shared by all programs, so
# each template is built once), then the `sandbox run` tests again cold-booting (--no-template).
# SANDBOX_BOOT_TIMEOUT: a template built inside podman's or containerd's create may take long on
# an emulated, loaded host (docs/guest-kernel.md); the tests' own deadlines still apply.
check-integration: all $(B)/sandbox-vmm-testhooks $(INTEG_TESTS) $(BUSYBOX_OCI)/index.json
	@set -e; tdir=$$(mktemp -d /tmp/sandbox-test-templates.XXXXXX); trap 'rm -rf "$$tdir"' EXIT; \
	for t in $(INTEG_TESTS); do echo "== $$t (VM templates)"; \
		SANDBOX_BUILD=$(B) SANDBOX_TEMPLATE_DIR=$$tdir SANDBOX_BOOT_TIMEOUT=900 $$t; done; \
	echo "== $(B)/tests/test_run (cold boot)"; \
	SANDBOX_BUILD=$(B) SANDBOX_TEMPLATE_DIR=$$tdir SANDBOX_TEST_NO_TEMPLATE=1 $(B)/tests/test_run

# Load (docs/security.md "Stress"): test_stress at full size, hours on emulated KVM (make check
# runs it with 20 cycles / 4 at once). `make stress STRESS_SEQ=30 STRESS_CONC=4` for a short one.
STRESS_SEQ ?= 1000
STRESS_CONC ?= 20
stress: all $(B)/tests/test_stress
	SANDBOX_BUILD=$(B) STRESS_SEQ=$(STRESS_SEQ) STRESS_CONC=$(STRESS_CONC) $(B)/tests/test_stress

bench: all
	bench/run.sh $(B)

asan:
	$(MAKE) B=build-asan VMM_STATIC= EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" build-asan/sandbox build-asan/sandbox-vmm \
		$(patsubst $(B)/%,build-asan/%,$(UNIT_TESTS))
	@set -e; for t in $(patsubst $(B)/%,build-asan/%,$(UNIT_TESTS)); do $$t; done

# libFuzzer targets, FUZZ_SECONDS each (clang from Debian's clang package).
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
$(B)/fuzz/fuzz_proto: tests/fuzz/fuzz_proto.c common/proto.c common/proto_run.c common/proto_run_hooks.c common/proto_run_security.c \
		common/proto_io.c common/proto_net.c \
		common/error.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $^ -o $@
$(B)/fuzz/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c microvm/virtqueue.c microvm/guest_mem.c common/error.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $^ -o $@
# Device request parsing behind the real MMIO transport (tests/fuzz/fuzz_virtio.h).
FUZZ_DEV_SRC := microvm/virtio_mmio.c microvm/virtio_mmio_state.c microvm/virtqueue.c \
	microvm/guest_mem.c microvm/bus.c microvm/snapshot.c common/error.c
$(B)/fuzz/fuzz_virtio_blk: tests/fuzz/fuzz_virtio_blk.c tests/fuzz/fuzz_virtio.h microvm/virtio_blk.c $(FUZZ_DEV_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@
$(B)/fuzz/fuzz_virtio_rng: tests/fuzz/fuzz_virtio_rng.c tests/fuzz/fuzz_virtio.h microvm/virtio_rng.c $(FUZZ_DEV_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@
# virtio_vsock.c is #included by the target (it runs one static queue round itself).
$(B)/fuzz/fuzz_virtio_vsock: tests/fuzz/fuzz_virtio_vsock.c tests/fuzz/fuzz_virtio.h microvm/virtio_vsock.c \
		microvm/vsock_conn.c microvm/seccomp.c microvm/seccomp_table.c $(FUZZ_DEV_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(filter-out microvm/virtio_vsock.c,$(filter %.c,$^)) -o $@ $(VMM_LIBS)
# virtio_net.c is #included by the target (one I/O-thread round per notify); tap.c is left out:
# the "tap" is a socketpair end and the target supplies the two tap calls the device makes.
$(B)/fuzz/fuzz_virtio_net: tests/fuzz/fuzz_virtio_net.c tests/fuzz/fuzz_virtio.h microvm/virtio_net.c \
		microvm/rate_limiter.c microvm/seccomp.c microvm/seccomp_table.c $(FUZZ_DEV_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(filter-out microvm/virtio_net.c,$(filter %.c,$^)) -o $@ $(VMM_LIBS)
# shim/rundir.c (rmtree) now needs the owner check (oci_state.c) and the jail's dead-uid release.
FUZZ_RUNDIR_SRC := shim/rundir.c shim/oci_state.c shim/oci_log.c shim/jail.c shim/cgroup.c
$(B)/fuzz/fuzz_image_meta: tests/fuzz/fuzz_image_meta.c shim/image_ref.c shim/image_manifest.c \
		shim/image_json.c shim/image_store.c shim/image_load_src.c $(FUZZ_RUNDIR_SRC) shim/paths.c \
		common/error.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $^ -o $@ -lyajl -lcrypto -larchive -lcap-ng
# Layer tarballs and image configs, as `sandbox run IMAGE` reads them.
$(B)/fuzz/fuzz_image_layer: tests/fuzz/fuzz_image_layer.c shim/image_unpack.c shim/image_config.c \
		shim/image_json.c $(FUZZ_RUNDIR_SRC) shim/paths.c common/error.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $^ -o $@ -lyajl -larchive -lcap-ng
# config.json / process.json and what `create` derives from them (tests/fuzz/fuzz_oci_spec.c).
FUZZ_OCI_SRC := shim/oci_spec.c shim/oci_security.c shim/oci_mounts.c shim/oci_guest_hooks.c \
	shim/oci_state.c shim/oci_cgroup.c shim/oci_log.c shim/cgroup.c shim/run_opts.c \
	shim/volume.c shim/virtiofsd.c shim/net_bridge.c shim/net_exec.c
$(B)/fuzz/fuzz_oci_spec: tests/fuzz/fuzz_oci_spec.c $(FUZZ_OCI_SRC) common/proto.c common/proto_run.c \
		common/proto_run_hooks.c common/proto_run_security.c common/proto_io.c common/proto_net.c \
		common/error.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $^ -o $@ -lyajl -lseccomp
fuzz: $(B)/fuzz/fuzz_oci_spec $(B)/fuzz/fuzz_image_layer $(B)/fuzz/fuzz_proto $(B)/fuzz/fuzz_virtqueue $(B)/fuzz/fuzz_image_meta $(B)/fuzz/fuzz_virtio_blk $(B)/fuzz/fuzz_virtio_rng \
		$(B)/fuzz/fuzz_virtio_vsock $(B)/fuzz/fuzz_virtio_net
	@set -e; for f in $^; do n=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$n; \
		echo "== $$n ($(FUZZ_SECONDS) s)"; \
		d=tests/fuzz/$$n.dict; [ -f $$d ] && d=-dict=$$d || d=; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$n- $$d \
			tests/fuzz/corpus/$$n >$(B)/fuzz/$$n.log 2>&1 || { tail -30 $(B)/fuzz/$$n.log; exit 1; }; \
		grep -E 'number_of_executed_units|DONE' $(B)/fuzz/$$n.log; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B) build-asan

-include $(shell find $(B)/obj $(B)/obj-testhooks -name '*.d' 2>/dev/null)
