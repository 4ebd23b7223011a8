#!/usr/bin/env bash
# Installs what libdsa needs to build and test on Debian 12 (run as root). Idempotent.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config git libcriterion-dev libcjson-dev libxxhash-dev
  # the template layer's compilers and the OpenCL / Vulkan backends' headers and CPU devices
  glslang-dev glslang-tools spirv-tools libvulkan-dev clang
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  # HIP code objects for gfx90a / gfx940 / gfx1030, compiled offline in the compile checks; the HIP
  # runtime 5.2 and its hiprtc (libamdhip64-dev brings them), used with no device by test_internal_hip
  clang-15 libamdhip64-dev rocm-device-libs)
packages+=(python3-numpy) # tests/cli/test_cli.py (brings python3)
packages+=(python3-pip python3-setuptools python3-wheel) # offline `pip install ./python` (tests/python)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: dependencies present"
