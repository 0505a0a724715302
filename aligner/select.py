"""Choosing layer, measure, step and decision on a development set, never on the test set.

Every candidate is scored from the same forward passes (one per batch, all layers at once);
the best on the dev set becomes a *preset*, a small JSON file of ``aligner align`` settings
that ``--preset`` reads back, and is then reported on the test set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

from . import __version__
from .config import AlignConfig
from .errors import InputError
from .io import GoldLinks, SentencePair
from .metrics import AlignmentCounts, scores_from_counts
from .pipeline import Aligner, ScoreRequest
from .sweep import corpus_counts

THRESHOLDS = (0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Candidate:
    """One setting of ``aligner align``; names match AlignConfig fields (layers 1-based)."""

    layers: tuple[int, ...]
    measure: str
    step: str
    decision: str
    threshold: float = 0.5
    normalize: str = "rows"
    eos_null: bool = True
    final_punct: bool = False

    @property
    def label(self) -> str:
        decision = self.decision + (f"@{self.threshold:g}/{self.normalize}" if self.decision == "threshold" else "")
        layers = "-".join(map(str, (self.layers[0], self.layers[-1]))) if len(self.layers) > 1 else str(self.layers[0])
        return (f"L{layers} {self.step} {self.measure} {decision}" + ("" if self.eos_null else " no-eos-null")
                + (" +final-punct" if self.final_punct else ""))


def candidate_grid(decoder_layers: int) -> list[Candidate]:
    """Single layers and adjacent layer pairs x measures x steps x decisions x the two rules."""
    layer_sets = [(layer,) for layer in range(1, decoder_layers + 1)]
    layer_sets += [(layer, layer + 1) for layer in range(1, decoder_layers)]
    decisions = [("argmax", 0.5, "rows"), ("argmax-both", 0.5, "rows"), ("argmax-source", 0.5, "rows")]
    decisions += [("threshold", threshold, "rows") for threshold in THRESHOLDS]
    return [
        Candidate(layers, measure, step, decision, threshold, normalize, eos_null, final_punct)
        for layers in layer_sets
        for measure in ("norm", "weight")
        for step in ("awi", "awo")
        for decision, threshold, normalize in decisions
        for eos_null in (True, False)
        for final_punct in (False, True)
    ]


def score_candidates(
    aligner: Aligner, pairs: Iterable[SentencePair], golds: Sequence[GoldLinks], candidates: Sequence[Candidate]
) -> dict[Candidate, AlignmentCounts]:
    """Corpus counts of every candidate, from one forward pass per batch."""
    requests = sorted({ScoreRequest(layer - 1, None, c.measure, c.step) for c in candidates for layer in c.layers},
                      key=lambda r: (r.layer, r.measure, r.step))
    deciders = {c: aligner.with_settings(**_decision_settings(c)) for c in candidates}

    def links_of(candidate: Candidate, matrices, pair):
        layers = [matrices[ScoreRequest(layer - 1, None, candidate.measure, candidate.step)] for layer in candidate.layers]
        return deciders[candidate].links(sum(layers) / len(layers), pair)

    return corpus_counts(aligner, pairs, golds, requests, candidates, links_of)


def _decision_settings(candidate: Candidate) -> dict:
    return {name: getattr(candidate, name) for name in ("decision", "threshold", "normalize", "eos_null", "final_punct")}


@dataclass(frozen=True)
class Selection:
    chosen: Candidate
    dev_aer: float
    ranking: list[tuple[Candidate, float]]  # the dev AER of every candidate, best first

    def preset(self, name: str, dev_description: str, signature: str) -> dict:
        return {
            "format": "aligner-preset/1",
            "name": name,
            "settings": {key: (list(value) if isinstance(value, tuple) else value) for key, value in asdict(self.chosen).items()},
            "chosen_on": dev_description,
            "dev_aer": self.dev_aer,
            "model_signature": signature,
            "version": __version__,
        }


def select(counts: dict[Candidate, AlignmentCounts]) -> Selection:
    """The lowest dev AER; ties go to the earliest candidate in grid order (the sort is stable)."""
    ranking = sorted(((candidate, scores_from_counts(total)[0]) for candidate, total in counts.items()), key=lambda item: item[1])
    return Selection(ranking[0][0], ranking[0][1], ranking)


def read_preset(path: Path | str) -> tuple[str, dict]:
    """(name, AlignConfig settings) of a preset file; unknown settings are refused."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        name, settings = record["name"], dict(record["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a readable aligner preset ({exc})", path) from None
    known = {field.name for field in fields(AlignConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"unknown settings in preset: {', '.join(unknown)}", path)
    if "layers" in settings:
        settings["layers"] = tuple(settings["layers"])
    return name, settings


@dataclass(frozen=True)
class GoldSet:
    pairs: list[SentencePair]
    golds: list[GoldLinks]
    dropped_links: int
    description: str


def load_gold_set(src: str, tgt: str, gold: str, one_based: bool = True, drop_invalid: bool = False) -> GoldSet:
    """Text and gold of an evaluation set, with links checked against the sentence lengths."""
    from .io import check_gold_range, read_gold, read_parallel

    pairs = list(read_parallel(src, tgt))
    golds = read_gold(gold, one_based)
    if len(golds) != len(pairs):
        raise InputError(f"gold has {len(golds)} lines but the texts {len(pairs)}", gold)
    checked, dropped = [], 0
    for number, (pair, links) in enumerate(zip(pairs, golds), start=1):
        links, lost = check_gold_range(links, len(pair.src), len(pair.tgt), gold, number, drop_invalid)
        checked.append(links)
        dropped += lost
    return GoldSet(pairs, checked, dropped, f"{Path(gold).name} ({len(pairs)} pairs)")


def selection_report(selection: Selection, dev: GoldSet, test: GoldSet, test_counts: dict[Candidate, AlignmentCounts], top: int = 10) -> str:
    """Markdown: the chosen setting, its dev and test scores, and the dev ranking's head."""
    chosen = test_counts[selection.chosen]
    aer, precision, recall, _ = scores_from_counts(chosen)
    lines = [
        f"Chosen on the dev set {dev.description}, without looking at the test set: **{selection.chosen.label}** "
        f"(dev AER {selection.dev_aer * 100:.1f}).",
        "",
        f"On the test set {test.description}: AER **{aer * 100:.1f}**, precision {precision * 100:.1f}, recall {recall * 100:.1f}.",
        "",
        f"The {top} best settings on the dev set, with their test AER for reference (not used for the choice):",
        "",
        "| setting | dev AER | test AER |",
        "|---|---|---|",
    ]
    for candidate, dev_aer in selection.ranking[:top]:
        test_aer = scores_from_counts(test_counts[candidate])[0] if candidate in test_counts else float("nan")
        lines.append(f"| {candidate.label} | {dev_aer * 100:.1f} | {test_aer * 100:.1f} |")
    return "\n".join(lines) + "\n"
