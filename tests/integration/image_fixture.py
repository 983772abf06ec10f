#!/usr/bin/env python3
"""Test images for tests/integration/test_image_run.c that rootfs/build-oci-image.sh cannot make.

  image_fixture.py hostile LAYOUT KIND DIR an OCI layout over the busybox layout given in LAYOUT
                                           plus one layer a sane tar tool would never write:
                                           KIND path ("../escape") or link (a symlink to an
                                           absolute host path DIR, then a file written through it)
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def read_blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return json.load(f)


def hostile_layer(kind, target):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_file(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if kind == "path":
            add_file("../escape", b"escaped\n")
        else:
            link = tarfile.TarInfo("evil")
            link.type = tarfile.SYMTYPE
            link.linkname = target
            tar.addfile(link)
            add_file("evil/escape", b"escaped\n")
    return buf.getvalue()


def hostile(layout, kind, target):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    manifest = read_blob(layout, index["manifests"][0]["digest"])
    config = read_blob(layout, manifest["config"]["digest"])
    layer = hostile_layer(kind, target)
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               **put_blob(layout, layer)})
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(layer).hexdigest())
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          **put_blob(layout, json.dumps(config).encode())}
    m = put_blob(layout, json.dumps(manifest).encode())
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "hostile" or sys.argv[3] not in ("path", "link"):
        sys.exit(__doc__)
    hostile(sys.argv[2], sys.argv[3], sys.argv[4])
