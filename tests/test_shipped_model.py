"""The model `aligner` uses without --path: aligner/models/deen-guided (see its MODEL_CARD.md)."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from click.testing import CliRunner

from aligner.backends.fairseq.checkpoint import read_checkpoint
from aligner.cli import main
from aligner.backends.fairseq.resources import MODEL_VARIABLE, SHIPPED_MODEL, default_model

from .conftest import ROOT, SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


@pytest.fixture
def shipped_default(monkeypatch):
    monkeypatch.delenv(MODEL_VARIABLE, raising=False)
    return SHIPPED_MODEL


def test_variable_overrides_the_shipped_default(monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_VARIABLE, str(tmp_path))
    assert default_model() == tmp_path
    monkeypatch.delenv(MODEL_VARIABLE)
    assert default_model() == SHIPPED_MODEL


def test_align_and_score_the_sample_with_the_shipped_model(shipped_default, tmp_path):
    out = tmp_path / "sample.align"
    aligned = CliRunner().invoke(main, ["align", "--src", SRC, "--tgt", TGT, "-o", str(out), "--device", "cpu"])
    assert aligned.exit_code == 0, aligned.output
    assert "model:deen-guided@" in aligned.stderr and "|lc:yes|subword:sentencepiece|" in aligned.stderr
    # no setting given: the bundle's own preset decides, and the signature says so
    assert "|preset:deen-guided-dev|" in aligned.stderr
    # the bundle's preprocessing is applied: no piece of the (cased) sample falls back to <unk>
    assert "0 unknown pieces" in aligned.stderr
    scored = CliRunner().invoke(main, ["score", "--gold", GOLD, "--hyp", str(out), "--src", SRC, "--tgt", TGT, "--json"])
    assert scored.exit_code == 0, scored.output
    assert 0.0 <= json.loads(scored.stdout)["aer_percent"] < 100.0


def test_shipped_bundle_is_small_fp16_and_documented(shipped_default):
    bundle = json.loads((SHIPPED_MODEL / "aligner.json").read_text())
    assert bundle["source_lang"] == "de" and bundle["target_lang"] == "en" and bundle["lowercase"] is True
    assert (SHIPPED_MODEL / "model.pt").stat().st_size <= 30_000_000
    state = read_checkpoint(SHIPPED_MODEL / "model.pt")  # aligner's safe loader (weights_only + Namespace)
    floats = {tensor.dtype for tensor in state["model"].values() if tensor.is_floating_point()}
    assert floats == {torch.float16} and "last_optimizer_state" not in state
    card = (SHIPPED_MODEL / "MODEL_CARD.md").read_text()
    for heading in ("Training data", "Preprocessing", "Size", "BLEU", "AER"):
        assert heading in card


def test_tracked_tree_stays_small_enough_to_travel():
    """The reference-models issue caps the tracked tree at 60 MiB (two shipped models of <= 30 MB and the rest).

    A lent GPU machine takes at most 64 MiB of working tree: its runs move the shipped models out first.
    """
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    if not any(files):
        pytest.skip("not a git checkout")
    size = sum((ROOT / name.decode()).stat().st_size for name in files if name and (ROOT / name.decode()).is_file())
    assert size <= 60 * 2**20


def test_shipped_dev_preset_is_read_and_named(shipped_default, tmp_path):
    """make demo aligns with the settings chosen for this model on deen_bicici100; the signature names them."""
    from aligner.evaluation.select import read_preset

    preset = SHIPPED_MODEL / "dev-preset.json"
    name, settings = read_preset(preset)
    assert "symmetrize" not in settings and max(settings["layers"]) <= 6
    result = CliRunner().invoke(main, ["align", "--src", SRC, "--tgt", TGT, "--preset", str(preset), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"|preset:{name}|" in result.stderr and f"layer:{','.join(map(str, settings['layers']))}/6" in result.stderr
