"""``aligner align``, ``score`` and ``symmetrize``: options in, one library call, results out."""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import click

from ..choices import MEASURES, STEPS, SYMMETRIZATIONS
from ..errors import InputError
from ..files import claim_outputs
from .base import CONTEXT, InputFile, PathArg, _indices, _inputs, decision_options, handle_errors, input_options, main, model_options, open_output, run_options


@main.command(context_settings=CONTEXT)
@model_options
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Pharaoh output file. [default: stdout]")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: keep --output's complete chunks, align the rest.")
@click.option("--layer", "--layers", "layers", callback=_indices, help="Decoder layers, 1-based: 2, a range 2-4 or a list 2,4, whose matrices are averaged. [default: 2 of 6, round(L/3) otherwise]")
@click.option("--head", "--heads", "heads", callback=_indices, help="Heads, 1-based: 2, 1-3 or 1,3, whose scores are averaged. [default: all heads together (layer level)]")
@click.option("--measure", "--measures", "measure", type=click.Choice(MEASURES), default="norm", show_default=True, help="Attention weights or vector norms ||alpha f(x)||.")
@click.option("--step", "--steps", "step", type=click.Choice(STEPS), default="awi", show_default=True, help="Row where the target word is the decoder input (awi) or is predicted (awo).")
@decision_options
@click.option("--scores", is_flag=True, help="Write i-j:score, the link's share of its row (4 decimals).")
@click.option("--preset", "preset_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Settings chosen by 'aligner sweep --select'; options given here override them. [default: the model bundle's own preset, if its aligner.json names one]")
@click.option("--no-preset", is_flag=True, help="Ignore the bundle's preset: the paper's defaults, changed only by the options given.")
@click.option("--force-preset", is_flag=True, help="Apply the preset even though it was chosen for other weights than the model's.")
@click.option("--reverse-path", type=PathArg, help="A target-to-source model (checkpoint or bundle) run on the swapped pairs; its links are symmetrized with --path's.")
@click.option("--symmetrize", type=click.Choice(SYMMETRIZATIONS), default="grow-diag-final-and", show_default=True, help="How forward and reverse links combine (with --reverse-path).")
@click.option("--skip-long", is_flag=True, help="Write an empty line for pairs longer than the model's positions instead of failing.")
@run_options
@click.option("--chunk-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Input lines sorted, batched and written together (the unit of --resume).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, signature or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary and signature as JSON (stderr).")
@handle_errors
@click.pass_context
def align(context, src, tgt, bitext, output, overwrite, resume, scores, quiet, as_json, preset_file, no_preset, force_preset, **settings) -> None:
    """Align sentence pairs and write Pharaoh 'i-j' lines (0-based, source first).

    Settings: a model bundle may name its own preset (settings chosen for it on a dev set); it
    applies unless --preset names another or --no-preset is given, and every option given on the
    command line overrides its field (the signature then says which, e.g. preset:NAME+layers).

    With -o, a manifest (OUTPUT.manifest.json: input hashes, settings) is written beside the
    output so that an interrupted run can be finished with --resume.
    """
    from tqdm import tqdm

    from ..config import AlignConfig
    from ..runner.corpus import align_corpus

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if resume and output in (None, "-"):
        raise click.UsageError("--resume needs an output file (-o)")
    if preset_file is not None and no_preset:
        raise click.UsageError("--preset and --no-preset exclude each other")
    if preset_file is None and not no_preset:
        preset_file = bundle_preset(settings.get("path"))
    if preset_file is not None:
        if not force_preset:
            from ..backends.fairseq.resources import default_model, find_bundle
            from ..presets import check_preset_model

            check_preset_model(preset_file, find_bundle(settings.get("path") or default_model())[0])
        settings = _with_preset(context, settings, preset_file)
    config = AlignConfig(**settings)
    inputs = _inputs(src, tgt, bitext)
    show_progress = not quiet and sys.stderr.isatty()
    with tqdm(desc="aligning", unit=" pairs", disable=not show_progress, file=sys.stderr) as bar:
        def progress(done: int) -> None:
            bar.update(done - bar.n)

        result = align_corpus(config, inputs, output, resume=resume, overwrite=overwrite, scores=scores, progress=progress)
    if not quiet and result.rank == 0:
        _report(result, as_json)


def _with_preset(context: click.Context, settings: dict, preset_file: Path) -> dict:
    """The preset's settings where the command line left an option at its default."""
    from ..evaluation.select import read_preset

    name, preset = read_preset(preset_file)
    if "symmetrize" in preset and settings.get("reverse_path") is None:
        raise click.UsageError(f"preset {name} ({preset_file}) symmetrizes two models: give the reverse model with --reverse-path")
    chosen = dict(settings)
    overridden = []
    for key, value in preset.items():
        if context.get_parameter_source(key) in (None, click.core.ParameterSource.DEFAULT):
            chosen[key] = value
        else:
            overridden.append(key)
    chosen["preset"] = "+".join([name, *overridden])
    return chosen


