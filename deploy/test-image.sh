#!/usr/bin/env bash
# Builds doq's runtime image from a locally built binary, for tests: no base image is pulled (no
# registry is reachable in CI), so the image is FROM scratch with the binary, the shared libraries `ldd`
# lists and the dynamic loader. Its runtime layout (config file, user, volume, ports, healthcheck,
# entrypoint) is the tail of deploy/Dockerfile, copied here verbatim, so the two cannot drift.
#
#   deploy/test-image.sh [BINARY] [TAG]
#     BINARY  default: $CARGO_TARGET_DIR/debug/doq (the test build's; CI builds no release binary)
#     TAG     default: doq-test:local
#   DOQ_TEST_LABEL  label value for the image (doq-test=<value>), default: local
#
# Prints the image id on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$here/../target}/debug/doq}"
tag="${2:-doq-test:local}"
label="${DOQ_TEST_LABEL:-local}"

[ -x "$binary" ] || { echo "test-image.sh: no executable doq binary at $binary" >&2; exit 1; }
command -v docker >/dev/null || { echo "test-image.sh: docker is not installed" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/data" "$ctx/deploy"
chmod 1777 "$ctx/rootfs/tmp"
cp "$binary" "$ctx/rootfs/usr/local/bin/doq"
# Every library the binary loads, and the loader itself, at the paths the binary expects them.
# (`ldd` prints "name => /path (addr)" for libraries and "/path (addr)" for the loader.)
ldd "$binary" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | sort -u | while read -r lib; do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
done
# glibc resolves peer names (doq-0:9000) through NSS; say where to look, as a Debian image would.
printf 'hosts: files dns\n' > "$ctx/rootfs/etc/nsswitch.conf"
cp "$here/doq.toml" "$ctx/deploy/doq.toml"

{
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "COPY --chown=10001:10001 data /data"
    echo
    sed -n '/^# --- runtime layout/,$p' "$here/Dockerfile"
} > "$ctx/Dockerfile"

docker build --quiet --label "doq-test=$label" -t "$tag" "$ctx" >/dev/null
docker image inspect --format '{{.Id}}' "$tag"
