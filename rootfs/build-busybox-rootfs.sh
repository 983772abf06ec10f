#!/bin/bash
# Builds a small container rootfs directory from Debian's busybox-static: /bin/busybox plus one
# symlink per applet, and the /etc files a container expects. Used by tests and `make demo`.
# Usage: build-busybox-rootfs.sh OUTDIR
set -euo pipefail

out=${1:?usage: build-busybox-rootfs.sh OUTDIR}
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || {
	echo "build-busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
readelf -l "$bb" 2>/dev/null | grep -q 'INTERP' && {
	echo "build-busybox-rootfs: $bb is not static (install busybox-static, not busybox)" >&2; exit 1; }

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,home,var/tmp,run}
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 0700 "$tmp/root"
install -m 0755 "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] && continue
	ln -sf busybox "$tmp/bin/$applet"
done
cat >"$tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$tmp/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
echo "sandbox" >"$tmp/etc/hostname"
: >"$tmp/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$tmp/etc/hosts"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
