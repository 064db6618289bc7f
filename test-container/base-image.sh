#!/usr/bin/env bash
# Makes the stand-in for the Dockerfile's default base image
# (node:20-bookworm-slim) without an image registry: a minimal Debian
# bookworm from the mirror apt already uses, plus the Node.js 20 that runs
# this script (binary, npm, headers), laid out as the official image does
# (/usr/local). Reused when it already exists. Needs root, debootstrap and
# podman; CONTAINERS_CONF is taken from the environment.
# Usage: test-container/base-image.sh [image-name]
set -euo pipefail
IMAGE="${1:-localhost/node:20-bookworm-slim}"
pod() { podman --runtime runc "$@"; }

if pod image exists "$IMAGE"; then
  echo "base image $IMAGE: reused"
  exit 0
fi

# The mirror of apt's own bookworm entry (deb822 first, then sources.list).
mirror="$(awk -v RS= '/Suites:[^\n]*bookworm( |\n|$)/ { for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i + 1); exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d /var/tmp/bulwark-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
start=$SECONDS
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=ca-certificates,python3,make,g++ bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log"; rm -f "$rootfs.log"; exit 1
}
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

# This machine's Node.js, where node:20-bookworm-slim has it.
node_bin="$(readlink -f "$(command -v node)")"
node_prefix="$(dirname "$(dirname "$node_bin")")"
npm_dir="$(npm root -g)/npm"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
cp -a "$node_prefix/include/node" "$rootfs/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

tar -C "$rootfs" -c . | pod import --quiet --change 'CMD ["node"]' --change "ENV NODE_VERSION=$(node -p 'process.versions.node')" - "$IMAGE" >/dev/null
echo "base image $IMAGE: made in $((SECONDS - start)) s (node $(node --version))"
