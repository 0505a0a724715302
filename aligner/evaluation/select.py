"""Choosing layer, measure, step and decision on a development set, never on the test set.

Every candidate is scored from the same forward passes (one per batch, all layers at once);
the best on the dev set becomes a *preset*, a small JSON file of ``aligner align`` settings
that ``--preset`` reads back, and is then reported on the test set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from .. import __version__
from ..choices import DECISIONS, MEASURES, PER_HEAD_MEASURES, RESIDUAL_MEASURES, STEPS
from ..config import FIELD_PARTS, PRESET_FIELDS
from ..errors import InputError
from ..decisions import DecisionRule
from ..engine import EncodedPair
from ..extraction import Extraction
from ..io import GoldLinks, ScoredLink, SentencePair
from .metrics import AlignmentCounts, count_links, scores_from_counts
from ..extraction import ScoreRequest
from ..pipeline import Aligner
from ..signature import Signature
from .sweep import corpus_counts, links_per_pair
from ..symmetrize import SYMMETRIZATIONS, symmetrize_directions

THRESHOLDS = (0.1, 0.2, 0.3, 0.5)
# Settings symmetrized: the best this many of each direction on the dev set (x every method);
# the whole grid squared would be ~1.5M combinations for no expected gain.
SYMMETRIZATION_SHORTLIST = 20


PRESET_SETTINGS = ("layers", "heads", "measure", "step", "decision", "threshold", "normalize", "eos_null", "final_punct", "residual_null")


@dataclass(frozen=True)
class Candidate:
    """One setting of ``aligner align``: an extraction and a decision rule, both plain values.

    ``symmetrize`` set: the same setting runs on a forward and a reverse model, whose links
    combine this way.
    """

    extraction: Extraction
    rule: DecisionRule
    symmetrize: Optional[str] = None

    @property
    def label(self) -> str:
        extraction, rule = self.extraction, self.rule
        decision = rule.decision + (f"@{rule.threshold:g}/{rule.normalize}" if rule.decision == "threshold" else "")
        layers = "-".join(map(str, (extraction.layers[0], extraction.layers[-1]))) if len(extraction.layers) > 1 else str(extraction.layers[0])
        heads = "".join(f"H{head}" for head in extraction.heads)
        return (f"L{layers}{heads} {extraction.step} {extraction.measure} {decision}" + ("" if rule.eos_null else " no-eos-null")
                + (" +final-punct" if rule.final_punct else "") + (" +residual-null" if rule.residual_null else "") + (f" {self.symmetrize}" if self.symmetrize else ""))

    @property
    def single(self) -> "Candidate":
        """The one-direction setting each model runs."""
        return replace(self, symmetrize=None)

    def settings(self) -> dict:
        """The ``aligner align`` settings a preset records (flat names, as AlignConfig takes them)."""
        chosen = {name: getattr(self.extraction if hasattr(self.extraction, name) else self.rule, name) for name in PRESET_SETTINGS}
        if self.symmetrize is not None:  # a one-direction preset leaves `symmetrize` unset
            chosen["symmetrize"] = self.symmetrize
        return chosen

    def links(self, matrices: Mapping[ScoreRequest, np.ndarray], pair: EncodedPair) -> list[ScoredLink]:
        """This setting's links of one pair, from matrices that include its requests."""
        residual = self.extraction.measure in RESIDUAL_MEASURES
        return self.rule.links(self.extraction.combine(matrices), pair.final_punctuation, residual=residual)


