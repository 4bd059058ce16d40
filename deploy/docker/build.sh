#!/usr/bin/env bash
# Builds the FROM scratch image around a static atoll binary:
#   deploy/docker/build.sh [TAG]        (default atoll:dev)
# No registry is needed: the binary is built on this host with the local Go
# toolchain and copied into the image.
set -euo pipefail
tag=${1:-atoll:dev}
root=$(cd "$(dirname "$0")/../.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/var/lib/atoll"
(cd "$root" && CGO_ENABLED=0 go build -o "$ctx/atoll" ./cmd/atoll)
cp "$root/deploy/docker/Dockerfile" "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx"
