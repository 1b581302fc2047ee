#!/usr/bin/env bash
# Debian's Chromium for the browser test of `vt-tui web` (tests/functional/test_web_browser.py drives it through its
# DevTools protocol): a package, never a browser downloaded by a test tool.
exec bash "$(dirname "$0")/debian-packages.sh" "browser tests" "vt-tui web itself needs no browser here" chromium