def candidate_grid(
    decoder_layers: int,
    src_merge: str = "sum",
    tgt_merge: str = "mean",
    heads: int = 0,
    measures: Sequence[str] = MEASURES,
    steps: Sequence[str] = STEPS,
) -> list[Candidate]:
    """Single layers, adjacent layer pairs and (``heads`` > 0) every single head of every layer,
    x measures x steps x decisions x the two rules (x the two residual rules, for residual measures).
    ``measures`` narrows the grid: `eval/deen_best.py` searches them all, the test suite only weight and norm.
    ``steps``: the model's (:attr:`~aligner.backends.base.ModelInfo.steps`, with ``full`` for a
    checkpoint trained with fairseq's --full-context-alignment).

    Single heads matter for models trained with guided alignment (fairseq's transformer_align,
    Marian's --guided-alignment), where one supervised head aligns far better than its layer;
    they get only the measures with a per-head form.
    """
    layer_sets: list[tuple[tuple[int, ...], tuple[int, ...]]] = [((layer,), ()) for layer in range(1, decoder_layers + 1)]
    layer_sets += [((layer, layer + 1), ()) for layer in range(1, decoder_layers)]
    layer_sets += [((layer,), (head,)) for layer in range(1, decoder_layers + 1) for head in range(1, heads + 1)]
    decisions = [(decision, 0.5, "rows") for decision in DECISIONS if decision != "threshold"]
    decisions += [("threshold", threshold, "rows") for threshold in THRESHOLDS]
    return [
        Candidate(
            Extraction(layers, head_set, measure=measure, step=step, src_merge=src_merge, tgt_merge=tgt_merge),
            DecisionRule(decision, threshold, normalize, eos_null, final_punct, residual_null),
        )
        for layers, head_set in layer_sets
        for measure in measures
        if not head_set or measure in PER_HEAD_MEASURES
        for step in steps
        for decision, threshold, normalize in decisions
        for eos_null in (True, False)
        for final_punct in (False, True)
        for residual_null in ((False, True) if measure in RESIDUAL_MEASURES else (False,))
    ]


def _grid(aligner: Aligner, measures: Sequence[str]) -> list[Candidate]:
    info = aligner.engine.info
    return candidate_grid(info.decoder_layers, aligner.config.src_merge, aligner.config.tgt_merge, info.heads, measures, info.steps)


def _requests(candidates: Sequence[Candidate]) -> list[ScoreRequest]:
    requests = {request for candidate in candidates for request in candidate.extraction.requests()}
    return sorted(requests, key=lambda r: (r.layer, -1 if r.head is None else r.head, r.measure, r.step))


def score_candidates(
    aligner: Aligner, pairs: Iterable[SentencePair], golds: Sequence[GoldLinks], candidates: Sequence[Candidate]
) -> dict[Candidate, AlignmentCounts]:
    """Corpus counts of every (one-direction) candidate, from one forward pass per batch."""
    return corpus_counts(aligner, pairs, golds, _requests(candidates), candidates, _SharedLinks())


class _SharedLinks:
    """Candidates' links of one pair at a time, sharing the work that candidates have in common.

    The grid holds each extraction under dozens of rules and each decision with and without the
    final-punctuation rule: the combined matrix and the decision are computed once per pair. It
    is called with one pair's matrices for every candidate in turn, then with the next pair's.
    """

    def __init__(self) -> None:
        self._matrices: Optional[Mapping[ScoreRequest, np.ndarray]] = None
        self._combined: dict[Extraction, np.ndarray] = {}
        self._decided: dict[tuple, tuple[np.ndarray, list[ScoredLink]]] = {}

    def __call__(self, candidate: Candidate, matrices: Mapping[ScoreRequest, np.ndarray], pair: EncodedPair) -> list[ScoredLink]:
        if matrices is not self._matrices:  # a new pair; holding its matrices keeps identity meaningful
            self._matrices, self._combined, self._decided = matrices, {}, {}
        extraction, rule = candidate.extraction, candidate.rule
        key = (extraction, rule.decision, rule.threshold, rule.normalize, rule.eos_null, rule.residual_null)  # all but final_punct
        if key not in self._decided:
            if extraction not in self._combined:
                self._combined[extraction] = extraction.combine(matrices)
            self._decided[key] = rule.decided(self._combined[extraction], residual=extraction.measure in RESIDUAL_MEASURES)
        return rule.punctuated(*self._decided[key], pair.final_punctuation)


