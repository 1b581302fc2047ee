#!/usr/bin/env bash
# Debian packages for voice: PortAudio's headers (PyAudio builds from source against them) and espeak-ng (TTS).
# Installs them when run as root (or with password-less sudo); otherwise says how and goes on without voice,
# except in CI, where voice is part of the suite.
set -euo pipefail
PACKAGES=(portaudio19-dev espeak-ng sox)  # sox: the tests convert audio with it
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo ">>> voice: install PortAudio's headers and espeak-ng with your package manager; going on without voice."
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo ">>> voice: needs 'sudo apt-get install ${missing[*]}'; going on without voice (text works as usual)."
    [ -z "${CI:-}" ] || exit 1
    exit 0
fi
echo ">>> voice: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
