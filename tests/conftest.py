"""Shared fixtures.

``shared_data`` points at the real datasets beside the project (``../shared/data``). A
user's clone has no such folder: tests that need it skip with a reason there, but under
CI (``CI=true``), where the folder is always present, its absence is a failure.
"""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        reason = f"real datasets not found at {SHARED_DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI always has them")
        pytest.skip(reason)
    return SHARED_DATA