def candidate_links(aligner: Aligner, pairs: Sequence[SentencePair], candidates: Sequence[Candidate]) -> dict[Candidate, list[list[ScoredLink]]]:
    """The links of every one-direction candidate on every pair, in input order."""
    found: dict[Candidate, list[list[ScoredLink]]] = {candidate: [[] for _ in pairs] for candidate in candidates}
    for index, links in links_per_pair(aligner, pairs, _requests(candidates), candidates, _SharedLinks(), scored=True):
        for candidate in candidates:
            found[candidate][index] = links[candidate]
    return found


def score_symmetrized(
    forward: Aligner, reverse: Aligner, pairs: Sequence[SentencePair], golds: Sequence[GoldLinks], candidates: Sequence[Candidate]
) -> dict[Candidate, AlignmentCounts]:
    """Corpus counts of symmetrized candidates.

    Each candidate's setting runs on the forward model and on the reverse (target-to-source) model
    over the swapped pairs, as ``aligner align --reverse-path`` does; the reverse links are
    transposed to source-target order and the two combined by the candidate's method.
    """
    if len(pairs) != len(golds):
        raise InputError(f"{len(pairs)} sentence pairs but {len(golds)} gold lines")
    singles = list(dict.fromkeys(candidate.single for candidate in candidates))
    forward_links = candidate_links(forward, pairs, singles)
    reverse_links = candidate_links(reverse, [SentencePair(pair.tgt, pair.src) for pair in pairs], singles)
    totals = {}
    for candidate in candidates:
        total = AlignmentCounts()
        for ahead, back, gold in zip(forward_links[candidate.single], reverse_links[candidate.single], golds):
            links = symmetrize_directions(ahead, back, candidate.symmetrize)  # type: ignore[arg-type]
            total = total + count_links([(link.src, link.tgt) for link in links], gold)
        totals[candidate] = total
    return totals


def symmetrized_candidates(
    forward: "Selection", reverse: "Selection", decoder_layers: int, shortlist: int = SYMMETRIZATION_SHORTLIST
) -> list[Candidate]:
    """Each direction's best ``shortlist`` settings on the dev set, with every symmetrization method.

    ``decoder_layers``: the shallower model's depth; both models must have the chosen layers.
    """
    best = dict.fromkeys([c for c, _ in forward.ranking[:shortlist]] + [c for c, _ in reverse.ranking[:shortlist]])
    return [
        replace(candidate, symmetrize=method)
        for candidate in best
        if max(candidate.extraction.layers) <= decoder_layers
        for method in SYMMETRIZATIONS
    ]


