"""Attention statistics (aligner.evaluation.analysis): hand-computed cases, and independence from batching."""

from __future__ import annotations

import math

import pytest
import torch

from aligner.evaluation.analysis import attention_statistics, entropy_ratio, last_column_share, statistics_markdown, weight_norm_correlation
from aligner.config import AlignConfig
from aligner.io import read_parallel
from aligner.pipeline import Aligner

from .conftest import SAMPLE


def test_entropy_ratio_by_hand():
    rows = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(entropy_ratio(rows), torch.tensor([1.0, 0.0, math.log(2) / math.log(3)]))
    assert entropy_ratio(torch.tensor([[1.0]])).tolist() == [0.0]


def test_last_column_share_by_hand():
    torch.testing.assert_close(last_column_share(torch.tensor([[1.0, 1.0, 2.0], [3.0, 1.0, 0.0]])), torch.tensor([0.5, 0.0]))


def test_weight_norm_correlation_by_hand():
    # weights 0.9 0.1 / 0.8 0.2 against norms 1 and 3 of the two sources:
    # deviations (.4 -.4 .3 -.3) and (-1 1 -1 1): r = -1.4 / sqrt(0.5 * 4)
    alpha = torch.tensor([[[0.9, 0.1], [0.8, 0.2]]])
    values = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]])
    assert weight_norm_correlation(alpha, values) == pytest.approx(-1.4 / math.sqrt(2.0))


def test_weight_norm_correlation_skips_heads_without_variation():
    alpha = torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]]])  # head 1 uniform: r undefined
    values = torch.tensor([[[1.0], [2.0]], [[1.0], [2.0]]])
    assert weight_norm_correlation(alpha, values) == pytest.approx(-1.0)
    assert math.isnan(weight_norm_correlation(alpha[:1], values[:1]))


def test_statistics_do_not_depend_on_batching():
    pairs = list(read_parallel(str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")))
    results = []
    for batch_size in (1, 64):
        aligner = Aligner(AlignConfig(device="cpu", batch_size=batch_size))
        results.append(attention_statistics(aligner, [aligner.encode(i, p) for i, p in enumerate(pairs)]))
    one, batched = results
    assert [s.layer for s in one] == [1, 2, 3]  # the toy model's decoder layers
    for a, b in zip(one, batched):
        assert 0.0 < a.entropy_ratio <= 1.0 and 0.0 <= a.eos_weight_share <= 1.0 and 0.0 <= a.eos_norm_share <= 1.0
        assert -1.0 <= a.weight_norm_correlation <= 1.0
        for name in ("entropy_ratio", "eos_weight_share", "eos_norm_share", "weight_norm_correlation"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-5)
    assert statistics_markdown(one).count("\n| L") == 3
