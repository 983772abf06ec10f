#!/bin/bash
# Builds the images tests/integration/test_image_pull.c pushes, pulls and loads, under WORK:
#   busybox/    OCI layout of ROOTFS (busybox-static), linux/amd64
#   multi/      three layers: base files; a whiteout deleting /etc/hostname and an opaque /opt;
#               /etc/hostname recreated (deleted-then-recreated)
#   arm/        a linux/arm64 image (its config says so)
#   list/       a manifest list (OCI index) of busybox (amd64) and arm (arm64)
#   armlist/    a manifest list holding only arm64
#   save.tar    a `docker save` archive (manifest.json, config, uncompressed layer.tar) of busybox
#   oci.tar     busybox/ as an OCI archive
#   hostile.tar an archive with a "../escape" entry
#   hostile-link.tar  its index.json a symlink out of the archive
#   make-fixtures.sh WORK ROOTFS
set -euo pipefail
work=$1 rootfs=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../../rootfs/build-oci-image.sh
cd "$work"

"$build" --cmd '["sh"]' --env PATH=/usr/bin:/bin --created 2024-01-02T03:04:05Z "$rootfs" busybox >/dev/null

mkdir -p l1/etc l1/opt/old l2/etc l2/opt l3/etc
echo base >l1/etc/hostname
echo old >l1/opt/old/file
echo motd >l1/etc/motd
touch l2/etc/.wh.hostname l2/opt/.wh..wh..opq
echo new >l2/opt/new
echo recreated >l3/etc/hostname
"$build" --cmd '["cat","/etc/hostname"]' l1 multi >/dev/null
"$build" --add-layer l2 multi >/dev/null
"$build" --add-layer l3 multi >/dev/null

mkdir -p armroot/etc && echo arm >armroot/etc/arch
"$build" --platform linux/arm64 armroot arm >/dev/null

# A manifest list: an index blob naming one manifest per platform, referenced from index.json.
python3 - busybox arm list <<'EOF'
import hashlib, json, os, shutil, sys
*srcs, out = sys.argv[1:]
def make(out, srcs):
    os.makedirs(out + "/blobs/sha256", exist_ok=True)
    descs = []
    for s in srcs:
        for b in os.listdir(s + "/blobs/sha256"):
            shutil.copy(s + "/blobs/sha256/" + b, out + "/blobs/sha256/" + b)
        descs += json.load(open(s + "/index.json"))["manifests"]
    for d in descs:
        d.pop("annotations", None)
    data = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": descs}).encode()
    h = hashlib.sha256(data).hexdigest()
    open(out + "/blobs/sha256/" + h, "wb").write(data)
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + h,
        "size": len(data)}]}, open(out + "/index.json", "w"))
    open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
make(out, srcs)
make("armlist", ["arm"])
EOF

# docker save: <hex>.json config, <id>/layer.tar uncompressed, manifest.json with RepoTags.
python3 - busybox save <<'EOF'
import gzip, json, os, shutil, sys
src, out = sys.argv[1:]
blob = lambda d: src + "/blobs/sha256/" + d.split(":")[1]
m = json.load(open(blob(json.load(open(src + "/index.json"))["manifests"][0]["digest"])))
os.makedirs(out, exist_ok=True)
cfg = m["config"]["digest"].split(":")[1] + ".json"
shutil.copy(blob(m["config"]["digest"]), out + "/" + cfg)
layers = []
for i, l in enumerate(m["layers"]):
    os.makedirs("%s/layer%d" % (out, i), exist_ok=True)
    with gzip.open(blob(l["digest"])) as f, open("%s/layer%d/layer.tar" % (out, i), "wb") as o:
        shutil.copyfileobj(f, o)
    layers.append("layer%d/layer.tar" % i)
json.dump([{"Config": cfg, "RepoTags": ["saved/busybox:1.0"], "Layers": layers}],
          open(out + "/manifest.json", "w"))
EOF
tar -C save -cf save.tar .
tar -C busybox -cf oci.tar .

mkdir -p hostile && cp -r busybox/. hostile/ && echo evil >escape
tar -C hostile -cf hostile.tar . && tar -rPf hostile.tar --transform 's|^|../|' escape
rm hostile/index.json && ln -s ../../../../etc/hostname hostile/index.json
tar -C hostile -cf hostile-link.tar .
