#!/bin/sh
# Starts Debian's docker-registry on 127.0.0.1:PORT with its storage and config under DIR,
# in the background; prints its pid. With HTPASSWD (a file made by `htpasswd -B`), it asks
# for basic auth. Used by tests/integration/test_image_pull.c.
#   start-registry.sh DIR PORT [HTPASSWD]
set -eu
dir=$1 port=$2 htpasswd=${3:-}
mkdir -p "$dir/data"
{
	printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
	printf 'storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n' "$dir"
	printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
	if [ -n "$htpasswd" ]; then
		printf 'auth:\n  htpasswd:\n    realm: test-realm\n    path: %s\n' "$htpasswd"
	fi
} >"$dir/config.yml"
docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
echo $!
