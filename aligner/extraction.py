"""What to read from a model: which matrices (layer, head, measure, step) and how pieces merge to words.

Pure values, no torch: a :class:`ScoreRequest` names one word-level matrix the engine computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ScoreRequest:
    """One word-level matrix to read from a forced-decoding pass; layer and head are 0-based."""

    layer: int
    head: Optional[int]
    measure: str
    step: str
    src_merge: str = "sum"
    tgt_merge: str = "mean"
