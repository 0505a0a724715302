"""Pictures of alignments: word-level score matrices of one sentence pair, and AER by layer.

Data and drawing are kept apart. :func:`pair_plot` runs the aligner and returns a
:class:`PairPlot` (words, matrices, chosen links, gold); :func:`alignment_figure` and
:func:`sweep_figure` only draw; :func:`save_figure` writes PNG, SVG or PDF, chosen by the
file suffix. matplotlib (the ``plot`` extra) is imported only here, inside the functions
that draw, and only its object-oriented API is used: figures get the non-interactive Agg
canvas, and no pyplot or global backend state is touched.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from .choices import PER_HEAD_MEASURES
from .decisions import candidate_shares
from .errors import ConfigError, InputError
from .io import GOLD_REMEDY, GoldLinks, ScoredLink, SentencePair, check_link_range
from .extraction import ScoreRequest
from .pipeline import Aligner

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .evaluation.sweep import SweepResult

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# Metadata that would make two renderings of the same figure differ (creation dates).
_NO_DATES = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}

CELL = 0.3  # inches per matrix cell
FOOTER = 0.55  # inches under the panels: legend and signature
MAX_LABEL = 20  # characters of a word shown on an axis
COLORS = {"weight": "#1b9e77", "norm": "#d95f02"}
STEP_STYLES = {"awi": "-", "awo": "--"}
LINK_COLOR = "#e6550d"
GOLD_COLOR = "#2171b5"
SURE_STYLE: dict[str, Any] = {"linewidth": 1.8}
POSSIBLE_STYLE: dict[str, Any] = {"linewidth": 1.2, "linestyle": (0, (2, 1.5))}
NO_PIECES_COLOR = "#f2e6d0"  # a word that produced no subword pieces has no scores


def require_matplotlib() -> Any:
    """The matplotlib module, or a ConfigError that says how to install it."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"plotting needs matplotlib, which is not installed ({exc}): pip install 'aligner[plot]'") from None
    return matplotlib


def new_figure(width: float, height: float) -> "Figure":
    """An empty figure of ``width`` x ``height`` inches on the Agg canvas, with constrained layout."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def image_format(path: os.PathLike | str) -> str:
    """``png``, ``svg`` or ``pdf`` from the file suffix (case-insensitive)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot tell the image format from the name {Path(path).name!r}: end it in .png, .svg or .pdf")
    return FORMATS[suffix]


