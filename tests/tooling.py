"""Test support importable from any test module (tests/ is on sys.path through its conftest)."""

import os
import shutil
from typing import NoReturn

import pytest


def missing_dependency(message: str) -> NoReturn:
    """Skip on a developer machine; **fail** in CI (env ``CI`` set), where ``make test`` installs everything.

    A skipped protocol or service test must never pass for a proven one in CI.
    """
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_tool(*commands: str) -> None:
    """Skip on a developer machine without these commands; **fail** in CI, where ``make test`` installs them.

    A skipped protocol test must never pass for a proven one in CI.
    """
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    missing_dependency(f"needs {', '.join(missing)} (installed by 'make test' through scripts/deps/)")
