#!/usr/bin/env bash
# Set up a fresh Debian 12 machine: system libraries, then a virtual environment with mtdagger.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
VENV="${VENV:-.venv}"

# open3d / pyrealsense2 need libusb-1.0; MuJoCo renders headless through EGL (Mesa).
APT_PACKAGES=(libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgles2 libgomp1)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
# Torch first and pinned: the CPU build. An unpinned torch would pull several GB of CUDA wheels.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" install "torch==2.13.0" 2> >(grep -v "is ignored" >&2)
"${PIP[@]}" install -e ".[test]" 2> >(grep -v "is ignored" >&2)
