"""The JSON records that ``--json`` prints: one shape per command, each with ``format`` and ``version``.

Rates are named by their unit (``aer_percent``), the signature comes both as its string and as
``signature_fields``, so a reader needs neither to guess a scale nor to parse ``key:value|...``.
No torch here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import __version__
from .signature import Signature

if TYPE_CHECKING:
    from .evaluation.metrics import AERResult
    from .evaluation.sweep import SweepResult
    from .runner.corpus import CorpusRun

RUN_FORMAT = "aligner-run/1"
SCORE_FORMAT = "aligner-score/1"
SWEEP_FORMAT = "aligner-sweep/1"
RATES = ("aer", "precision", "recall", "f1")


def _header(format_name: str, signature: Signature) -> dict:
    return {"format": format_name, "version": __version__, "signature": signature.format(), "signature_fields": signature.fields()}


def run_record(run: "CorpusRun") -> dict:
    """What ``aligner align --json`` prints: counts, time and the signature of a corpus run."""
    stats = run.stats
    rate = stats.pairs / run.seconds if run.seconds > 0 else 0.0
    return {
        **_header(RUN_FORMAT, run.signature),
        "seconds": round(run.seconds, 3),
        "pairs_per_second": round(rate, 2),
        "processes": run.world_size,  # counts are rank 0's share when more than one
        "resumed_at_line": run.resumed_at,
        **vars(stats),
    }


def score_record(result: "AERResult", signature: Signature) -> dict:
    """What ``aligner score --json`` prints: corpus-level rates in percent, and the counts behind them."""
    return {
        **_header(SCORE_FORMAT, signature),
        **_percent(result),
        "counts": vars(result.counts),
        "sentences": result.sentences,
        "dropped_links": result.dropped_links,
    }


def sweep_record(result: "SweepResult") -> dict:
    """What ``aligner sweep --json`` prints: one row per layer (and head) x measure x step, rates in percent."""
    # A sweep keeps its signature as text (it is read back from OUTPUT.json); its fields come from
    # that text, which Signature.format wrote as key:value parts joined by "|".
    fields = dict(part.split(":", 1) for part in result.signature.split("|"))
    rows = [
        {"layer": row.layer, "head": row.head, "measure": row.measure, "step": row.step, **_percent(row), "counts": vars(row.counts)}
        for row in result.rows
    ]
    record = {"format": SWEEP_FORMAT, "version": __version__, "signature": result.signature, "signature_fields": fields, "pairs": result.pairs, "rows": rows}
    if result.preset is not None:  # the bundle's own preset, scored with its own decision
        preset = result.preset
        record["preset"] = {"name": preset.name, "settings": preset.settings, **_percent(preset), "counts": vars(preset.counts)}
    return record


def _percent(result) -> dict[str, float]:
    return {f"{name}_percent": 100 * getattr(result, name) for name in RATES}
