"""Shared test locations and helpers. Third-party data is read from ALIGNER_DATA (default ../shared/data)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
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


def kill_after_lines(process: subprocess.Popen, output: Path, lines: int, timeout: float = 120.0) -> None:
    """SIGKILL ``process`` once ``output`` holds ``lines`` lines; fail if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_bytes().count(b"\n") >= lines:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices: extra threads only contend (the machine runs training beside the tests)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
