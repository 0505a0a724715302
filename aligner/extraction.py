"""What to read from a model: which matrices (layer, head, measure, step) and how pieces merge to words.

Pure values, no torch: a :class:`ScoreRequest` names one word-level matrix the engine computes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Optional

import numpy as np

from .choices import ALL_STEPS, MEASURES, MERGES, check_choice
from .errors import ConfigError


@dataclass(frozen=True)
class ScoreRequest:
    """One word-level matrix to read from a forced-decoding pass; layer and head are 0-based."""

    layer: int
    head: Optional[int]
    measure: str
    step: str
    src_merge: str = "sum"
    tgt_merge: str = "mean"


def default_layer(decoder_layers: int) -> int:
    """1-based layer used when none is given: the paper's best (2 of 6), i.e. a third of the way up."""
    return max(1, round(decoder_layers / 3))


@dataclass(frozen=True)
class Extraction:
    """Which matrices decide the links, and how pieces merge to words: a pure, hashable value.

    Layers and heads are 1-based, as the paper counts; several are averaged (:meth:`combine`).
    """

    layers: tuple[int, ...] = ()  # () = the default layer of the model
    heads: tuple[int, ...] = ()  # () = layer level (all heads together)
    measure: str = "norm"
    step: str = "awi"
    src_merge: str = "sum"
    tgt_merge: str = "mean"

    def __post_init__(self) -> None:
        for name, allowed in (("measure", MEASURES), ("step", ALL_STEPS), ("src_merge", MERGES), ("tgt_merge", MERGES)):
            check_choice(name, getattr(self, name), allowed)
        # Accept a single int too (layers=2); the frozen field always holds a tuple.
        for name in ("layers", "heads"):
            value = getattr(self, name)
            value = (value,) if isinstance(value, int) else tuple(value or ())
            if any(index < 1 for index in value):
                raise ConfigError(f"{name} are 1-based, got {value}")
            object.__setattr__(self, name, value)

    def for_model(self, decoder_layers: int) -> "Extraction":
        """The extraction with the model's default layer filled in when none was chosen."""
        return self if self.layers else replace(self, layers=(default_layer(decoder_layers),))

    def requests(self) -> list[ScoreRequest]:
        """The matrices whose mean decides the links: one per chosen layer (and head), 0-based."""
        heads: list[Optional[int]] = [head - 1 for head in self.heads] or [None]
        return [
            ScoreRequest(layer - 1, head, self.measure, self.step, self.src_merge, self.tgt_merge)
            for layer in self.layers
            for head in heads
        ]

    def combine(self, scores: Mapping[ScoreRequest, np.ndarray]) -> np.ndarray:
        """The mean of this extraction's matrices among ``scores``: the one layer (and head) averaging."""
        return np.mean([scores[request] for request in self.requests()], axis=0)
