#!/usr/bin/env bash
# Build cowherd's packages from a clean copy of this tree: the .deb
# (packaging/debian, dpkg-buildpackage -us -uc -b) and the .rpm
# (packaging/rpm/cowherd.spec, rpmbuild), both cowherd and cowherd-nova.
# The version is CMake's project() version; the package revision (Debian
# revision, RPM Release) is --revision.  Nothing is written into the tree
# but the output directory.
#
#   scripts/package.sh [--deb|--rpm] [--revision N] [--outdir DIR] [--no-check] [--lint]
#
#   --deb, --rpm   only that format (default: both)
#   --revision N   package revision (default 1): a rebuild with a higher N
#                  upgrades an installed one
#   --outdir DIR   where the packages go (default dist/); cowherd packages
#                  an earlier run left there are removed first
#   --no-check     do not run the unit tests during the build
#   --lint         then run lintian (.changes, with the .debs) and rpmlint
#                  (the spec and the .rpms); any lintian error or warning,
#                  or rpmlint error, fails
#
# Needs debhelper, dpkg-dev, rpm (and lintian, rpmlint for --lint).  The
# .rpm is built here with Debian's rpm: --nodeps, since the build
# dependencies it names (pkgconfig(...)) are Fedora's and are satisfied
# here by Debian's packages, which rpm does not know about;
# packaging/rpm/macros.debian-build supplies the Fedora macros Debian's rpm
# lacks.  On Fedora, RHEL or RDO, build the spec with rpmbuild or mock as
# usual (from the source tarball this script writes to the output
# directory).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
want_deb=1 want_rpm=1 revision=1 outdir=$repo/dist check=1 lint=0

usage() {
    echo "usage: scripts/package.sh [--deb|--rpm] [--revision N] [--outdir DIR] [--no-check] [--lint]" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --deb) want_rpm=0 ;;
    --rpm) want_deb=0 ;;
    --revision) revision=${2:?--revision needs a number}; shift ;;
    --outdir) outdir=${2:?--outdir needs a directory}; shift ;;
    --no-check) check=0 ;;
    --lint) lint=1 ;;
    *) usage ;;
    esac
    shift
done
[[ $revision =~ ^[1-9][0-9]*$ ]] || { echo "package.sh: --revision must be a positive integer" >&2; exit 2; }

say() {
    echo "package.sh: $*" >&2
}

version=$(sed -n 's/^project(cowherd VERSION \([0-9][0-9.]*\)[ )].*/\1/p' "$repo/CMakeLists.txt")
[[ $version =~ ^[0-9]+(\.[0-9]+)*$ ]] ||
    { say "no version in CMakeLists.txt's project(cowherd VERSION ...)"; exit 1; }
debver=$version-$revision
say "cowherd $version, package revision $revision"

