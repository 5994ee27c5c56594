#!/usr/bin/env bash
# Debian's Chromium, which tests/integration/test_report.py drives through Playwright to render report.html.
# Playwright's own browser download cannot work offline; the distribution's package can.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing: run 'sudo apt-get install chromium' (tests/integration/test_report.py renders the report in it)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
chromium --version
