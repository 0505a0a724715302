"""Alignment error rate, precision, recall and F1 at corpus level (Och & Ney 2003).

Counts are summed over the corpus first and combined once; nothing is rounded before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from ..errors import InputError
from ..io import GoldLinks, Link

SCORE_FIELDS = ("aer", "precision", "recall", "f1")


@dataclass(frozen=True)
class AlignmentCounts:
    hypothesis: int = 0  # |A|
    sure: int = 0  # |S|
    possible: int = 0  # |P|, sure links included
    hit_sure: int = 0  # |A ∩ S|
    hit_possible: int = 0  # |A ∩ P|

    def __add__(self, other: "AlignmentCounts") -> "AlignmentCounts":
        return AlignmentCounts(*(a + b for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[int, ...]:
        return (self.hypothesis, self.sure, self.possible, self.hit_sure, self.hit_possible)


@dataclass(frozen=True)
class AERResult:
    aer: float
    precision: float
    recall: float
    f1: float
    counts: AlignmentCounts
    sentences: int
    dropped_links: int = 0
    signature: str = ""

    def format(self, digits: int = 2) -> str:
        percent = {name: 100 * getattr(self, name) for name in SCORE_FIELDS}
        return " | ".join(f"{name.upper() if name == 'aer' else name.capitalize()}: {value:.{digits}f}" for name, value in percent.items())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def count_links(hypothesis: Iterable[Link], gold: GoldLinks) -> AlignmentCounts:
    hyp = set(hypothesis)
    return AlignmentCounts(
        hypothesis=len(hyp),
        sure=len(gold.sure),
        possible=len(gold.possible),
        hit_sure=len(hyp & gold.sure),
        hit_possible=len(hyp & gold.possible),
    )


def scores_from_counts(counts: AlignmentCounts) -> tuple[float, float, float, float]:
    """(AER, precision, recall, F1) with the empty cases defined rather than divided by zero.

    |A| = 0 gives precision 0 and AER 1 unless |S| is 0 too, in which case nothing was
    to be found and nothing was proposed: AER 0. |S| = 0 gives recall 0.
    """
    a, s = counts.hypothesis, counts.sure
    precision = counts.hit_possible / a if a else 0.0
    recall = counts.hit_sure / s if s else 0.0
    aer = 1.0 - (counts.hit_sure + counts.hit_possible) / (a + s) if a + s else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return aer, precision, recall, f1


def score_alignments(
    hypotheses: Sequence[Iterable[Link]],
    golds: Sequence[GoldLinks],
    dropped_links: int = 0,
    signature: str = "",
) -> AERResult:
    """Corpus-level AER of hypothesis links (0-based, source first) against gold links."""
    if len(hypotheses) != len(golds):
        raise InputError(f"hypothesis has {len(hypotheses)} sentence pairs but gold has {len(golds)}")
    total = AlignmentCounts()
    for hyp, gold in zip(hypotheses, golds):
        total = total + count_links(hyp, gold)
    aer, precision, recall, f1 = scores_from_counts(total)
    return AERResult(aer, precision, recall, f1, total, len(golds), dropped_links, signature)
