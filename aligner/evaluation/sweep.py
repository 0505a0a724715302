"""AER of every decoder layer (and head) x measure x step on a gold set, from one pass per batch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Callable, Hashable, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np

from ..choices import ALL_STEPS, MEASURES, PER_HEAD_MEASURES, RESIDUAL_MEASURES, STEPS
from ..errors import InputError
from ..io import GoldLinks, ScoredLink, SentencePair
from .metrics import AlignmentCounts, count_links, scores_from_counts
from ..engine import EncodedPair
from ..extraction import ScoreRequest
from ..pipeline import Aligner
from ..signature import Signature

if TYPE_CHECKING:
    from ..config import AlignConfig

PRESET_PARTS = ("layer", "head", "measure", "step", "merge", "decision", "eos", "punct")


@dataclass(frozen=True)
class SweepRow:
    layer: int  # 1-based
    head: Optional[int]  # 1-based; None = layer level
    measure: str
    step: str
    aer: float
    precision: float
    recall: float
    f1: float
    counts: AlignmentCounts
    residual_null: bool = False  # residual measures: the residual column competed like </s> (else dropped)

    @property
    def setting(self) -> str:
        """The measure as the tables name it: ``alti-xattn+null`` when the residual competed."""
        return self.measure + ("+null" if self.residual_null else "")


@dataclass(frozen=True)
class PresetRow:
    """The bundle preset's own settings (what ``aligner align`` uses with no options), scored in the same pass."""

    name: str
    settings: str  # its signature's alignment parts, e.g. layer:5/6|head:1|...
    aer: float
    precision: float
    recall: float
    f1: float
    counts: AlignmentCounts

    def line(self) -> str:
        return f"The bundle's preset {self.name} ({self.settings}): AER {self.aer * 100:.1f}"


@dataclass(frozen=True)
class SweepResult:
    rows: list[SweepRow]
    pairs: int
    signature: str
    preset: Optional[PresetRow] = None

    def best(self, measure: str, step: str, heads: bool = False, residual_null: bool = False) -> SweepRow:
        candidates = [
            r for r in self.rows if r.measure == measure and r.step == step and (r.head is not None) == heads and r.residual_null == residual_null
        ]
        return min(candidates, key=lambda r: (r.aer, r.layer, r.head or 0))

    def to_json(self) -> str:
        record = {"pairs": self.pairs, "signature": self.signature, "rows": [asdict(r) for r in self.rows]}
        if self.preset is not None:
            record["preset"] = asdict(self.preset)
        return json.dumps(record, indent=1)

    def layer_table(self) -> str:
        """Markdown: one row per step x measure, one column per layer, AER in percent."""
        layers = sorted({r.layer for r in self.rows})
        lines = ["| setting / measure | " + " | ".join(f"L{l}" for l in layers) + " |", "|---" * (len(layers) + 1) + "|"]
        for step in ALL_STEPS[::-1]:
            for setting in dict.fromkeys(r.setting for r in self.rows):
                cells = {r.layer: r for r in self.rows if r.step == step and r.setting == setting and r.head is None}
                if not cells:
                    continue
                best = min(cells.values(), key=lambda r: r.aer)
                values = [f"**{cells[l].aer * 100:.1f}**" if cells[l] is best else f"{cells[l].aer * 100:.1f}" for l in layers]
                lines.append(f"| {step.upper()} {setting} | " + " | ".join(values) + " |")
        return "\n".join(lines)

    def head_table(self, step: str, measure: str) -> str:
        """Markdown: AER per layer (rows) and head (columns) for one step and measure."""
        rows = [r for r in self.rows if r.step == step and r.measure == measure and r.head is not None and not r.residual_null]
        if not rows:
            return ""
        heads = sorted({r.head for r in rows if r.head is not None})
        lines = [f"| {step.upper()} {measure} | " + " | ".join(f"H{h}" for h in heads) + " |", "|---" * (len(heads) + 1) + "|"]
        for layer in sorted({r.layer for r in rows}):
            cells = {r.head: r for r in rows if r.layer == layer}
            lines.append(f"| L{layer} | " + " | ".join(f"{cells[h].aer * 100:.1f}" for h in heads) + " |")
        return "\n".join(lines)

    def markdown(self, image: Optional[str] = None) -> str:
        """The report; ``image`` names an AER-vs-layer picture beside it to show under the table."""
        parts = [f"AER (%) on {self.pairs} sentence pairs; lower is better.", "", self.layer_table()]
        if self.preset is not None:
            parts += ["", self.preset.line() + " (its own decision, not the table's)."]
        if image:
            parts += ["", f"![AER against decoder layer]({image})"]
        for step in ALL_STEPS:
            for measure in MEASURES:
                table = self.head_table(step, measure)
                if table:
                    parts += ["", f"Per head, {step.upper()} {measure}:", "", table]
        parts += ["", f"`{self.signature}`"]
        return "\n".join(parts) + "\n"


def sweep_requests(
    decoder_layers: int,
    heads: int,
    per_head: bool,
    src_merge: str = "sum",
    tgt_merge: str = "mean",
    measures: Sequence[str] = MEASURES,
    steps: Sequence[str] = STEPS,
) -> list[ScoreRequest]:
    """Every layer x measure x step, and every head for the measures with a per-head form."""
    head_choices: list[Optional[int]] = [None] + (list(range(heads)) if per_head else [])
    return [
        ScoreRequest(layer, head, measure, step, src_merge, tgt_merge)
        for layer in range(decoder_layers)
        for head in head_choices
        for measure in measures
        if head is None or measure in PER_HEAD_MEASURES
        for step in steps
    ]


