#!/bin/bash
# Turns a rootfs directory into an OCI image layout (image-spec v1: oci-layout, index.json,
# blobs/sha256/*): one gzip'd layer tar, an image config and a manifest. With --add-layer, a
# further layer is appended to the image already in OUT (whiteouts such as .wh.NAME and
# .wh..wh..opq in the directory are kept as they are), so tests can build multi-layer images.
#
#   build-oci-image.sh [OPTIONS] ROOTFS_DIR OUT_DIR
#   build-oci-image.sh --add-layer [OPTIONS] LAYER_DIR OUT_DIR
#
# Options (config ones replace what the image had):
#   --entrypoint JSON   e.g. '["/bin/sh","-c"]'       --cmd JSON    e.g. '["sh"]'
#   --env K=V           repeatable                    --workdir DIR --user USER
#   --tag REF           org.opencontainers.image.ref.name of the manifest: a tag ("latest",
#                       the default) or NAME:TAG, which `sandbox load` takes as the image's name
#   --platform OS/ARCH  default linux/amd64
#   --created RFC3339   default now (UTC)
# Needs GNU tar, gzip and python3 (for the JSON).
set -euo pipefail

add_layer=0 entrypoint= cmd= workdir= user= tag=latest platform=linux/amd64 created=
envs=()
usage() { sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--add-layer) add_layer=1 ;;
	--entrypoint) entrypoint=$2; shift ;;
	--cmd) cmd=$2; shift ;;
	--env) envs+=("$2"); shift ;;
	--workdir) workdir=$2; shift ;;
	--user) user=$2; shift ;;
	--tag) tag=$2; shift ;;
	--platform) platform=$2; shift ;;
	--created) created=$2; shift ;;
	-h|--help) usage ;;
	-*) echo "build-oci-image.sh: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 2 ] || usage
src=$1 out=$2
[ -d "$src" ] || { echo "build-oci-image.sh: '$src' is not a directory" >&2; exit 1; }
if [ "$add_layer" = 1 ] && [ ! -f "$out/index.json" ]; then
	echo "build-oci-image.sh: --add-layer: '$out' is not an OCI layout" >&2; exit 1
fi
[ -n "$created" ] || created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$out/blobs/sha256"
work=$(mktemp -d "${TMPDIR:-/tmp}/build-oci-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The layer: a tar of the directory's contents (owners, modes, xattrs and hard links as they
# are), its sha256 is the config's diff_id; gzip'd, its sha256 is the blob's digest.
tar -C "$src" --numeric-owner --xattrs --xattrs-include='*' --sort=name -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" >"$work/layer.tar.gz"
layer=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
mv "$work/layer.tar.gz" "$out/blobs/sha256/$layer"

env_json=$(printf '%s\0' ${envs[@]+"${envs[@]}"} | python3 -c \
	'import sys,json; print(json.dumps([e for e in sys.stdin.read().split("\0") if e]))')

python3 - "$out" "$add_layer" "$layer" "$diff_id" "$(stat -c %s "$out/blobs/sha256/$layer")" \
	"$tag" "$platform" "$created" "$entrypoint" "$cmd" "$env_json" "$workdir" "$user" <<'EOF'
import hashlib, json, os, sys

out, add, layer, diff_id, size, tag, platform, created, ep, cmd, env, wd, user = sys.argv[1:]
osname, arch = platform.split("/", 1)
blobs = os.path.join(out, "blobs", "sha256")

def read_blob(digest):
    with open(os.path.join(blobs, digest.split(":", 1)[1]), "rb") as f:
        return json.load(f)

def put_blob(obj):
    data = json.dumps(obj, indent=2, sort_keys=True).encode()
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}

if add == "1":
    with open(os.path.join(out, "index.json")) as f:
        index = json.load(f)
    if len(index["manifests"]) != 1:
        sys.exit("build-oci-image.sh: --add-layer needs a layout with exactly one manifest")
    manifest = read_blob(index["manifests"][0]["digest"])
    config = read_blob(manifest["config"]["digest"])
else:
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "layers": []}
    config = {"architecture": arch, "os": osname, "config": {},
              "rootfs": {"type": "layers", "diff_ids": []}, "history": []}

config["created"] = created
config["architecture"], config["os"] = arch, osname
c = config.setdefault("config", {})
if ep: c["Entrypoint"] = json.loads(ep)
if cmd: c["Cmd"] = json.loads(cmd)
if wd: c["WorkingDir"] = wd
if user: c["User"] = user
envs = json.loads(env)
if envs:
    keys = {e.split("=", 1)[0] for e in envs}
    c["Env"] = [e for e in c.get("Env", []) if e.split("=", 1)[0] not in keys] + envs
config["rootfs"]["diff_ids"].append("sha256:" + diff_id)
config["history"].append({"created": created, "created_by": "build-oci-image.sh"})
manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": "sha256:" + layer, "size": int(size)})
cfg = put_blob(config)
manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg}
m = put_blob(manifest)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                        "platform": {"architecture": arch, "os": osname},
                        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f, indent=2)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print(m["digest"])
EOF
