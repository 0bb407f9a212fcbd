#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine: PyTorch/ONNX from Debian (no PyPI), Node packages.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! /usr/bin/python3 -c "import torch, onnx, scipy, PIL, pytest" 2>/dev/null || [ ! -x /usr/bin/chromium ] || ! command -v redis-server >/dev/null; then
  $SUDO apt-get update -qq
  # chromium: the web page's end-to-end test (driven by playwright-core; never `npx playwright install`)
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    python3-torch python3-onnx python3-numpy python3-scipy python3-pil python3-pytest chromium redis-server >/dev/null
fi
ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund
/usr/bin/python3 -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
