#!/usr/bin/env bash
# Debian packages a part of vt-tui needs: installed when run as root (or with password-less sudo); otherwise says how
# and goes on without that part, except in CI (CI=true), where every part is in the suite.
# Usage: debian-packages.sh PART "WHAT STILL WORKS WITHOUT IT" PACKAGE...
set -euo pipefail
part=$1 without=$2
shift 2
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo ">>> $part: install ${missing[*]} (or your system's equivalent) with your package manager; going on without $part."
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo ">>> $part: needs 'sudo apt-get install ${missing[*]}'; going on without $part ($without)."
    [ -z "${CI:-}" ] || exit 1
    exit 0
fi
echo ">>> $part: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