@dataclass(frozen=True)
class Selection:
    chosen: Candidate
    dev_aer: float
    ranking: list[tuple[Candidate, float]]  # the dev AER of every candidate, best first

    def preset(self, name: str, dev_description: str, signature: str) -> dict:
        return {
            "format": "aligner-preset/1",
            "name": name,
            "settings": {key: (list(value) if isinstance(value, tuple) else value) for key, value in self.chosen.settings().items()},
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
    from ..schemas import PRESET, validate

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable aligner preset ({exc})", path) from None
    validate(record, PRESET, path, InputError)
    name, settings = record["name"], dict(record["settings"])
    unknown = sorted(set(settings) - set(FIELD_PARTS))
    if unknown:
        raise InputError(f"unknown settings in preset: {', '.join(unknown)}", path)
    not_decisions = sorted(set(settings) - set(PRESET_FIELDS))
    if not_decisions:
        raise InputError(
            f"a preset sets extraction and decision settings only, not {', '.join(not_decisions)} (give those as options)", path
        )
    for indices in ("layers", "heads"):
        if indices in settings:
            settings[indices] = tuple(settings[indices])
    return name, settings


@dataclass(frozen=True)
class GoldSet:
    pairs: list[SentencePair]
    golds: list[GoldLinks]
    dropped_links: int
    description: str

    def reversed(self) -> "GoldSet":
        """The same set for a target-to-source model: sides swapped, links transposed."""
        golds = [GoldLinks(frozenset((j, i) for i, j in g.sure), frozenset((j, i) for i, j in g.possible)) for g in self.golds]
        pairs = [SentencePair(pair.tgt, pair.src) for pair in self.pairs]
        return GoldSet(pairs, golds, self.dropped_links, self.description + ", reversed")


def load_gold_set(src: str, tgt: str, gold: str, one_based: bool = True, drop_invalid: bool = False, reverse: bool = False) -> GoldSet:
    """Text and gold of an evaluation set, with links checked against the sentence lengths."""
    from ..io import check_gold_range, read_gold, read_parallel

    pairs = list(read_parallel(src, tgt))
    golds = read_gold(gold, one_based, reverse)
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


def select_settings(
    forward: Aligner, dev: GoldSet, test: GoldSet, reverse: Optional[Aligner] = None, top: int = 10, measures: Sequence[str] = MEASURES
) -> tuple[str, list[tuple[str, Selection, str]]]:
    """Choose settings on ``dev`` and report them on ``test``, for one model and optionally symmetrized.

    Returns the Markdown report and, for each preset to write, (kind, selection, signature):
    ``forward`` always, ``symmetrized`` when a reverse model is given. The reverse model's own
    choice is reported (on the swapped pairs, against the transposed gold) but gets no preset.
    """
    def shortlist(selection: Selection) -> list[Candidate]:
        return [candidate for candidate, _ in selection.ranking[:top]]

    ahead = select(score_candidates(forward, dev.pairs, dev.golds, _grid(forward, measures)))
    parts = [("forward", ahead, score_candidates(forward, test.pairs, test.golds, shortlist(ahead)), dev, test)]
    def signature(candidate: Candidate) -> Signature:
        return Signature.of(forward.engine.info, candidate.extraction, candidate.rule)

    presets = [("forward", ahead, str(signature(ahead.chosen)))]
    if reverse is not None:
        back_dev, back_test = dev.reversed(), test.reversed()
        back = select(score_candidates(reverse, back_dev.pairs, back_dev.golds, _grid(reverse, measures)))
        parts.append(("reverse", back, score_candidates(reverse, back_test.pairs, back_test.golds, shortlist(back)), back_dev, back_test))
        layers = min(forward.engine.info.decoder_layers, reverse.engine.info.decoder_layers)
        candidates = symmetrized_candidates(ahead, back, layers)
        both = select(score_symmetrized(forward, reverse, dev.pairs, dev.golds, candidates))
        parts.append(("symmetrized", both, score_symmetrized(forward, reverse, test.pairs, test.golds, shortlist(both)), dev, test))
        assert both.chosen.symmetrize is not None  # every symmetrized candidate has its method
        presets.append(("symmetrized", both, str(signature(both.chosen).symmetrized(both.chosen.symmetrize, reverse.engine.info))))

    lines = [
        "| alignment | setting chosen on the dev set | dev AER | test AER | test P | test R |",
        "|---|---|---|---|---|---|",
    ]
    for kind, selection, test_counts, _, _ in parts:
        aer, precision, recall, _ = scores_from_counts(test_counts[selection.chosen])
        lines.append(f"| {kind} | {selection.chosen.label} | {selection.dev_aer * 100:.1f} | {aer * 100:.1f} | "
                     f"{precision * 100:.1f} | {recall * 100:.1f} |")
    if reverse is not None:
        lines += ["", "The reverse model aligns the swapped pairs and is scored against the transposed gold; "
                  f"symmetrized settings are each direction's best {SYMMETRIZATION_SHORTLIST} on the dev set, run on "
                  f"both models, x {', '.join(SYMMETRIZATIONS)}."]
    for kind, selection, test_counts, kind_dev, kind_test in parts:
        lines += ["", f"### {kind.capitalize()}", "", selection_report(selection, kind_dev, kind_test, test_counts, top).rstrip("\n")]
    return "\n".join(lines) + "\n", presets
