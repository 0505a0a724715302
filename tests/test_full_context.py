"""Step ``full``: the predicting row of a decoder pass without the causal mask.

fairseq's ``transformer_align --full-context-alignment`` (Garg et al. 2019) supervises its
alignment head in such a pass; parity of the pass itself with real fairseq is in
test_parity.py. Here: what the pass sees, that the engine runs it only when asked, and that a
checkpoint trained so puts the step in the sweep and the dev grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aligner.backends.fairseq import collate
from aligner.backends.fairseq.checkpoint import read_checkpoint
from aligner.config import AlignConfig
from aligner.engine import Engine, select_rows
from aligner.errors import ConfigError
from aligner.evaluation.select import candidate_grid
from aligner.extraction import ScoreRequest
from aligner.io import SentencePair, read_parallel
from aligner.pipeline import Aligner

from .conftest import ROOT, SAMPLE
from .test_cli import copy_bundle, run as run_cli

SRC, TGT = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")


@pytest.fixture(scope="module")
def aligner():
    return Aligner(AlignConfig(device="cpu"))


def first_layer_alpha(aligner: Aligner, target: list[str], full_context: bool) -> torch.Tensor:
    """Decoder layer 1's cross-attention for one pair, (heads, decoder steps, source)."""
    pair = aligner.encode(0, SentencePair("das haus ist klein .".split(), target))
    dictionary = aligner.engine.backend.resources.target_dictionary
    src, prev = collate([pair], dictionary.pad, dictionary.eos, torch.device("cpu"))
    with torch.inference_mode():
        decoding = aligner.engine.backend.model.forced_decode(src, prev, {0}, need_values=False, full_context=full_context)
    return decoding.cross_attention[0].alpha[0]


def test_full_context_rows_see_later_target_words_and_causal_rows_do_not(aligner):
    small, big = "the house is small .".split(), "the house is big .".split()
    causal = {name: first_layer_alpha(aligner, words, False) for name, words in (("small", small), ("big", big))}
    full = {name: first_layer_alpha(aligner, words, True) for name, words in (("small", small), ("big", big))}
    pieces_per_word = aligner.encode(0, SentencePair(["x"], small)).tgt.pieces_per_word
    first_changed_row = 1 + sum(pieces_per_word[:3])  # the row where "small"/"big" is the decoder input
    # Causal: the rows before that input cannot tell the two targets apart.
    torch.testing.assert_close(causal["small"][:, :first_changed_row], causal["big"][:, :first_changed_row], rtol=0, atol=0)
    # Full context: the first row (input </s>, predicting "the") already reads "small" or "big".
    assert (full["small"][:, 0] - full["big"][:, 0]).abs().max() > 1e-4
    # In layer 1 the last row sees every position in both passes: identical up to rounding.
    torch.testing.assert_close(full["small"][:, -1], causal["small"][:, -1], rtol=1e-5, atol=1e-6)
    assert (full["small"][:, 0] - causal["small"][:, 0]).abs().max() > 1e-4


def test_step_full_runs_a_second_pass_only_beside_causal_steps(aligner):
    engine: Engine = aligner.engine
    pairs = [aligner.encode(index, pair) for index, pair in enumerate(read_parallel(SRC, TGT))][:6]
    awo, full = ScoreRequest(1, None, "norm", "awo"), ScoreRequest(1, None, "norm", "full")
    start = engine.backend.forward_calls
    both = engine.piece_scores(pairs, [awo, full])
    assert engine.backend.forward_calls - start == 2
    alone = engine.piece_scores(pairs, [full])
    assert engine.backend.forward_calls - start == 3
    np.testing.assert_array_equal(both[full], alone[full])
    np.testing.assert_array_equal(both[awo], engine.piece_scores(pairs, [awo])[awo])
    assert not np.allclose(both[awo], both[full])
    # `full` reads the predicting row of each target piece, as AWO does.
    matrix = np.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(select_rows(matrix, 4, "full"), select_rows(matrix, 4, "awo"))


def full_context_bundle(tmp_path):
    """The toy bundle (no preset) with its model options marked as trained with --full-context-alignment."""
    bundle = copy_bundle(tmp_path)
    state = read_checkpoint(bundle / "model.pt")
    state["cfg"]["model"].full_context_alignment = True
    torch.save(state, bundle / "model.pt")
    return bundle


