"""``aligner sweep``: AER of every layer, head, measure and step on a gold set, and choosing settings on a dev set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..choices import MEASURES
from ..errors import InputError
from ..files import write_atomically
from .base import CONTEXT, InputFile, PathArg, claim_reports, comma_list, decision_options, handle_errors, main, model_options, run_options


@main.command(context_settings=CONTEXT)
@model_options
@click.option("--src", required=True, type=InputFile, help="Source text of the gold set.")
@click.option("--tgt", required=True, type=InputFile, help="Target text of the gold set.")
@click.option("--gold", required=True, type=InputFile, help="Gold links (i-j sure, ipj possible).")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--drop-invalid", is_flag=True, help="Drop and count gold links outside their sentence pair instead of refusing the gold set.")
@click.option("--measures", callback=comma_list(MEASURES), default=",".join(MEASURES), show_default=True,
              help="The measures swept and, with --select, searched (comma-separated); fewer give a smaller, faster grid.")
@click.option("--per-head/--no-per-head", "--heads/--no-heads", "heads", default=True, show_default=True, help="Also score every single head (--heads/--no-heads: the old spelling).")
@decision_options
@run_options
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write OUTPUT.md and OUTPUT.json (e.g. eval/results/deen).")
@click.option("--overwrite", is_flag=True, help="Replace existing OUTPUT.md / OUTPUT.json.")
@click.option("--plot", "curve", is_flag=True, help="Also draw AER against layer to OUTPUT.png and show it in OUTPUT.md (needs matplotlib).")
@click.option("--select", "select_on_dev", is_flag=True, help="Choose layers, measure, step and decision on a dev set; report the choice on this set; write OUTPUT.preset.json.")
@click.option("--dev-src", type=InputFile, help="Dev source text. [default: deen_bicici100 under $ALIGNER_DATA]")
@click.option("--dev-tgt", type=InputFile, help="Dev target text.")
@click.option("--dev-gold", type=InputFile, help="Dev gold links (out-of-range links are dropped and counted).")
@click.option("--dev-gold-one-based/--dev-gold-zero-based", default=False, show_default=True, help="Index base of --dev-gold (deen_bicici100 is 0-based).")
@click.option("--dev", "dev_pairs", type=click.IntRange(min=1), help="Use the first N pairs of this gold set as the dev set instead (they stay in the test report).")
@click.option("--preset-row/--no-preset-row", default=True, show_default=True, help="Also score the model bundle's own preset (what align uses with no options), with its own decision.")
@click.option("--force-preset", is_flag=True, help="Score the bundle's preset row even though the preset was chosen for other weights than the model's.")
@click.option("--reverse-path", type=PathArg, help="With --select: also choose a symmetrized setting for this target-to-source model and --path; writes OUTPUT.symmetrized.preset.json.")
@click.option("--json", "as_json", is_flag=True, help="Print every row as JSON on stdout (rates in percent: aer_percent, ...) instead of the layer table.")
@handle_errors
def sweep(src, tgt, gold, gold_zero_based, reverse_gold, drop_invalid, measures, heads, output, overwrite, curve, select_on_dev, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs, preset_row, force_preset, reverse_path, as_json, **settings) -> None:
    """AER of every decoder layer (and head) x measure (--measures) x {awo, awi} on a gold set.

    The rows use the decision options given here; the model bundle's own preset (if its aligner.json
    names one) is scored beside them with its own settings, as align applies it with no options.
    """
    from ..config import AlignConfig
    from ..pipeline import Aligner
    from ..evaluation.select import load_gold_set, select_settings
    from ..evaluation.sweep import run_sweep

    if curve and output is None:
        raise click.UsageError("--plot writes OUTPUT.png and needs -o OUTPUT")
    if select_on_dev and output is None:
        raise click.UsageError("--select writes OUTPUT.preset.json and needs -o OUTPUT")
    if reverse_path is not None and not select_on_dev:
        raise click.UsageError("--reverse-path chooses a symmetrized setting and needs --select")
    targets = [] if output is None else [output.with_suffix(suffix) for suffix in (".md", ".json") + ((".png",) if curve else ())]
    presets = []
    if select_on_dev:
        presets.append(output.with_suffix(".preset.json"))
    if reverse_path is not None:
        presets.append(output.with_suffix(".symmetrized.preset.json"))
    targets += presets
    claim_reports(targets, [src, tgt, gold, dev_src, dev_tgt, dev_gold, reverse_path], overwrite)
    if curve:
        from ..plot import require_matplotlib

        require_matplotlib()
    # Every input is checked before the first forward pass: a bad gold or dev set fails in seconds.
    test = load_gold_set(src, tgt, gold, not gold_zero_based, drop_invalid, reverse_gold)
    if test.dropped_links:
        click.echo(f"dropped {test.dropped_links} out-of-range links of {gold}", err=True)
    dev = _dev_set(test, gold, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs) if select_on_dev else None
    aligner = Aligner(AlignConfig(**settings))
    bundle_settings = None
    if preset_row:
        from ..presets import bundle_preset, with_preset

        preset_file = bundle_preset(settings.get("path"))
        if preset_file is not None:
            # Checked like align's (the preset's model hash too) before the first forward pass.
            bundle_settings = AlignConfig(**with_preset(settings, preset_file, given=(), force=force_preset))
    result = run_sweep(aligner, iter(test.pairs), test.golds, per_head=heads, preset=bundle_settings, measures=measures)
    if as_json:
        from ..reports import sweep_record

        click.echo(json.dumps(sweep_record(result), indent=1))
    else:
        click.echo(result.layer_table())
        if result.preset is not None:
            click.echo("\n" + result.preset.line())
        click.echo(result.signature, err=True)
    if targets:
        image = None
        if curve:
            from ..plot import save_figure, sweep_figure

            image = save_figure(sweep_figure(result), targets[2]).name
        report = result.markdown(image)
        if dev is not None:
            reverse = None if reverse_path is None else Aligner(aligner.config.replace(reverse_path=reverse_path).reversed())
            selection_text, chosen = select_settings(aligner, dev, test, reverse, measures=measures)
            report += "\n## Settings chosen on the dev set\n\n" + selection_text
            for (kind, selection, signature), target in zip(chosen, presets):
                preset = selection.preset(output.name + ("" if kind == "forward" else "." + kind), dev.description, signature)
                write_text(target, json.dumps(preset, indent=1) + "\n")
                click.echo(f"{kind}: chosen on {dev.description}: {selection.chosen.label} (dev AER {selection.dev_aer * 100:.1f})", err=True)
        write_text(targets[0], report)
        write_text(targets[1], result.to_json() + "\n")


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def _dev_set(test, gold, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs):
    from ..evaluation.select import GoldSet, load_gold_set

    if dev_pairs is not None:
        if dev_pairs > len(test.pairs):
            raise InputError(f"--dev {dev_pairs} asks for more pairs than the gold set has ({len(test.pairs)})", gold)
        return GoldSet(test.pairs[:dev_pairs], test.golds[:dev_pairs], 0, f"first {dev_pairs} pairs of {Path(gold).name}")
    if dev_gold is None:
        folder = Path(os.environ.get("ALIGNER_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")) / "gold" / "deen_bicici100"
        dev_src, dev_tgt, dev_gold, dev_gold_one_based = str(folder / "test.de"), str(folder / "test.en"), str(folder / "de-en.wa"), False
        if not Path(dev_gold).is_file():
            raise InputError("no dev set: give --dev-src/--dev-tgt/--dev-gold or --dev N (the default deen_bicici100 is not here)", dev_gold)
    if None in (dev_src, dev_tgt):
        raise click.UsageError("--dev-gold needs --dev-src and --dev-tgt")
    return load_gold_set(dev_src, dev_tgt, dev_gold, dev_gold_one_based, drop_invalid=True)


