"""eval/deen_best.py's --reverse option: which forward model the reverse one is symmetrized with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def deen_best():
    sys.path.insert(0, str(ROOT / "eval"))
    try:
        import deen_best
    finally:
        del sys.path[0]
    return deen_best


def test_reverse_pairs_with_the_named_forward_model_or_else_the_first(deen_best):
    names = ["plain", "guided"]
    assert deen_best.reverse_option("guided=/ckpt/en_de.pt", names) == ("guided", Path("/ckpt/en_de.pt"))
    assert deen_best.reverse_option("/ckpt/en_de.pt", names) == ("plain", Path("/ckpt/en_de.pt"))
    # a path with "=" in it that names no forward model is a path
    assert deen_best.reverse_option("/runs/lr=1e-3/en_de.pt", names) == ("plain", Path("/runs/lr=1e-3/en_de.pt"))
    assert deen_best.reverse_option(None, names) == (None, None)
