import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def _quiet_libraries():
    from torchrec_dlf.training.quiet import quiet_library_messages

    quiet_library_messages()
