"""AER of every decoder layer (and head) x measure x step on a gold set, from one pass per batch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Callable, Hashable, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar

import numpy as np

from ..choices import MEASURES, PER_HEAD_MEASURES, RESIDUAL_MEASURES, STEPS
from ..errors import InputError
from ..io import GoldLinks, ScoredLink, SentencePair
from .metrics import AlignmentCounts, count_links, scores_from_counts
from ..engine import EncodedPair
from ..extraction import ScoreRequest
from ..pipeline import Aligner


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
class SweepResult:
    rows: list[SweepRow]
    pairs: int
    signature: str

    def best(self, measure: str, step: str, heads: bool = False, residual_null: bool = False) -> SweepRow:
        candidates = [
            r for r in self.rows if r.measure == measure and r.step == step and (r.head is not None) == heads and r.residual_null == residual_null
        ]
        return min(candidates, key=lambda r: (r.aer, r.layer, r.head or 0))

    def to_json(self) -> str:
        return json.dumps({"pairs": self.pairs, "signature": self.signature, "rows": [asdict(r) for r in self.rows]}, indent=1)

    def layer_table(self) -> str:
        """Markdown: one row per step x measure, one column per layer, AER in percent."""
        layers = sorted({r.layer for r in self.rows})
        lines = ["| setting / measure | " + " | ".join(f"L{l}" for l in layers) + " |", "|---" * (len(layers) + 1) + "|"]
        for step in STEPS[::-1]:
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
        if image:
            parts += ["", f"![AER against decoder layer]({image})"]
        for step in STEPS:
            for measure in MEASURES:
                table = self.head_table(step, measure)
                if table:
                    parts += ["", f"Per head, {step.upper()} {measure}:", "", table]
        parts += ["", f"`{self.signature}`"]
        return "\n".join(parts) + "\n"


def sweep_requests(
    decoder_layers: int, heads: int, per_head: bool, src_merge: str = "sum", tgt_merge: str = "mean", measures: Sequence[str] = MEASURES
) -> list[ScoreRequest]:
    """Every layer x measure x step, and every head for the measures with a per-head form."""
    head_choices: list[Optional[int]] = [None] + (list(range(heads)) if per_head else [])
    return [
        ScoreRequest(layer, head, measure, step, src_merge, tgt_merge)
        for layer in range(decoder_layers)
        for head in head_choices
        for measure in measures
        if head is None or measure in PER_HEAD_MEASURES
        for step in STEPS
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
    aligner: Aligner, pairs: Iterable[SentencePair], golds: Sequence[GoldLinks], per_head: bool = True, measures: Sequence[str] = MEASURES
) -> SweepResult:
    """Corpus-level AER of every request, with the aligner's merges and decision (and both residual rules)."""
    info = aligner.engine.info
    requests = sweep_requests(info.decoder_layers, info.heads, per_head, aligner.config.src_merge, aligner.config.tgt_merge, measures)
    rules = {null: replace(aligner.config.rule, residual_null=null) for null in (False, True)}

    def links_of(setting: tuple[ScoreRequest, bool], matrices: Mapping[ScoreRequest, np.ndarray], pair: EncodedPair) -> list[ScoredLink]:
        request, null = setting
        residual = request.measure in RESIDUAL_MEASURES
        return rules[null].links(matrices[request], pair.final_punctuation, residual=residual)

    totals = corpus_counts(aligner, pairs, golds, requests, sweep_settings(requests), links_of)
    rows = []
    for (request, null), counts in totals.items():
        aer, precision, recall, f1 = scores_from_counts(counts)
        head = None if request.head is None else request.head + 1
        rows.append(SweepRow(request.layer + 1, head, request.measure, request.step, aer, precision, recall, f1, counts, null))
    signature = aligner.signature.update(
        layer=f"all/{info.decoder_layers}", head="all+each" if per_head else "all", measure="all", step="all"
    )
    return SweepResult(rows, len(golds), str(signature))
