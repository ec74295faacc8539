import os
import sys
from pathlib import Path

# Test helper modules (parity_utils.py) import by name.
sys.path.insert(0, str(Path(__file__).parent))
# Never reach for a model hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
