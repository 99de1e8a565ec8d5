#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/test_panel_browser.py)
# when it is missing. Playwright drives it through executable_path; its own
# browser download is neither needed nor used. Idempotent and quiet.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser.sh: /usr/bin/chromium is missing and this user cannot apt-get install it" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
