"""Shared test locations. Third-party data is read from ALIGNER_DATA (default ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FIXTURES = {
    "toy-deen": ROOT / "data" / "models" / "toy-deen",
    "prenorm-bpe": ROOT / "tests" / "fixtures" / "prenorm-bpe",
}
SHARED_DATA = Path(os.environ.get("ALIGNER_DATA", ROOT.parent / "shared" / "data"))

# Tests run on the toy model (3 decoder layers, trained by real fairseq, fast) unless they name a
# model; set here, at import, so that subprocesses (torchrun, the CLI) see it too. The shipped
# default model has its own tests (test_shipped_model.py), which clear this variable.
os.environ["ALIGNER_MODEL"] = str(FIXTURES["toy-deen"])


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data not found at {SHARED_DATA} (set ALIGNER_DATA)")
    return SHARED_DATA
