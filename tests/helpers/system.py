"""Tests that need a system package (the emoji font, Chromium, a JDK): skipped with the make
target to run where it is missing, and failed instead where `REQUIRED` is set, as CI sets it
after installing them, so a skip cannot hide a test there."""

import os

import pytest

REQUIRED = "KERAS_DALLE_REQUIRE_SYSTEM_PACKAGES"


def skip_unless(available, reason):
    """Returns when `available`; else skips the test with `reason`, or fails it under `REQUIRED`=1."""
    if available:
        return
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{reason} ({REQUIRED}=1: this run installs the system packages, so nothing may skip)")
    pytest.skip(reason)