def sweep_settings(requests: Sequence[ScoreRequest]) -> list[tuple[ScoreRequest, bool]]:
    """(request, residual_null): the residual measures are scored both ways, the others once."""
    return [(request, null) for request in requests for null in ((False, True) if request.measure in RESIDUAL_MEASURES else (False,))]


Setting = TypeVar("Setting", bound=Hashable)


def links_per_pair(
    aligner: Aligner,
    pairs: Iterable[SentencePair],
    requests: Sequence[ScoreRequest],
    settings: Sequence[Setting],
    links_of: Callable[[Setting, Mapping[ScoreRequest, np.ndarray], EncodedPair], list[ScoredLink]],
    scored: bool = False,
) -> Iterator[tuple[int, dict[Setting, list]]]:
    """(pair index, links of each setting) for every pair, from one forward pass per batch.

    ``links_of`` draws one setting's links from one pair's matrices; the links are ``(src, tgt)``
    pairs, or the :class:`ScoredLink` objects themselves with ``scored``. Pairs come in batch
    order, not input order; a pair with an empty side has no links under any setting.
    """
    encoded = [aligner.encode(index, pair) for index, pair in enumerate(pairs)]
    for pair in encoded:
        if not pair.runnable:
            yield pair.index, {setting: [] for setting in settings}
    for batch in aligner.batches([p for p in encoded if p.runnable]):
        for pair, matrices in zip(batch, aligner.word_scores(batch, requests)):
            if scored:
                yield pair.index, {setting: links_of(setting, matrices, pair) for setting in settings}
            else:
                yield pair.index, {setting: [(l.src, l.tgt) for l in links_of(setting, matrices, pair)] for setting in settings}


def corpus_counts(
    aligner: Aligner,
    pairs: Iterable[SentencePair],
    golds: Sequence[GoldLinks],
    requests: Sequence[ScoreRequest],
    settings: Sequence[Setting],
    links_of: Callable[[Setting, Mapping[ScoreRequest, np.ndarray], EncodedPair], list[ScoredLink]],
) -> dict[Setting, AlignmentCounts]:
    """Corpus counts of each setting (see :func:`links_per_pair`); links are counted, not kept."""
    pairs = list(pairs)
    if len(pairs) != len(golds):
        raise InputError(f"{len(pairs)} sentence pairs but {len(golds)} gold lines")
    totals = {setting: AlignmentCounts() for setting in settings}
    for index, links in links_per_pair(aligner, pairs, requests, settings, links_of):
        for setting in settings:
            totals[setting] = totals[setting] + count_links(links[setting], golds[index])
    return totals


def run_sweep(
    aligner: Aligner,
    pairs: Iterable[SentencePair],
    golds: Sequence[GoldLinks],
    per_head: bool = True,
    preset: Optional["AlignConfig"] = None,
    measures: Sequence[str] = MEASURES,
) -> SweepResult:
    """Corpus-level AER of every request, with the aligner's merges and decision (and both residual rules).

    ``preset`` (settings with ``preset`` naming them, as :mod:`aligner.presets` makes them for the
    bundle's own preset) is scored in the same pass with its own layers, heads and decision.
    """
    info = aligner.engine.info
    requests = sweep_requests(
        info.decoder_layers, info.heads, per_head, aligner.config.src_merge, aligner.config.tgt_merge, measures, info.steps
    )
    rules = {null: replace(aligner.config.rule, residual_null=null) for null in (False, True)}
    settings: list[Union[tuple[ScoreRequest, bool], str]] = list(sweep_settings(requests))
    extraction = preset.extraction.for_model(info.decoder_layers) if preset is not None else None
    decide_preset: dict[str, Callable[[Mapping[ScoreRequest, np.ndarray], EncodedPair], list[ScoredLink]]] = {}
    if preset is not None and extraction is not None:
        from ..presets import check_preset_indices

        check_preset_indices(aligner.engine.check_indices, extraction.layers, extraction.heads, preset.preset)
        requests = list(dict.fromkeys([*requests, *extraction.requests()]))
        settings.append("preset")
        rule, chosen = preset.rule, extraction
        residual = extraction.measure in RESIDUAL_MEASURES
        decide_preset["preset"] = lambda matrices, pair: rule.links(chosen.combine(matrices), pair.final_punctuation, residual=residual)

    def links_of(setting, matrices: Mapping[ScoreRequest, np.ndarray], pair: EncodedPair) -> list[ScoredLink]:
        if isinstance(setting, str):
            return decide_preset[setting](matrices, pair)
        request, null = setting
        return rules[null].links(matrices[request], pair.final_punctuation, residual=request.measure in RESIDUAL_MEASURES)

    totals = corpus_counts(aligner, pairs, golds, requests, settings, links_of)
    preset_row = None
    if preset is not None and extraction is not None:
        parts = Signature.of(info, extraction, preset.rule)
        described = parts.format(PRESET_PARTS)
        counts = totals.pop("preset")
        preset_row = PresetRow(str(preset.preset), described, *scores_from_counts(counts), counts)
    rows = []
    for setting, setting_counts in totals.items():
        if isinstance(setting, str):
            continue
        request, null = setting
        aer, precision, recall, f1 = scores_from_counts(setting_counts)
        head = None if request.head is None else request.head + 1
        rows.append(SweepRow(request.layer + 1, head, request.measure, request.step, aer, precision, recall, f1, setting_counts, null))
    signature = aligner.signature.update(
        layer=f"all/{info.decoder_layers}", head="all+each" if per_head else "all", measure="all", step="all"
    )
    return SweepResult(rows, len(golds), str(signature), preset_row)
