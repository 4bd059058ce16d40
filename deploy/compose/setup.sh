#!/usr/bin/env bash
# Makes the configuration directory the compose project mounts at /etc/atoll:
#   deploy/compose/setup.sh DIR
# DIR/atoll.yaml (the topology), DIR/atoll.key (the cluster key) and
# DIR/certs (ca.crt and every gateway's certificate and key; the CA's key
# is kept in DIR/ca, not mounted). Files are made readable by uid 65532,
# the image's user. Needs the atoll binary on PATH or ATOLL=path.
set -euo pipefail
dir=${1:?usage: setup.sh DIR}
atoll=${ATOLL:-atoll}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
cp "$here/atoll.yaml" "$dir/atoll.yaml"
"$atoll" keygen -o "$dir/atoll.key"
"$atoll" certs "$dir/atoll.yaml" -d "$dir/ca" >/dev/null
mkdir -p "$dir/certs"
for f in "$dir"/ca/*; do
  case "$(basename "$f")" in ca.key) ;; *) cp "$f" "$dir/certs/" ;; esac
done
chown -R 65532:65532 "$dir/atoll.key" "$dir/certs"
chmod 0755 "$dir" "$dir/certs"
chmod 0644 "$dir/atoll.yaml"
