#!/usr/bin/env bash
# Set up and run the whole test suite: the normal build (unit, valgrind,
# hostile input, real libvirtd), an ASan+UBSan build of the same, and a short
# libFuzzer run of every fuzz target.  Run as root on Debian 12.
# Ends with the list of skipped tests; with CI=true a skip that
# tests/skips-allowed does not name fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

./scripts/setup.sh

reports=()
# ctest_in DIR ARGS...: run ctest in DIR, keeping its JUnit report.
ctest_in() {
    local dir=$1
    shift
    reports+=("$dir/ctest-junit.xml")
    (cd "$dir" && ctest --output-on-failure --output-junit ctest-junit.xml "$@")
}

echo "=== sanitizers: ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_INSTALL_PREFIX=/usr -DCOWHERD_WERROR=ON \
      -DCOWHERD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$(nproc)"
# valgrind: the normal build's; prlimit: Nova runs the shim under a 1 GiB
# address-space limit, too small for ASan's shadow (tests/CMakeLists.txt);
# packaging: builds its packages from the source tree, not from this build.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest_in build-asan -LE 'valgrind|prlimit|packaging'

echo "=== fuzz: ${FUZZ_SECONDS} s per target"
CC=clang cmake -S . -B build-fuzz -DCOWHERD_FUZZ=ON -DBUILD_TESTING=OFF \
      -DCOWHERD_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)"
for t in fuzz-domain-plan:domain fuzz-qcow2-header:qcow2 fuzz-json:json fuzz-state:state \
         fuzz-extstream:extstream fuzz-snaptop:snaptop; do
  target=${t%%:*} corpus=fuzz/corpus/${t##*:}
  work=$(mktemp -d)
  cp -r "$corpus/." "$work/"
  ./build-fuzz/fuzz/"$target" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=1024 \
      -artifact_prefix=build-fuzz/ "$work" 2>&1 | tail -n 2
  rm -rf "$work"
done

echo "=== tests: normal build (unit, valgrind, hostile input, libvirtd)"
ctest_in build

./tests/check-skips.py tests/skips-allowed "${reports[@]}"
