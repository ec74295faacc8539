import os
import sys
from pathlib import Path

import pytest
import torch

# Test helper modules (parity_utils.py) import by name.
sys.path.insert(0, str(Path(__file__).parent))
# Never reach for a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests on one torch thread, then restore the previous count.

    Training tests use tiny matrices that gain nothing from a second thread, and on a busy
    2-core machine OpenMP's waiting between threads made each step several times slower.
    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
