#!/usr/bin/env bash
# Install what cowherd needs to build, test and demo on Debian 12, then build
# it into build/ (prefix /usr, so the hook reads /etc/cowherd/cowherd.conf).
# Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libxml2-dev libinih-dev libjson-c-dev libssl-dev libcurl4-openssl-dev libcmocka-dev libvirt-dev valgrind
  # the real things the tests and the demo run
  libvirt-daemon-system libvirt-clients qemu-utils qemu-system-x86
  dosfstools e2fsprogs util-linux iproute2 python3 curl glance-api keystone openssh-server openssh-client
  # Nova's own code, which tests/nova calls; its libvirt driver needs the
  # bindings, which python3-nova does not pull in; rsync is one of the
  # driver's transports for a resize
  python3-nova python3-libvirt rsync
  # packages: building and checking the .deb and the .rpm
  debhelper dpkg-dev fakeroot lintian rpm rpmlint
  # benchmarks
  hyperfine
)

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
    missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A freshly installed libvirt-daemon-system may have started the host's own
# libvirtd; the tests and the demo run private ones and do not need it.

echo "setup: building into build/"
cmake -S . -B build -DCMAKE_INSTALL_PREFIX=/usr -DCOWHERD_WERROR=ON >/dev/null
if ! cmake --build build -j"$(nproc)" >build.log 2>&1; then
  cat build.log >&2
  exit 1
fi