def numbered_path(path: os.PathLike | str, line: int) -> Path:
    """``OUT-<line>.<suffix>``: the file of one input line when several are plotted."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{line}{path.suffix}")


def save_figure(figure: "Figure", path: os.PathLike | str, dpi: float = 150) -> Path:
    """Write the figure as PNG, SVG or PDF (by suffix). Its size is the figure size exactly (no tight crop)."""
    from .files import write_atomically

    fmt = image_format(path)
    write_atomically(path, lambda temporary: figure.savefig(temporary, format=fmt, dpi=dpi, metadata=_NO_DATES[fmt]))
    return Path(path)


# --- one sentence pair ---------------------------------------------------------------------


@dataclass(frozen=True)
class PairPlot:
    """Everything the figure of one sentence pair shows; drawing it needs no model.

    ``matrices`` are word-level (target words x source words + ``</s>``), as
    :meth:`Aligner.word_scores` returns them; ``links`` the aligner's decision on each.
    """

    src: tuple[str, ...]
    tgt: tuple[str, ...]
    matrices: dict[ScoreRequest, np.ndarray]
    links: dict[ScoreRequest, list[ScoredLink]]
    gold: Optional[GoldLinks] = None
    title: str = ""
    caption: str = ""  # the signature of what produced the matrices and links
    decoder_layers: Optional[int] = field(default=None, compare=False)


def panel_requests(
    layers: Sequence[int],
    measures: Sequence[str],
    steps: Sequence[str],
    head: Optional[int] = None,
    src_merge: str = "sum",
    tgt_merge: str = "mean",
) -> list[ScoreRequest]:
    """One request per measure x step x layer (layers and head 1-based, as the CLI counts), repeats dropped."""
    head0 = None if head is None else head - 1
    requests = [
        ScoreRequest(layer - 1, head0, measure, step, src_merge, tgt_merge) for measure in measures for step in steps for layer in layers
    ]
    return list(dict.fromkeys(requests))


def check_requests(requests: Sequence[ScoreRequest], decoder_layers: int, heads: int) -> None:
    if not requests:
        raise ConfigError("nothing to plot: choose at least one layer, measure and step")
    for request in requests:
        if not 0 <= request.layer < decoder_layers:
            raise ConfigError(f"layer {request.layer + 1} does not exist: the decoder has {decoder_layers} layers")
        if request.head is not None and not 0 <= request.head < heads:
            raise ConfigError(f"head {request.head + 1} does not exist: the decoder layers have {heads} heads")
        if request.head is not None and request.measure not in PER_HEAD_MEASURES:
            raise ConfigError(f"the {request.measure} measure has no per-head form: plot it at layer level")


def pair_plot(
    aligner: Aligner,
    pair: SentencePair,
    requests: Sequence[ScoreRequest],
    gold: Optional[GoldLinks] = None,
    index: int = 0,
    title: Optional[str] = None,
) -> PairPlot:
    """Run the aligner on one pair (``index`` is its 0-based input line) for every panel.

    Links come from the aligner's own decision settings (argmax or threshold, ``</s>``).
    """
    info = aligner.engine.info
    check_requests(requests, info.decoder_layers, info.heads)
    encoded = aligner.encode(index, pair)
    if encoded.empty:
        raise InputError("nothing to plot: a side of this pair has no words with subword pieces", line=index + 1)
    if gold is not None:
        check_link_range(sorted(gold.possible), len(pair.src), len(pair.tgt), None, index + 1, False, "gold link", GOLD_REMEDY)
    [matrices] = aligner.word_scores([encoded], list(requests))
    links = {request: aligner.links(matrix, encoded) for request, matrix in matrices.items()}
    caption = aligner.signature.update(
        layer=",".join(str(l) for l in _unique(r.layer + 1 for r in requests)) + f"/{info.decoder_layers}",
        head=",".join(_unique("all" if r.head is None else str(r.head + 1) for r in requests)),
        measure=",".join(_unique(r.measure for r in requests)),
        step=",".join(_unique(r.step for r in requests)),
    ).format()
    return PairPlot(
        pair.src,
        pair.tgt,
        matrices,
        links,
        gold,
        title if title is not None else f"line {index + 1}",
        caption,
        info.decoder_layers,
    )


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def panel_grid(requests: Sequence[ScoreRequest]) -> tuple[list[tuple], list[int], dict[ScoreRequest, tuple[int, int]]]:
    """Rows are (measure, step, head) in the order given, columns layers ascending; cell of each request."""
    rows = _unique((r.measure, r.step, r.head) for r in requests)
    columns = sorted({r.layer for r in requests})
    cells = {r: (rows.index((r.measure, r.step, r.head)), columns.index(r.layer)) for r in requests}
    return rows, columns, cells


def panel_title(request: ScoreRequest, decoder_layers: Optional[int] = None) -> str:
    of = f"/{decoder_layers}" if decoder_layers else ""
    head = "" if request.head is None else f" head {request.head + 1}"
    return f"{request.measure} · layer {request.layer + 1}{of}{head} · {request.step.upper()}"


def _label(word: str) -> str:
    return word if len(word) <= MAX_LABEL else word[: MAX_LABEL - 1] + "…"


def alignment_figure_size(plot: PairPlot) -> tuple[float, float]:
    """Inches: cells of ``CELL``, room for the longest words, titles, legend, colour bar and caption."""
    rows, columns, _ = panel_grid(list(plot.matrices))
    src_chars = max([len(_label(w)) for w in plot.src] + [4])
    tgt_chars = max([len(_label(w)) for w in plot.tgt] + [1])
    panel_width = max(matrix.shape[1] for matrix in plot.matrices.values()) * CELL + 0.3
    panel_height = len(plot.tgt) * CELL + 0.3
    width = 0.4 + 0.075 * tgt_chars + len(columns) * panel_width + 1.0
    height = 0.45 + len(rows) * panel_height + 0.2 + 0.075 * src_chars + FOOTER
    return round(max(width, 5.0), 2), round(height, 2)


def alignment_figure(plot: PairPlot) -> "Figure":
    """The pair's matrices side by side (rows measure x step, columns layers), links and gold marked.

    Cells show each score's share of its row, the ``</s>`` column included (the share that
    ``--scores`` reports for links under the default ``eos_null``), on one scale for all panels, weights and norms alike:
    white is 0, black the largest share in the figure.
    """
    rows, columns, cells = panel_grid(list(plot.matrices))
    width, height = alignment_figure_size(plot)
    figure = new_figure(width, height)
    panels, footer = figure.subfigures(2, 1, height_ratios=[height - FOOTER, FOOTER])  # type: ignore[misc]
    axes = panels.subplots(len(rows), len(columns), squeeze=False)
    shares = {request: candidate_shares(matrix) for request, matrix in plot.matrices.items()}
    top = max([float(np.nanmax(s)) for s in shares.values() if not np.isnan(s).all()] + [1e-6])
    image = None
    for request, (row, column) in cells.items():
        ax = axes[row][column]
        image = ax.imshow(shares[request], cmap=_colormap(), vmin=0.0, vmax=top, aspect="equal", interpolation="nearest")
        _mark(ax, plot.links[request], plot.gold)
        first_in_row = column == min(c for r, c in cells.values() if r == row)
        _axis_labels(ax, plot, plot.matrices[request].shape[1], show_x=not _filled_below(cells, row, column), show_y=first_in_row)
        ax.set_title(panel_title(request, plot.decoder_layers), fontsize=9)
    for ax in axes.flat:
        if not ax.images:
            ax.set_axis_off()
    panels.colorbar(image, ax=axes, shrink=0.8, aspect=30, label="share of the row")
    panels.suptitle(plot.title, fontsize=11)
    footer.legend(handles=_legend_handles(plot.gold is not None), loc="upper center", ncols=3, fontsize=8, frameon=False)
    footer.text(0.5, 0.04, _wrap(plot.caption, figure), ha="center", va="bottom", fontsize=6, color="0.35")
    return figure


def _colormap():
    from matplotlib import colormaps

    return colormaps["Greys"].with_extremes(bad=NO_PIECES_COLOR)


def _filled_below(cells: dict, row: int, column: int) -> bool:
    return any(c == column and r > row for r, c in cells.values())


def _axis_labels(ax, plot: PairPlot, width: int, show_x: bool, show_y: bool) -> None:
    """Source words, then ``</s>`` and, for the residual measures, the residual column."""
    extras = ["</s>", "residual"][: width - len(plot.src)]
    ax.set_xticks(range(width))
    ax.set_yticks(range(len(plot.tgt)))
    ax.set_xticklabels([_label(w) for w in plot.src] + extras if show_x else [], rotation=90, fontsize=8)
    ax.set_yticklabels([_label(w) for w in plot.tgt] if show_y else [], fontsize=8)
    ax.tick_params(length=0)
    ax.axvline(len(plot.src) - 0.5, color="0.5", linewidth=0.8, linestyle=":")


def _mark(ax, links: Sequence[ScoredLink], gold: Optional[GoldLinks]) -> None:
    from matplotlib.patches import Circle, Rectangle

    if gold is not None:
        for src, tgt in sorted(gold.possible - gold.sure):
            ax.add_patch(Rectangle((src - 0.42, tgt - 0.42), 0.84, 0.84, fill=False, edgecolor=GOLD_COLOR, **POSSIBLE_STYLE))
        for src, tgt in sorted(gold.sure):
            ax.add_patch(Rectangle((src - 0.42, tgt - 0.42), 0.84, 0.84, fill=False, edgecolor=GOLD_COLOR, **SURE_STYLE))
    for link in links:
        ax.add_patch(Circle((link.src, link.tgt), 0.2, facecolor=LINK_COLOR, edgecolor="white", linewidth=0.6))


def _legend_handles(with_gold: bool) -> list:
    from matplotlib.lines import Line2D

    from matplotlib.patches import Patch

    dot: dict[str, Any] = {"marker": "o", "markersize": 7, "markerfacecolor": LINK_COLOR, "markeredgecolor": "white"}
    handles: list[Any] = [Line2D([], [], linestyle="", label="chosen link", **dot)]
    if with_gold:
        handles += [
            Patch(facecolor="none", edgecolor=GOLD_COLOR, label="gold sure", **SURE_STYLE),
            Patch(facecolor="none", edgecolor=GOLD_COLOR, label="gold possible", **POSSIBLE_STYLE),
        ]
    return handles


def _wrap(text: str, figure: "Figure", points: float = 6) -> str:
    """Break a long signature at ``|`` so that it fits the figure width (about 0.6 em per character)."""
    width = max(40, int(figure.get_figwidth() * 72 / (0.6 * points)) - 4)
    return "\n".join(textwrap.wrap(text.replace("|", "| "), width=width)).replace("| ", "|")


# --- a sweep: AER by layer ------------------------------------------------------------------


def read_sweep_json(path: os.PathLike | str) -> "SweepResult":
    """A :class:`SweepResult` from the JSON that ``aligner sweep -o`` writes (``SweepResult.to_json``)."""
    from .evaluation.metrics import AlignmentCounts
    from .evaluation.sweep import SweepResult, SweepRow

    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a sweep JSON file: {exc}", path) from None
    try:
        rows = [SweepRow(**{**row, "counts": AlignmentCounts(**row["counts"])}) for row in record["rows"]]
        return SweepResult(rows, int(record["pairs"]), str(record["signature"]))
    except (KeyError, TypeError, ValueError) as exc:
        expected = "pairs, signature and rows of layer, head, measure, step, aer, precision, recall, f1, counts"
        raise InputError(f"not a sweep JSON file (expected {expected}): {exc!r}", path) from None


def sweep_figure(result: "SweepResult") -> "Figure":
    """AER (%) against decoder layer: one line per measure (and residual rule) x step, from the layer-level rows."""
    series: dict[tuple[str, str], list] = {}
    for row in sorted((r for r in result.rows if r.head is None), key=lambda r: r.layer):
        series.setdefault((row.setting, row.step), []).append(row)
    if not series:
        raise InputError("the sweep has no layer-level rows (head null) to draw")
    figure = new_figure(6.4, 4.4)
    ax = figure.subplots()
    for (measure, step), rows in sorted(series.items(), key=lambda item: (item[0][1], item[0][0])):
        best = min(rows, key=lambda r: (r.aer, r.layer))
        ax.plot(
            [r.layer for r in rows],
            [100 * r.aer for r in rows],
            marker="o",
            color=COLORS.get(measure),
            linestyle=STEP_STYLES.get(step, "-."),
            label=f"{step.upper()} {measure} (best: L{best.layer}, {100 * best.aer:.1f})",
        )
    layers = sorted({r.layer for rows in series.values() for r in rows})
    ax.set_xticks(layers)
    ax.set_xlabel("decoder layer")
    ax.set_ylabel("AER (%), lower is better")
    ax.grid(True, color="0.9")
    ax.legend(fontsize=8)
    ax.set_title(f"AER by layer on {result.pairs} sentence pairs", fontsize=11)
    if result.signature:
        figure.supxlabel(_wrap(result.signature, figure), fontsize=6, color="0.35")
    return figure
