"""Access to the research data in ../shared/data (present in CI, absent in a user's clone)."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def shared_data(*parts: str) -> str:
    """Path under ../shared/data; skips the calling test when it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"needs the research data at {path} (../shared/data is absent)")
    return path