work=$(mktemp -d /tmp/cowherd-package.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The clean tree: what git tracks plus what it does not ignore (new files
# not yet added), as they are in the working tree; build directories,
# dist/ and everything else .gitignore names stay out.  Outside git: the
# tree less build*/, dist/ and .git.
src=$work/cowherd-$version
mkdir -p "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (
        cd "$repo"
        git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do
                # Deleted in the working tree, not yet in the index.
                [ -e "$f" ] || [ -L "$f" ] || continue
                printf '%s\0' "$f"
            done |
            tar --null --no-recursion -T - -cf - | tar -xf - -C "$src"
    )
else
    tar -C "$repo" --exclude='./build*' --exclude=./dist --exclude=./.git -cf - . |
        tar -xf - -C "$src"
fi

# Dates in the packages: the Debian changelog's (dpkg-buildpackage sets
# SOURCE_DATE_EPOCH from it), so a rebuild of the same tree is the same.
changelog=$src/packaging/debian/changelog
top=$(dpkg-parsechangelog -l "$changelog" -S Version)
if [ "$top" != "$debver" ]; then
    # A version the changelog does not name yet: an entry for it on top.
    maint=$(sed -n 's/^Maintainer: //p' "$src/packaging/debian/control")
    {
        printf 'cowherd (%s) unstable; urgency=medium\n\n' "$debver"
        printf '  * Built by scripts/package.sh from CMake project version %s.\n\n' "$version"
        printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
        cat "$changelog"
    } >"$changelog.new"
    mv "$changelog.new" "$changelog"
fi
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

# The source tarball (Source0 of the spec; the .orig.tar.gz of a Debian
# source upload).
tarball=$work/cowherd-$version.tar.gz
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$SOURCE_DATE_EPOCH" -cf - "cowherd-$version" | gzip -n >"$tarball"

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
rm -f "$outdir"/cowherd[-_]* "$outdir"/cowherd.spec
cp "$tarball" "$outdir/"

if [ "$want_deb" = 1 ]; then
    say "building the .debs"
    debsrc=$work/deb/cowherd-$version
    mkdir -p "$work/deb"
    cp -a "$src" "$debsrc"
    cp -a "$debsrc/packaging/debian" "$debsrc/debian"
    opts=${DEB_BUILD_OPTIONS:-}
    [ "$check" = 1 ] || opts="$opts nocheck"
    (
        cd "$debsrc"
        DEB_BUILD_OPTIONS="${opts# }" dpkg-buildpackage -us -uc -b -Jauto >"$work/deb/build.log" 2>&1
    ) || { tail -n 40 "$work/deb/build.log" >&2; say "dpkg-buildpackage failed"; exit 1; }
    cp "$work"/deb/*.deb "$work"/deb/*.changes "$work"/deb/*.buildinfo "$outdir/"
    cp "$work/deb/build.log" "$outdir/cowherd_${debver}_deb-build.log"
fi

if [ "$want_rpm" = 1 ]; then
    say "building the .rpms"
    rpmtop=$work/rpm
    mkdir -p "$rpmtop/SOURCES" "$rpmtop/SPECS"
    cp "$tarball" "$rpmtop/SOURCES/"
    sed -e "s/^Version:\( *\).*/Version:\1$version/" \
        -e "s/^Release:\( *\).*/Release:\1$revision%{?dist}/" \
        "$src/packaging/rpm/cowherd.spec" >"$rpmtop/SPECS/cowherd.spec"
    rpmopts=(--define "_topdir $rpmtop" --nodeps)
    # Debian's rpm lacks Fedora's macros.
    if [ -r /etc/debian_version ]; then
        rpmopts+=(--load "$src/packaging/rpm/macros.debian-build")
    fi
    [ "$check" = 1 ] || rpmopts+=(--without check)
    rpmbuild -bb "${rpmopts[@]}" "$rpmtop/SPECS/cowherd.spec" >"$rpmtop/build.log" 2>&1 ||
        { tail -n 40 "$rpmtop/build.log" >&2; say "rpmbuild failed"; exit 1; }
    cp "$rpmtop"/RPMS/*/*.rpm "$outdir/"
    cp "$rpmtop/SPECS/cowherd.spec" "$outdir/"
    cp "$rpmtop/build.log" "$outdir/cowherd-$version-$revision.rpm-build.log"
fi

if [ "$lint" = 1 ]; then
    rc=0
    if [ "$want_deb" = 1 ]; then
        say "lintian"
        # Errors and warnings fail; overrides are in packaging/debian/*.lintian-overrides.
        lintian --fail-on error,warning --info "$outdir"/cowherd_"$debver"_*.changes || rc=1
    fi
    if [ "$want_rpm" = 1 ]; then
        say "rpmlint"
        rpmlint -c "$src/packaging/rpm/rpmlint.toml" "$outdir/cowherd.spec" "$outdir"/cowherd-*.rpm || rc=1
    fi
    [ "$rc" = 0 ] || { say "lint failed"; exit 1; }
fi

say "in $outdir:"
(cd "$outdir" && ls -1 cowherd-*.tar.gz cowherd[-_]*.deb cowherd[-_]*.rpm >&2 2>/dev/null) || true
