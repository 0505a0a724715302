"""The engine is the one place that runs the model: every driver's forward passes go through it."""

from __future__ import annotations

import pytest

from aligner.evaluation.analysis import attention_statistics
from aligner.config import AlignConfig
from aligner.engine import Engine, WordScores
from aligner.io import read_gold, read_parallel
from aligner.pipeline import Aligner

from .conftest import SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


@pytest.fixture(scope="module")
def engine():
    return Engine.load(AlignConfig(), device="cpu")


@pytest.fixture
def counted(engine, monkeypatch):
    """The engine, with the model's own forced_decode counted beside the backend's forward count."""
    model = engine.backend.model
    calls = []
    original = model.forced_decode

    def forced_decode(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forced_decode", forced_decode)
    start = engine.backend.forward_calls

    def count() -> int:
        assert len(calls) == engine.backend.forward_calls - start  # nothing runs the model around the backend
        return len(calls)

    return engine, count


def batch_count(aligner: Aligner) -> int:
    encoded = [aligner.encode(index, pair) for index, pair in enumerate(read_parallel(SRC, TGT))]
    return len(aligner.batches([pair for pair in encoded if pair.runnable]))


def test_align_runs_one_forward_pass_per_batch(counted):
    engine, count = counted
    aligner = Aligner(AlignConfig(device="cpu", batch_size=8), engine=engine)
    assert len(list(aligner.align(read_parallel(SRC, TGT)))) == 20
    assert count() == batch_count(aligner) == 3


def test_sweep_runs_one_forward_pass_per_batch(counted):
    from aligner.evaluation.sweep import run_sweep

    engine, count = counted
    aligner = Aligner(AlignConfig(device="cpu", batch_size=8), engine=engine)
    run_sweep(aligner, read_parallel(SRC, TGT), read_gold(GOLD), per_head=True)
    assert count() == batch_count(aligner)


def test_select_runs_one_forward_pass_per_batch_for_every_candidate(counted):
    from aligner.evaluation.select import candidate_grid, score_candidates

    engine, count = counted
    aligner = Aligner(AlignConfig(device="cpu", batch_size=8), engine=engine)
    grid = candidate_grid(engine.info.decoder_layers)
    counts = score_candidates(aligner, list(read_parallel(SRC, TGT)), read_gold(GOLD), grid)
    assert len(counts) == len(grid) > 100
    assert count() == batch_count(aligner)


def test_plot_and_analysis_go_through_the_engine(counted):
    from aligner import plot

    engine, count = counted
    aligner = Aligner(AlignConfig(device="cpu", batch_size=8), engine=engine)
    pair = next(iter(read_parallel(SRC, TGT)))
    plot.pair_plot(aligner, pair, plot.panel_requests([1, 2, 3], ["weight", "norm"], ["awi", "awo"]))
    assert count() == 1
    attention_statistics(aligner, [aligner.encode(index, pair) for index, pair in enumerate(read_parallel(SRC, TGT))])
    assert count() == 1 + batch_count(aligner)


def test_word_scores_name_their_extra_columns(engine):
    aligner = Aligner(AlignConfig(device="cpu"), engine=engine)
    pair = next(iter(read_parallel(SRC, TGT)))
    [scores] = engine.word_scores([aligner.encode(0, pair)], aligner.requests)
    assert isinstance(scores, WordScores) and scores.extra_columns == ("</s>",)
    [matrix] = scores.values()
    assert matrix.shape == (len(pair.tgt), len(pair.src) + len(scores.extra_columns))
