"""``aligner plot`` and ``plot-sweep``: pictures of score matrices and of AER by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import click

from ..choices import ALL_STEPS, MEASURES
from ..errors import InputError
from .base import CONTEXT, InputFile, PathArg, _indices, claim_reports, comma_list, _inputs, decision_options, handle_errors, input_options, main, model_options, run_options
from .presets import apply_preset, preset_options


# --- plot, plot-sweep -------------------------------------------------------------------------


def _plot_outputs(output: Path, lines: tuple[int, ...]) -> list[Path]:
    from ..plot import image_format, numbered_path

    image_format(output)
    return [output] if len(lines) == 1 else [numbered_path(output, line) for line in lines]


def _selected_pairs(pairs: Iterator, lines: tuple[int, ...], input_name: str) -> dict:
    """The pairs of the requested 1-based lines; reading stops after the last one."""
    last, found, count = max(lines), {}, 0
    for count, pair in enumerate(pairs, start=1):
        if count in lines:
            found[count] = pair
        if count == last:
            return found
    raise InputError(f"line {last} was asked for (--lines) but the input has only {count} lines", input_name)


@main.command("plot", context_settings=CONTEXT)
@model_options
@input_options
@click.option("--lines", callback=comma_list(positive_int=True), default="1", show_default=True, help="Input lines to draw, 1-based, e.g. 1,3: one image each.")
@click.option("--gold", type=InputFile, help="Gold links to overlay (i-j sure, ipj possible), line-aligned with the input.")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--layer", "--layers", "layers", callback=_indices, help="Decoder layers, 1-based: 2, a range 1-3 or a list 1,3: one panel column each (not averaged, unlike align). [default: the preset's, else the default --layer of align]")
@click.option("--measure", "--measures", "measures", callback=comma_list(MEASURES), default="weight,norm", help="Panel rows: any of the measures, comma-separated (weight,norm,alti-xattn,...). [default: the preset's measure, else weight,norm]")
@click.option("--step", "--steps", "steps", callback=comma_list(ALL_STEPS), default="awi", help="Panel rows: awi, awo, full or several (awi,awo). [default: the preset's step, else awi]")
@decision_options
@run_options
@preset_options
@click.option("-o", "--output", required=True, type=PathArg, help="Image file, .png, .svg or .pdf; with several --lines, OUT-<line>.<suffix> each.")
@click.option("--overwrite", is_flag=True, help="Replace existing images.")
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=150, show_default=True, help="Pixels per inch of a PNG (SVG and PDF are vector).")
@handle_errors
@click.pass_context
def plot_command(context, src, tgt, bitext, lines, gold, gold_zero_based, reverse_gold, layers, measures, steps, output, overwrite, dpi,
                 preset_file, no_preset, force_preset, **settings) -> None:
    """Draw word-level weight/norm matrices of sentence pairs, with the chosen links and gold.

    Panels are measure x step (rows) by layer (columns); a cell is its score's share of the row.

    Settings as in align: the model bundle's own preset applies unless --preset names another or
    --no-preset is given; it sets the layers, head, measure and step of the panels and the decision
    of the links wherever the command line gives none (with --no-preset: weight,norm x awi at align's
    default layer).
    """
    from ..config import AlignConfig
    from ..io import GOLD_REMEDY, check_link_range, file_of_side, read_gold, read_pairs
    from ..pipeline import Aligner
    from ..plot import alignment_figure, pair_plot, panel_requests, require_matplotlib, save_figure

    require_matplotlib()
    targets = _plot_outputs(output, lines)
    claim_reports(targets, [src, tgt, bitext, gold, preset_file], overwrite)
    golds = read_gold(gold, not gold_zero_based, reverse_gold) if gold is not None else None
    if golds is not None and max(lines) > len(golds):
        raise InputError(f"line {max(lines)} was asked for (--lines) but the gold has only {len(golds)} lines", gold)
    input_name = src if src is not None else ("<stdin>" if bitext in (None, "-") else bitext)
    selected = _selected_pairs(read_pairs(_inputs(src, tgt, bitext)), lines, input_name)
    panels = {"layers": layers, "measure": measures, "step": steps}
    chosen = apply_preset(context, {**settings, **panels}, preset_file, no_preset, {"measure": "measures", "step": "steps"}, force_preset)
    measures, steps = ((value,) if isinstance(value, str) else value for value in (chosen.pop("measure"), chosen.pop("step")))
    layers, heads = chosen.pop("layers"), chosen.pop("heads", ())
    aligner = Aligner(AlignConfig(**chosen))
    requests = panel_requests(layers or aligner.config.layers, measures, steps, head=heads[0] if len(heads) == 1 else None,
                              src_merge=aligner.config.src_merge, tgt_merge=aligner.config.tgt_merge)
    for line, target in zip(lines, targets):
        pair = selected[line]
        if golds is not None:
            check_link_range(sorted(golds[line - 1].possible), len(pair.src), len(pair.tgt), gold, line, False, "gold link", GOLD_REMEDY)
        try:
            drawn = pair_plot(aligner, pair, requests, golds[line - 1] if golds else None, index=line - 1)
        except InputError as exc:
            if exc.path is None:
                exc.path = file_of_side(exc.side, [src, tgt] if src is not None else [input_name])
            raise
        save_figure(alignment_figure(drawn), target, dpi)
        click.echo(f"wrote {target}", err=True)
    click.echo(drawn.caption, err=True)


@main.command("plot-sweep", context_settings=CONTEXT)
@click.option("--json", "json_path", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Sweep result, as 'aligner sweep -o X' writes X.json.")
@click.option("-o", "--output", required=True, type=PathArg, help="Image file: .png, .svg or .pdf.")
@click.option("--overwrite", is_flag=True, help="Replace an existing image.")
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=150, show_default=True, help="Pixels per inch of a PNG (SVG and PDF are vector).")
@handle_errors
def plot_sweep(json_path, output, overwrite, dpi) -> None:
    """Draw AER against decoder layer from a sweep's JSON: one line per measure x step."""
    from ..plot import image_format, read_sweep_json, require_matplotlib, save_figure, sweep_figure

    require_matplotlib()
    image_format(output)
    claim_reports([output], [json_path], overwrite)
    result = read_sweep_json(json_path)
    save_figure(sweep_figure(result), output, dpi)
    click.echo(f"wrote {output}", err=True)
    click.echo(result.signature, err=True)
