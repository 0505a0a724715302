"""Batching must not change alignments: padded batches equal one pair per forward pass."""

from __future__ import annotations

import itertools

import pytest

from aligner.config import AlignConfig
from aligner.io import read_parallel
from aligner.pipeline import Aligner

from .conftest import SAMPLE


def sample_pairs():
    return list(read_parallel(str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")))


def gold_pairs(shared_data, count=500):
    folder = shared_data / "gold" / "deen"
    return list(itertools.islice(read_parallel(str(folder / "deen.src"), str(folder / "deen.tgt")), count))


def alignments(pairs, **settings):
    aligner = Aligner(AlignConfig(device="cpu", **settings))
    return [[(l.src, l.tgt) for l in result.links] for result in aligner.align(pairs)], aligner


def test_batched_equals_one_at_a_time_on_sample_and_gold(shared_data):
    pairs = sample_pairs() + gold_pairs(shared_data)
    one_by_one, _ = alignments(pairs, batch_size=1, chunk_size=1)
    batched, aligner = alignments(pairs, batch_size=64, max_tokens=3000, chunk_size=200)
    assert len(batched) == 520 and aligner.stats.pairs == 520
    assert batched == one_by_one


@pytest.mark.parametrize("measure, step, layer, head", [("weight", "awo", 3, None), ("norm", "awi", 2, 3)])
def test_batched_equals_one_at_a_time_other_settings(measure, step, layer, head):
    settings = dict(measure=measure, step=step, layers=layer, heads=head or ())
    one_by_one, _ = alignments(sample_pairs(), batch_size=1, chunk_size=1, **settings)
    batched, _ = alignments(sample_pairs(), batch_size=7, **settings)
    assert batched == one_by_one


def test_max_tokens_bounds_every_batch():
    aligner = Aligner(AlignConfig(device="cpu", max_tokens=60, batch_size=100))
    encoded = [aligner.encode(i, pair) for i, pair in enumerate(sample_pairs())]
    batches = aligner.batches(encoded)
    assert sorted(p.index for batch in batches for p in batch) == list(range(20))
    for batch in batches:
        longest = max(max(len(p.src.ids), len(p.tgt.ids)) + 1 for p in batch)
        assert len(batch) == 1 or len(batch) * longest <= 60


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_is_applied_and_close_to_float32(dtype):
    """--dtype must reach the weights (load_state_dict alone would copy them back into float32)."""
    import torch

    pairs = list(read_parallel(str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")))
    reduced = Aligner(AlignConfig(device="cpu", dtype=dtype))
    assert {p.dtype for p in reduced.engine.backend.model.parameters()} == {getattr(torch, dtype)}
    exact = {(n, l.src, l.tgt): l.score for n, r in enumerate(Aligner(AlignConfig(device="cpu")).align(pairs)) for l in r.links}
    approx = {(n, l.src, l.tgt): l.score for n, r in enumerate(reduced.align(pairs)) for l in r.links}
    shared = exact.keys() & approx.keys()
    # a near-tie may flip; the scores themselves differ only by rounding
    assert len(shared) >= 0.95 * len(exact)
    assert max(abs(exact[key] - approx[key]) for key in shared) < 0.02