def bundle_preset(path: Optional[Path]) -> Optional[Path]:
    """The preset file the model's bundle names (``aligner.json`` format 2), if any."""
    from ..backends.fairseq.resources import default_model, find_bundle

    _, bundle = find_bundle(path if path is not None else default_model())
    return None if bundle is None else bundle.preset_path


def _report(result, as_json: bool) -> None:
    stats, seconds, world_size = result.stats, result.seconds, result.world_size
    if world_size > 1:
        click.echo(f"aligner: {world_size} processes; the counts below are rank 0's share", err=True)
    rate = stats.pairs / seconds if seconds > 0 else 0.0
    if stats.pieces and stats.unknown_pieces / stats.pieces > 0.05:
        click.echo(
            f"aligner: warning: {stats.unknown_pieces / stats.pieces:.0%} of the subword pieces are unknown to the "
            "dictionary; check --lowercase and the subword model",
            err=True,
        )
    if as_json:
        record = {"signature": result.signature.format(), "seconds": round(seconds, 3), "pairs_per_second": round(rate, 2), **vars(stats)}
        click.echo(json.dumps(record), err=True)
        return
    click.echo(
        f"aligned {stats.pairs} pairs in {seconds:.1f} s ({rate:.1f} pairs/s); {stats.empty_pairs} with an empty side, "
        f"{stats.skipped_long} skipped as too long, "
        f"{stats.words_without_pieces} words without pieces, {stats.unknown_pieces} unknown pieces",
        err=True,
    )
    click.echo(result.signature.format(), err=True)


@main.command(context_settings=CONTEXT)
@click.option("--gold", required=True, type=InputFile, help="Gold links: i-j sure, ipj or i?j possible.")
@click.option("--hyp", required=True, type=InputFile, help="Hypothesis in Pharaoh format (0-based i-j, source first).")
@click.option("--src", type=InputFile, help="Source text, to check link indices.")
@click.option("--tgt", type=InputFile, help="Target text, to check link indices.")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--drop-invalid", is_flag=True, help="Drop and count out-of-range links instead of failing (needs --src/--tgt).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def score(gold, hyp, src, tgt, gold_zero_based, reverse_gold, drop_invalid, as_json) -> None:
    """Score a Pharaoh hypothesis against gold: AER, precision, recall, F1 (corpus level)."""
    from ..evaluation.scoring import ScoreConfig, score_files

    result = score_files(ScoreConfig(gold, hyp, src, tgt, not gold_zero_based, reverse_gold, drop_invalid))
    if as_json:
        click.echo(result.to_json())
        return
    click.echo(result.format())
    if result.dropped_links:
        click.echo(f"dropped {result.dropped_links} out-of-range links", err=True)
    click.echo(result.signature, err=True)


@main.command(context_settings=CONTEXT)
@click.option("--forward", required=True, type=InputFile, help="Forward alignment, Pharaoh i-j (source first).")
@click.option("--reverse", required=True, type=InputFile, help="Reverse alignment, also source first (as fast_align -r writes it).")
@click.option("--method", type=click.Choice(SYMMETRIZATIONS), default="grow-diag-final-and", show_default=True, help="Heuristic, as fast_align's atools -c.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Pharaoh output file. [default: stdout]")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@handle_errors
def symmetrize(forward, reverse, method, output, overwrite) -> None:
    """Combine two directional Pharaoh alignments into one, as fast_align's 'atools -c METHOD' does.

    Scores ('i-j:score') in the inputs are dropped.
    """
    from itertools import zip_longest

    from ..io import ScoredLink, count_lines, format_pharaoh, is_regular_file, read_pharaoh
    from ..symmetrize import symmetrize as symmetrize_links

    with ExitStack() as stack:
        claim_outputs([output], [forward, reverse], stack, overwrite=overwrite)
        if is_regular_file(forward) and is_regular_file(reverse):
            # Counted before the output is opened, so a mismatch leaves no partial output behind.
            forward_count, reverse_count = count_lines(forward), count_lines(reverse)
            if forward_count != reverse_count:
                raise InputError(
                    f"line counts differ: forward {forward} has {forward_count} lines, reverse {reverse} has {reverse_count}"
                )
        out = open_output(output, stack)
        pairs = zip_longest(read_pharaoh(forward), read_pharaoh(reverse))
        for number, (forward_links, reverse_links) in enumerate(pairs, start=1):
            if forward_links is None or reverse_links is None:
                # Only pipes get here; regular files were counted above.
                longer, shorter = (forward, reverse) if reverse_links is None else (reverse, forward)
                raise InputError(f"{shorter} ended at line {number - 1}; {longer} has more lines", longer, number)
            links = symmetrize_links(
                ((link.src, link.tgt) for link in forward_links), ((link.src, link.tgt) for link in reverse_links), method
            )
            out.write(format_pharaoh(ScoredLink(src, tgt) for src, tgt in links) + "\n")
        out.flush()


