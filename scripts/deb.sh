#!/bin/sh
# make deb: builds dist/jobplane_VERSION_ARCH.deb with debhelper, in a copy of
# the sources (the checkout's build/ is not touched), from packaging/debian.
#   scripts/deb.sh VERSION
set -eu
cd "$(dirname "$0")/.."
VERSION=$1
ARCH=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
src=$stage/jobplane-$VERSION
mkdir -p "$src"
cp -r Makefile LICENSE README.md src docs scripts packaging ui "$src/"
cp -r packaging/debian "$src/debian"
# the changelog is made here: the version is the Makefile's
{
    echo "jobplane ($VERSION) unstable; urgency=medium"
    echo
    echo "  * jobplane $VERSION."
    echo
    echo " -- jobplane developers <maintainers@jobplane.example.net>  $(date -R)"
} >"$src/debian/changelog"
(cd "$src" && dpkg-buildpackage -b -us -uc -j2 >"$stage/build.log" 2>&1) || {
    tail -40 "$stage/build.log" >&2
    echo "make deb: dpkg-buildpackage failed" >&2
    exit 1
}
mkdir -p dist
cp "$stage/jobplane_${VERSION}_${ARCH}.deb" dist/
echo "dist/jobplane_${VERSION}_${ARCH}.deb"