def test_a_checkpoint_trained_with_full_context_puts_the_step_in_grids_and_sweeps(tmp_path):
    from aligner.evaluation.sweep import run_sweep
    from aligner.io import read_gold

    plain = Engine.load(AlignConfig().model, device="cpu").info
    assert not plain.full_context_alignment and plain.steps == ("awi", "awo")
    bundle = full_context_bundle(tmp_path)
    trained = Engine.load(AlignConfig(path=bundle).model, device="cpu").info
    assert trained.full_context_alignment and trained.steps == ("awi", "awo", "full")
    grid_steps = {c.extraction.step for c in candidate_grid(3, measures=("norm",), steps=trained.steps)}
    assert grid_steps == {"awi", "awo", "full"}
    assert {c.extraction.step for c in candidate_grid(3, measures=("norm",))} == {"awi", "awo"}
    aligner = Aligner(AlignConfig(path=bundle, device="cpu"))
    golds = read_gold(str(SAMPLE / "sample.talp"))
    result = run_sweep(aligner, read_parallel(SRC, TGT), golds, per_head=False, measures=("norm",))
    assert {row.step for row in result.rows} == {"awi", "awo", "full"}
    assert "| FULL norm |" in result.layer_table()


def test_cli_align_with_step_full_signs_it(tmp_path):
    out = tmp_path / "out.align"
    result = run_cli("align", "--src", SRC, "--tgt", TGT, "-o", str(out), "--step", "full", "--no-preset", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 20
    assert "step:full" in result.output


def test_step_full_is_refused_by_the_hugging_face_backend():
    pytest.importorskip("transformers")
    from aligner.backends.huggingface.engine_backend import HuggingFaceBackend

    backend = HuggingFaceBackend.__new__(HuggingFaceBackend)  # the refusal comes before any model is touched
    with pytest.raises(ConfigError, match="fairseq models only"):
        backend.cross_attention([], {0}, need_values=False, full_context=True)


def curve_entry(updates: int, full: bool) -> dict:
    """A track_checkpoints.py entry for a 2-layer, 2-head model: AER per layer (and per head)."""
    steps = ("awi", "awo", "full") if full else ("awi", "awo")
    layer_aers = {"awi": [0.5, 0.4], "awo": [0.6, 0.3], "full": [0.25, 0.35]}
    head_aers = {"awi": [[0.5, 0.45], [0.4, 0.42]], "awo": [[0.6, 0.7], [0.3, 0.2]], "full": [[0.3, 0.15], [0.2, 0.4]]}
    return {
        "num_updates": updates, "checkpoint": f"checkpoint_{updates}.pt", "layers": 2, "signature": "sig",
        "sweep": {step: {measure: {"aer": layer_aers[step]} for measure in ("weight", "norm")} for step in steps},
        "heads": {step: {measure: head_aers[step] for measure in ("weight", "norm")} for step in steps},
    }


def test_training_curve_adds_the_full_columns_for_runs_trained_with_it():
    import sys

    sys.path.insert(0, str(ROOT / "eval"))
    from track_checkpoints import markdown

    causal_only = markdown({"entries": [curve_entry(100, full=False)]}, "curve.json")
    assert "FULL" not in causal_only
    table = markdown({"entries": [curve_entry(100, full=False), curve_entry(200, full=True)]}, "curve.json")
    header = next(line for line in table.splitlines() if line.startswith("| updates"))
    rows = [line for line in table.splitlines() if line.startswith("| 100 ") or line.startswith("| 200 ")]
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    cells = [dict(zip(columns, (cell.strip() for cell in row.strip("|").split("|")))) for row in rows]
    assert cells[1]["best FULL norm"] == "L1: 25.0" and cells[1]["best head FULL weight"] == "L1H2: 15.0"
    assert cells[0]["best FULL norm"] == "" and cells[0]["best head FULL weight"] == ""
    assert cells[1]["best AWO norm"] == "L2: 30.0" and cells[1]["best head AWO weight"] == "L2H2: 20.0"
