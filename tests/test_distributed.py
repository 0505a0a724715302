"""Several processes with torchrun and gloo: same output as one process, resumable, failures named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT, SAMPLE

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
ALIGN = ["-m", "aligner", "align", "--device", "cpu", "--chunk-size", "40", "--scores", "-q"]
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1"}


def corpus(tmp_path: Path, copies: int, replace_line: tuple[int, str] | None = None) -> tuple[str, str]:
    src_lines = SAMPLE.joinpath("sample.de").read_text().splitlines() * copies
    tgt_lines = SAMPLE.joinpath("sample.en").read_text().splitlines() * copies
    if replace_line:
        src_lines[replace_line[0] - 1] = replace_line[1]
    src, tgt = tmp_path / "corpus.de", tmp_path / "corpus.en"
    src.write_text("\n".join(src_lines) + "\n")
    tgt.write_text("\n".join(tgt_lines) + "\n")
    return str(src), str(tgt)


def torchrun(processes: int, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [*TORCHRUN, f"--nproc-per-node={processes}", *ALIGN, *args]
    return subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, **kwargs)


def single(*args: str) -> None:
    subprocess.run([sys.executable, *ALIGN, *args], cwd=ROOT, env=ENVIRONMENT, check=True)


def test_two_gloo_processes_equal_one_process(tmp_path):
    src, tgt = corpus(tmp_path, 15)  # 300 pairs, 8 chunks
    single("--src", src, "--tgt", tgt, "-o", str(tmp_path / "single"))
    result = torchrun(2, "--src", src, "--tgt", tgt, "-o", str(tmp_path / "two"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "two").read_bytes() == (tmp_path / "single").read_bytes()
    assert not (tmp_path / "two.parts").exists()


@pytest.mark.parametrize("resume_processes", [2, 1])
def test_killed_distributed_run_resumes_to_identical_output(tmp_path, resume_processes):
    src, tgt = corpus(tmp_path, 60)  # 1,200 pairs, 30 chunks
    single("--src", src, "--tgt", tgt, "-o", str(tmp_path / "reference"))
    output, parts = tmp_path / "killed", tmp_path / "killed.parts"
    command = [*TORCHRUN, "--nproc-per-node=2", *ALIGN, "--src", src, "--tgt", tgt, "-o", str(output)]
    job = subprocess.Popen(command, cwd=ROOT, env=ENVIRONMENT, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and job.poll() is None:
        if parts.is_dir() and len(list(parts.glob("chunk-*.align"))) >= 4:
            os.killpg(job.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    finished = len(list(parts.glob("chunk-*.align")))
    assert 4 <= finished < 30 and not output.exists()

    if resume_processes == 1:
        single("--src", src, "--tgt", tgt, "-o", str(output), "--resume")
    else:
        result = torchrun(2, "--src", src, "--tgt", tgt, "-o", str(output), "--resume")
        assert result.returncode == 0, result.stderr
    assert output.read_bytes() == (tmp_path / "reference").read_bytes()


def test_failing_rank_names_rank_and_line_range(tmp_path):
    # line 55 is in chunk 1 (lines 41-80), which rank 1 aligns; it is too long for the model's 64 positions
    src, tgt = corpus(tmp_path, 5, replace_line=(55, " ".join(["haus"] * 80)))
    result = torchrun(2, "--path", str(FIXTURES["prenorm-bpe"]), "--src", src, "--tgt", tgt, "-o", str(tmp_path / "out"))
    assert result.returncode != 0
    assert f"rank 1, chunk 1 (lines 41-80): {src}:55: source sentence has" in result.stderr
