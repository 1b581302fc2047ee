"""Loaded at start-up by every Python process the tests start (tests/conftest.py puts this folder on PYTHONPATH)."""

import vt_netguard

vt_netguard.install()
