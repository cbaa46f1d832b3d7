#!/usr/bin/env bash
# Install Debian's Chromium and chromedriver for tests/integration/test_web.py.
#
# Idempotent and cheap when they are already there: apt runs only if /usr/bin/chromium
# or /usr/bin/chromedriver is missing. Needs root (CI containers run as root); test
# tools' own browser downloads do not work here, so the browser comes from Debian.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "== browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium present)"
    exit 0
fi

if [[ "$(id -u)" != "0" ]]; then
    echo "install-browser: /usr/bin/chromium is missing and this is not root;" >&2
    echo "  run: sudo apt-get update && sudo apt-get install -y chromium chromium-driver" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver
echo "== browser: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
