"""The sweep scores every setting exactly as align + score would."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.config import AlignConfig
from aligner.io import read_gold, read_parallel
from aligner.pipeline import Aligner
from aligner.evaluation.sweep import run_sweep

from .conftest import SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


@pytest.fixture(scope="module")
def swept():
    aligner = Aligner(AlignConfig(device="cpu", batch_size=8))
    return run_sweep(aligner, read_parallel(SRC, TGT), read_gold(GOLD), per_head=True)


def test_sweep_covers_every_layer_head_measure_step(swept):
    # toy model: 3 decoder layers, 4 heads -> 3 x 2 steps x (4 heads x 2 per-head measures
    # + layer level: weight, norm, and 4 residual measures x 2 residual rules)
    assert len(swept.rows) == 3 * 2 * (4 * 2 + 2 + 4 * 2)
    assert {r.measure for r in swept.rows if r.head is not None} == {"weight", "norm"}
    assert {(r.layer, r.head) for r in swept.rows} == {(l, h) for l in (1, 2, 3) for h in (None, 1, 2, 3, 4)}


@pytest.mark.parametrize(
    "layer, head, measure, step",
    [(1, None, "norm", "awi"), (3, None, "weight", "awo"), (2, 4, "norm", "awo"), (2, None, "alti-xattn", "awi"), (1, None, "value-zeroing", "awo")],
)
def test_sweep_row_equals_align_then_score(swept, tmp_path, layer, head, measure, step):
    out = tmp_path / "hyp"
    args = ["align", "--src", SRC, "--tgt", TGT, "-o", str(out), "-q", "--device", "cpu",
            "--layer", str(layer), "--measure", measure, "--step", step] + (["--head", str(head)] if head else [])
    assert CliRunner().invoke(main, args).exit_code == 0
    scored = json.loads(CliRunner().invoke(main, ["score", "--gold", GOLD, "--hyp", str(out), "--json"]).stdout)
    [row] = [r for r in swept.rows if (r.layer, r.head, r.measure, r.step) == (layer, head, measure, step) and not r.residual_null]
    assert 100 * row.aer == scored["aer_percent"] and row.counts.hypothesis == scored["counts"]["hypothesis"]


def test_sweep_cli_writes_markdown_and_json(tmp_path):
    prefix = tmp_path / "results" / "toy"
    result = CliRunner().invoke(main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-heads", "-o", str(prefix), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "| AWI norm |" in result.stdout
    assert len(json.loads(prefix.with_suffix(".json").read_text())["rows"]) == 3 * 2 * (2 + 4 * 2)
    assert "layer:all/3" in prefix.with_suffix(".md").read_text()
    again = CliRunner().invoke(main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "-o", str(prefix)])
    assert again.exit_code == 1 and "refusing to overwrite" in again.stderr


def test_sweep_plot_adds_curve_to_report(tmp_path):
    prefix = tmp_path / "toy"
    result = CliRunner().invoke(main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-heads", "-o", str(prefix), "--plot", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    image = prefix.with_suffix(".png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 5000
    assert "![AER against decoder layer](toy.png)" in prefix.with_suffix(".md").read_text()


def test_sweep_residual_null_row_equals_align_with_residual_null(swept, tmp_path):
    out = tmp_path / "hyp"
    args = ["align", "--src", SRC, "--tgt", TGT, "-o", str(out), "-q", "--device", "cpu", "--layer", "3", "--measure", "attn-res-ln-norm", "--residual-null"]
    assert CliRunner().invoke(main, args).exit_code == 0
    scored = json.loads(CliRunner().invoke(main, ["score", "--gold", GOLD, "--hyp", str(out), "--json"]).stdout)
    [row] = [r for r in swept.rows if (r.layer, r.head, r.measure, r.step, r.residual_null) == (3, None, "attn-res-ln-norm", "awi", True)]
    [dropped] = [r for r in swept.rows if (r.layer, r.head, r.measure, r.step, r.residual_null) == (3, None, "attn-res-ln-norm", "awi", False)]
    # score --json states rates in percent; the counts behind them must be the very same
    assert vars(row.counts) == scored["counts"] and abs(row.aer * 100 - scored["aer_percent"]) < 1e-9
    assert row.counts.hypothesis <= dropped.counts.hypothesis  # the residual can only take links away
