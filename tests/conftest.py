import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


@pytest.fixture(autouse=True)
def _quiet_libraries():
    from torchrec_dlf.training.quiet import quiet_library_messages

    quiet_library_messages()


def shared_data(*parts: str) -> str:
    """Path under ../shared/data; skips the test when that folder is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"needs the research data at {path} (../shared/data is absent)")
    return path
