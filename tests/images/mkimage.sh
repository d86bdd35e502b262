#!/bin/sh
# mkimage.sh OUT [TAG] -- an OCI image layout OUT holding one image (tag TAG, default "latest"):
# Debian's busybox-static as /bin/busybox with its applets linked, /etc/passwd and /etc/group.
# Built with umoci alone (no registry, no daemon): what the container tests run.
set -eu
OUT=${1:?usage: mkimage.sh OUT [TAG]}
TAG=${2:-latest}
BB=/bin/busybox
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE" # mktemp -d is 0700, and the layer's "/" would keep that
mkdir -p "$STAGE/bin" "$STAGE/etc" "$STAGE/root" "$STAGE/tmp" "$STAGE/proc" "$STAGE/sys" \
    "$STAGE/dev" "$STAGE/data"
chmod 1777 "$STAGE/tmp"
chmod 0700 "$STAGE/root"
cp "$BB" "$STAGE/bin/busybox"
if [ "$(id -u)" = 0 ]; then # links to /bin/busybox, made by busybox itself in one process
    chroot "$STAGE" /bin/busybox --install -s /bin
    ROOTLESS=
else
    for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"; done
    ROOTLESS=--rootless # the layer's entries owned by 0:0, not by the caller
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
    >"$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$STAGE/etc/group"
[ -e "$OUT/index.json" ] || umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
umoci insert $ROOTLESS --image "$OUT:$TAG" "$STAGE" /
umoci config --image "$OUT:$TAG" --config.cmd /bin/sh --config.env PATH=/bin \
    --config.workingdir / --config.label org.opencontainers.image.title=busybox
umoci gc --layout "$OUT"
