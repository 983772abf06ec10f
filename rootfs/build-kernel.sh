#!/usr/bin/env bash
# Build (or fetch from the cache) the sandbox guest kernel: the uncompressed ELF vmlinux that
# sandbox-vmm boots through its PVH entry note.
#
#   rootfs/build-kernel.sh OUT
#
# Inputs: Debian's linux-source-6.1 tarball, rootfs/kernel/patches/*.patch (applied in order
# with patch -p1), rootfs/kernel/config-fragment (merged on top of `make tinyconfig`).
# Cache:  ${SANDBOX_KERNEL_CACHE:-/var/cache/sandbox/kernel}/<sha256>/{vmlinux,config,System.map,build-info,build.log}
#         keyed by the fragment, the patches, this script and the linux-source package version.
#         A cache hit links (or copies) vmlinux to OUT and returns at once. Builds run in a temp
#         dir next to the cache and are renamed into place, so an interrupted build leaves no entry.
# See docs/guest-kernel.md.
set -euo pipefail

PROG=build-kernel.sh
die() { echo "$PROG: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT (path of the vmlinux to produce)"
OUT=$1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KDIR=$HERE/kernel
FRAGMENT=$KDIR/config-fragment
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
SRC_PKG=linux-source-6.1
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CACHE_ROOT=${SANDBOX_KERNEL_CACHE:-/var/cache/sandbox/kernel}

[ -f "$FRAGMENT" ] || die "missing $FRAGMENT"
shopt -s nullglob
PATCHES=("$KDIR"/patches/*.patch)
shopt -u nullglob

# ---- the key: inputs that change the result -------------------------------------------------
SRC_VERSION=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null || true)
[ -n "$SRC_VERSION" ] && [ -f "$SRC_TAR" ] ||
	die "kernel source not found ($SRC_TAR); install it with: apt-get install $SRC_PKG"

HASH=$(
	{
		printf 'source %s %s\n' "$SRC_PKG" "$SRC_VERSION"
		printf 'fragment\n'; cat "$FRAGMENT"
		for p in "${PATCHES[@]}"; do printf 'patch %s\n' "$(basename "$p")"; cat "$p"; done
		printf 'script\n'; cat "$SELF"
	} | sha256sum | cut -d' ' -f1
)
ENTRY=$CACHE_ROOT/$HASH

# Publish the cached vmlinux at OUT: hard link when possible (same filesystem), else copy.
# Goes through a temp name so OUT is never half written.
publish() {
	mkdir -p "$(dirname "$OUT")"
	# Already the cached file (a hard link from an earlier run): nothing to do; mv would refuse.
	[ "$OUT" -ef "$ENTRY/vmlinux" ] && { touch -h "$OUT"; return 0; }
	local tmp="$OUT.tmp.$$"
	rm -f "$tmp"
	ln "$ENTRY/vmlinux" "$tmp" 2>/dev/null || cp "$ENTRY/vmlinux" "$tmp" ||
		die "cannot write $OUT"
	mv -f "$tmp" "$OUT"
}

if [ -f "$ENTRY/vmlinux" ]; then
	publish
	exit 0
fi

# ---- build ----------------------------------------------------------------------------------
for tool in make gcc flex bison bc patch xz perl; do
	command -v "$tool" >/dev/null 2>&1 || {
		case $tool in
		gcc | make) pkg=build-essential ;; xz) pkg=xz-utils ;; *) pkg=$tool ;;
		esac
		die "'$tool' not found; install it with: apt-get install $pkg"
	}
done
[ -f /usr/include/gelf.h ] || die "libelf headers not found; install them with: apt-get install libelf-dev"
[ -f /usr/include/openssl/opensslv.h ] || die "OpenSSL headers not found; install them with: apt-get install libssl-dev"

mkdir -p "$CACHE_ROOT" || die "cannot create $CACHE_ROOT (run as root or set SANDBOX_KERNEL_CACHE)"

# One builder per key: a second concurrent caller waits, then finds the entry.
exec 9>"$CACHE_ROOT/.lock-$HASH"
flock 9
if [ -f "$ENTRY/vmlinux" ]; then
	publish
	exit 0
fi

# Leftovers of builds of this key that were killed (we hold its lock, so none is running).
rm -rf "$CACHE_ROOT/.build-$HASH".*
WORK=$(mktemp -d "$CACHE_ROOT/.build-$HASH.XXXXXX")
LOG=$WORK/build.log
STAGE=setup
cleanup() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -f "$LOG" ]; then
		cp -f "$LOG" "$CACHE_ROOT/last-failed-build.log" 2>/dev/null || true
		tail -n 25 "$LOG" >&2 || true
		echo "$PROG: error: kernel build failed at stage '$STAGE' (full log: $CACHE_ROOT/last-failed-build.log)" >&2
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

T0=$(date +%s)
echo "$PROG: building guest kernel $HASH (takes minutes; log in $LOG)" >&2

STAGE="extract $SRC_TAR"
tar -xJf "$SRC_TAR" -C "$WORK" >>"$LOG" 2>&1
TREE=$WORK/linux-source-6.1
[ -d "$TREE" ] || { echo "no linux-source-6.1/ directory in $SRC_TAR" >>"$LOG"; false; }

for p in "${PATCHES[@]}"; do
	STAGE="apply patch $(basename "$p")"
	echo "== $STAGE" >>"$LOG"
	patch -p1 --forward --batch -d "$TREE" <"$p" >>"$LOG" 2>&1
done

# Keep the parent make's flags (e.g. CC=... overrides, jobserver) out of the kernel build.
kmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		KBUILD_BUILD_USER=sandbox KBUILD_BUILD_HOST=sandbox \
		make -C "$TREE" ARCH=x86_64 "$@" >>"$LOG" 2>&1
}

STAGE="make tinyconfig"
kmake tinyconfig
STAGE="merge config-fragment"
(cd "$TREE" && env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL ARCH=x86_64 \
	scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") >>"$LOG" 2>&1
kmake olddefconfig

# Dependencies silently drop options: check every setting of the fragment made it.
STAGE="verify .config against config-fragment"
missing=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" "$TREE/.config" || missing+=("$line")
		;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }
		sym=${sym%% is not set}
		if grep -q "^$sym=" "$TREE/.config"; then missing+=("$line"); fi
		;;
	esac
done <"$FRAGMENT"
if [ ${#missing[@]} -ne 0 ]; then
	for m in "${missing[@]}"; do
		sym=$(echo "$m" | grep -oE 'CONFIG_[A-Za-z0-9_]+')
		got=$(grep -E "^$sym=|^# $sym is not set" "$TREE/.config" || echo "absent")
		echo "wanted '$m', got '$got'" | tee -a "$LOG" >&2
	done
	echo "$PROG: error: ${#missing[@]} config-fragment setting(s) did not survive olddefconfig (unmet dependencies): $(printf '%s ' "${missing[@]}" | grep -oE 'CONFIG_[A-Za-z0-9_]+' | tr '\n' ' ')" >&2
	STAGE="verify .config (see above)"
	LOG=/dev/null
	exit 1
fi

STAGE="make vmlinux"
kmake -j"$(nproc)" vmlinux

STAGE="install into $ENTRY"
NEW=$WORK/entry
mkdir "$NEW"
cp "$TREE/vmlinux" "$NEW/vmlinux"
cp "$TREE/.config" "$NEW/config"
cp "$TREE/System.map" "$NEW/System.map"
cp "$LOG" "$NEW/build.log"
T1=$(date +%s)
{
	echo "hash: $HASH"
	echo "source: $SRC_PKG $SRC_VERSION ($(make -s -C "$TREE" kernelversion 2>/dev/null))"
	echo "patches: $(for p in "${PATCHES[@]}"; do basename "$p"; done | tr '\n' ' ')"
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cpus in $((T1 - T0)) s"
	echo "vmlinux bytes: $(stat -c %s "$NEW/vmlinux")"
} >"$NEW/build-info"
mv -T "$NEW" "$ENTRY"

echo "$PROG: built $ENTRY/vmlinux in $((T1 - T0)) s" >&2
publish
