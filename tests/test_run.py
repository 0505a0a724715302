"""The corpus runner in the library: align_corpus runs, is killed, and resumes to the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aligner.config import AlignConfig
from aligner.errors import ConfigError, InputError
from aligner.runner.corpus import align_corpus

from .conftest import kill_after_lines, ROOT, SAMPLE

SRC, TGT = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")


def test_readme_shows_align_corpus():
    assert "align_corpus(config, inputs, out, resume=True)" in (ROOT / "README.md").read_text()


def test_align_corpus_killed_then_resumed_equals_uninterrupted(tmp_path):
    src, tgt = tmp_path / "big.de", tmp_path / "big.en"
    src.write_text(Path(SRC).read_text() * 40)  # 800 pairs
    tgt.write_text(Path(TGT).read_text() * 40)
    config = AlignConfig(device="cpu", chunk_size=8, batch_size=3)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    full = align_corpus(config, [str(src), str(tgt)], str(reference), scores=True)
    assert full.stats.pairs == 800 and full.resumed_at == 0

    script = (
        "import sys\nfrom aligner import AlignConfig, align_corpus\n"
        "align_corpus(AlignConfig(device='cpu', chunk_size=8, batch_size=3), sys.argv[1:3], sys.argv[3], scores=True)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(src), str(tgt), str(killed)], cwd=ROOT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    kill_after_lines(process, killed, 100)

    resumed = align_corpus(config, [str(src), str(tgt)], str(killed), resume=True, scores=True)
    assert 100 <= resumed.resumed_at < 800 and resumed.resumed_at % 8 == 0
    assert killed.read_bytes() == reference.read_bytes()


def test_align_corpus_refuses_contradictions_with_package_errors(tmp_path):
    with pytest.raises(ConfigError, match="exclude each other"):
        align_corpus(AlignConfig(device="cpu"), [SRC, TGT], str(tmp_path / "out"), resume=True, overwrite=True)
    existing = tmp_path / "existing"
    existing.write_text("keep\n")
    with pytest.raises(InputError, match="refusing to overwrite"):
        align_corpus(AlignConfig(device="cpu"), [SRC, TGT], str(existing))
