"""Test support importable from any test module (tests/ is on sys.path through its conftest)."""

import os
import shutil

import pytest


def require_tool(*commands: str) -> None:
    """Skip on a developer machine without these commands; **fail** in CI, where ``make test`` installs them.

    A skipped protocol test must never pass for a proven one in CI.
    """
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (installed by 'make test' through scripts/deps/)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
