import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

FIXTURES = Path(__file__).parent / "fixtures"

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def fixture():
    """Load a committed PyTorch reference file by name: fixture('losses')."""
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = dict(np.load(FIXTURES / f"{name}.npz"))
        return cache[name]
    return load
