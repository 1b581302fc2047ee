#!/usr/bin/env bash
# Debian packages for voice: PortAudio's headers (PyAudio builds from source against them), espeak-ng (TTS) and sox
# (the tests convert audio with it).
exec bash "$(dirname "$0")/debian-packages.sh" voice "text works as usual" portaudio19-dev espeak-ng sox
