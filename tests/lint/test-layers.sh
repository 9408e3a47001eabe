#!/usr/bin/env bash
# The layers, bottom up: lib/ -> xml/, fetch/ -> hooks/, wrapper/, cli/.
# Each target's include path holds only the folders it stands on, so an
# #include that reaches up does not compile.  This test tries exactly that
# with each target's own include path (from CMake), and also reads the
# sources for names of headers from a layer above.
set -euo pipefail
cd "${SRCDIR:?run through ctest}"
: "${CC:?}" "${INC_CORE:?}" "${INC_XML:?}" "${INC_FETCH:?}" "${INC_HOOK:?}" "${INC_SHIM:?}"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# compiles INCLUDE_PATH HEADER: 0 if a file including HEADER compiles there.
compiles() {
    local -a flags=()
    local d
    IFS=: read -ra dirs <<<"$1"
    for d in "${dirs[@]}"; do flags+=(-I "$d"); done
    printf '#include "%s"\n' "$2" >"$tmp/probe.c"
    "$CC" -std=gnu11 -D_GNU_SOURCE -fsyntax-only "${flags[@]}" "$tmp/probe.c" 2>/dev/null
}
# layer NAME PATH OWN_HEADER FORBIDDEN_HEADER...
layer() {
    local name=$1 path=$2 own=$3 h
    shift 3
    compiles "$path" "$own" || { echo "FAIL: $name cannot include its own $own" >&2; fail=1; }
    for h in "$@"; do
        if compiles "$path" "$h"; then
            echo "FAIL: $name can include $h, from a layer above it" >&2
            fail=1
        fi
    done
}
up_of_lib=(domain_xml.h fetch.h http.h glance.h peer.h cli.h qemu_img_args.h)
layer lib "$INC_CORE" domain.h "${up_of_lib[@]}"
layer xml "$INC_XML" domain_xml.h fetch.h http.h cli.h qemu_img_args.h
layer fetch "$INC_FETCH" fetch.h domain_xml.h cli.h qemu_img_args.h
layer hooks "$INC_HOOK" domain_xml.h fetch.h http.h peer.h cli.h
layer wrapper "$INC_SHIM" qemu_img_args.h fetch.h http.h domain_xml.h cli.h

# The sources themselves: a relative path would get past the include path.
# headers_of DIR: the header names DIR holds.
headers_of() { (cd "$1" && ls ./*.h 2>/dev/null | sed 's|^\./||'); }
# no_includes DIR FROM_DIR...: no file in DIR includes a header of FROM_DIR.
no_includes() {
    local dir=$1 from h hits
    shift
    for from in "$@"; do
        for h in $(headers_of "$from"); do
            [ -e "$dir/$h" ] && continue          # a header of its own name
            hits=$(grep -ln "#include *\"\\([^\"]*/\\)\\?$h\"" "$dir"/*.[ch] || true)
            if [ -n "$hits" ]; then
                echo "FAIL: $(tr '\n' ' ' <<<"$hits")include $from/$h, a layer above $dir/" >&2
                fail=1
            fi
        done
    done
}
no_includes lib xml fetch hooks wrapper cli
no_includes xml fetch hooks wrapper cli
no_includes fetch xml hooks wrapper cli
no_includes hooks fetch wrapper cli
no_includes wrapper fetch hooks cli
exit "$fail"
