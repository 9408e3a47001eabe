#!/usr/bin/env bash
# The packages and their scripts, linted:
#
#  - scripts/package.sh --lint: lintian on the .changes (with the .debs)
#    shows no error and no warning, rpmlint on the spec and the .rpms no
#    error (its warnings are explained in docs/packaging.md, and the list
#    of them is pinned here, so a new one is seen);
#  - every lintian override is justified by a comment above it;
#  - the maintainer scripts and the nova-compute-start helper are POSIX sh
#    (dash -n, and shellcheck when installed); the libvirt reload of
#    cowherd.postinst and cowherd.postrm is one and the same function.
set -euo pipefail
source "$(dirname "$0")/pkg.sh"
private_ns "$@"
requires lintian rpmlint dash
mktempdir tmp
pkg=$PKG_SRCDIR/packaging

# ---- the scripts -------------------------------------------------------------
scripts=("$pkg"/debian/*.postinst "$pkg"/debian/*.postrm "$pkg/systemd/nova-compute-start")
for s in "${scripts[@]}"; do
    dash -n "$s" || die "$s: not valid sh"
    [ "$(head -n 1 "$s")" = "#!/bin/sh" ] || die "$s: not a #!/bin/sh script"
done
if command -v shellcheck >/dev/null; then
    shellcheck -s sh "${scripts[@]}" || die "shellcheck (above)"
    shellcheck -x "$PKG_SRCDIR/scripts/package.sh" || die "shellcheck scripts/package.sh (above)"
else
    note "shellcheck not installed: only dash -n"
fi
reload_fn() {
    sed -n '/^cowherd_reload_libvirt() {$/,/^}$/p' "$1"
}
reload_fn "$pkg/debian/cowherd.postinst" >"$tmp/postinst.fn"
reload_fn "$pkg/debian/cowherd.postrm" >"$tmp/postrm.fn"
[ -s "$tmp/postinst.fn" ] || die "no cowherd_reload_libvirt in cowherd.postinst"
diff -u "$tmp/postinst.fn" "$tmp/postrm.fn" ||
    die "cowherd.postinst and cowherd.postrm reload libvirt differently"

# Each override line has a comment line above it (blank lines end a
# justification).
for f in "$pkg"/debian/*.lintian-overrides; do
    awk -v f="$f" '
        /^#/ { justified = 1; next }
        /^[[:space:]]*$/ { justified = 0; next }
        !justified { print f ": override without a comment: " $0; bad = 1 }
        END { exit bad }' "$f" || die "unjustified lintian override (above)"
done

# ---- the packages ------------------------------------------------------------
build_packages "$tmp/dist" --lint
# lintian: package.sh fails on any error or warning; what it said anyway.
sed -n '/^package.sh: lintian/,/^package.sh: rpmlint/p' "$tmp/dist.log" >"$tmp/lintian.out"
if grep -E '^[EW]: ' "$tmp/lintian.out"; then
    die "lintian errors or warnings (above)"
fi
note "lintian: no error, no warning"

# rpmlint: no error; exactly the warnings docs/packaging.md explains.
sed -n '/^package.sh: rpmlint/,/^package.sh: in /p' "$tmp/dist.log" >"$tmp/rpmlint.out"
summary=$(grep -E '^ *[0-9]+ packages and [0-9]+ specfiles checked' "$tmp/rpmlint.out") ||
    { cat "$tmp/rpmlint.out" >&2; die "no rpmlint summary"; }
[[ $summary =~ \ 0\ errors, ]] || { cat "$tmp/rpmlint.out" >&2; die "rpmlint errors: $summary"; }
sed -n 's/^[^ ]*: W: \([^ ]*\).*/\1/p' "$tmp/rpmlint.out" | LC_ALL=C sort -u >"$tmp/warnings"
cat >"$tmp/explained" <<'EOF'
dangling-relative-symlink
invalid-license
invalid-url
no-documentation
no-manual-page-for-binary
no-url-tag
only-non-binary-in-usr-lib
unstripped-binary-or-object
EOF
if ! diff -u "$tmp/explained" "$tmp/warnings" >"$tmp/warnings.diff"; then
    cat "$tmp/rpmlint.out" >&2
    cat "$tmp/warnings.diff" >&2
    die "rpmlint's warnings changed (- explained, + now): explain them in docs/packaging.md and here"
fi
for w in $(cat "$tmp/warnings"); do
    grep -qF "$w" "$PKG_SRCDIR/docs/packaging.md" || die "docs/packaging.md does not explain $w"
done
summary=${summary# }
note "rpmlint: ${summary%%;*}; 0 errors, $(wc -l <"$tmp/warnings") kinds of warning, each explained"
