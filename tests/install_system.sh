#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# Chromium for the browser tests (tests/test_panel_browser*.py; Playwright
# drives it through executable_path, its own browser download is neither
# needed nor used) and ffmpeg for the video tests (FiftyOne reads videos'
# metadata with ffprobe). Idempotent and quiet.
set -euo pipefail

PACKAGES=""
[ -x /usr/bin/chromium ] || PACKAGES="$PACKAGES chromium"
[ -x /usr/bin/ffmpeg ] || PACKAGES="$PACKAGES ffmpeg"
if [ -z "$PACKAGES" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_system.sh:$PACKAGES missing and this user cannot apt-get install them" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
test -x /usr/bin/chromium
test -x /usr/bin/ffmpeg
