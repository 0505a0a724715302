"""``aligner align``, ``score`` and ``symmetrize``: options in, one library call, results out."""

from __future__ import annotations

import json
from contextlib import ExitStack

import click

from ..choices import ALL_STEPS, MEASURES, SYMMETRIZATIONS
from ..errors import InputError
from ..files import claim_outputs
from ..reports import run_record
from .base import CONTEXT, InputFile, PathArg, _indices, _inputs, decision_options, handle_errors, input_options, is_quiet, main, model_options, open_output, run_options
from .presets import apply_preset, preset_options
from .progress import progress_bar


@main.command(context_settings=CONTEXT)
@model_options
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Pharaoh output file. [default: stdout]")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: keep --output's complete chunks, align the rest.")
@click.option("--layer", "--layers", "layers", callback=_indices, help="Decoder layers, 1-based: 2, a range 2-4 or a list 2,4, whose matrices are averaged. [default: 2 of 6, round(L/3) otherwise]")
@click.option("--head", "--heads", "heads", callback=_indices, help="Heads, 1-based: 2, 1-3 or 1,3, whose scores are averaged. [default: all heads together (layer level)]")
@click.option("--measure", "--measures", "measure", type=click.Choice(MEASURES), default="norm", show_default=True, help="Attention weights or vector norms ||alpha f(x)||.")
@click.option("--step", "--steps", "step", type=click.Choice(ALL_STEPS), default="awi", show_default=True,
              help="Row where the target word is the decoder input (awi) or is predicted (awo); full: the predicting row of a "
                   "pass that sees the whole target, for models trained with fairseq's --full-context-alignment.")
@decision_options
@click.option("--scores", is_flag=True, help="Write i-j:score into the Pharaoh file (not read by atools or Moses; see --scores-file).")
@click.option("--format", "output_format", type=click.Choice(("pharaoh", "jsonl")), default="pharaoh", show_default=True,
              help="Main output: Pharaoh lines, or JSON Lines (per pair: src, tgt words, links, scores).")
@click.option("--scores-file", type=click.Path(dir_okay=False), help="Also write each link's score (its share of the row, 4 decimals), one line per pair in the Pharaoh line's order.")
@click.option("--words-file", type=click.Path(dir_okay=False), help="Also write each link as src_word<sep>tgt_word, one line per pair (awesome-align's word file).")
@click.option("--matrix/--no-matrix", default=False, show_default=True, help="With --format jsonl: add each pair's word-level matrix (target words x source words + </s>).")
@preset_options
@click.option("--reverse-path", type=PathArg, help="A target-to-source model (checkpoint, bundle or Hugging Face model) run on the swapped pairs; its links are symmetrized with --path's.")
@click.option("--symmetrize", type=click.Choice(SYMMETRIZATIONS), default="grow-diag-final-and", show_default=True, help="How forward and reverse links combine (with --reverse-path).")
@click.option("--skip-long", is_flag=True, help="Write an empty line for pairs longer than the model's positions instead of failing.")
@run_options
@click.option("--chunk-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Input lines sorted, batched and written together (the unit of --resume).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, signature or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary and signature as JSON: on stdout with -o FILE, on stderr (one line) when the alignments go to stdout.")
@handle_errors
@click.pass_context
def align(context, src, tgt, bitext, output, overwrite, resume, scores, output_format, scores_file, words_file, matrix, quiet, as_json, preset_file, no_preset, force_preset, **settings) -> None:
    """Align sentence pairs and write Pharaoh 'i-j' lines (0-based, source first).

    Settings: a model bundle may name its own preset (settings chosen for it on a dev set); it
    applies unless --preset names another or --no-preset is given, and every option given on the
    command line overrides its field (the signature then says which, e.g. preset:NAME+layers).

    With -o, a manifest (OUTPUT.manifest.json: input hashes, settings) is written beside the
    output so that an interrupted run can be finished with --resume; side files (--scores-file,
    --words-file) are cut and resumed with it.
    """
    from ..config import AlignConfig
    from ..runner.corpus import align_corpus
    from ..runner.outputs import OutputSpec

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if resume and output in (None, "-"):
        raise click.UsageError("--resume needs an output file (-o)")
    config = AlignConfig(**apply_preset(context, settings, preset_file, no_preset, force_preset=force_preset))
    inputs = _inputs(src, tgt, bitext)
    outputs = OutputSpec(output_format, scores, scores_file, words_file, matrix)
    quiet = is_quiet(quiet)
    with progress_bar(enabled=not quiet) as progress:
        result = align_corpus(config, inputs, output, resume=resume, overwrite=overwrite, outputs=outputs, progress=progress)
    if result.rank != 0:
        return
    if as_json:
        _print_json(run_record(result), to_stdout=output not in (None, "-"))
    elif not quiet:
        _report(result)


def _print_json(record: dict, to_stdout: bool = True) -> None:
    """JSON on stdout (indented); on stderr as one line when stdout carries the alignments."""
    if to_stdout:
        click.echo(json.dumps(record, indent=1))
    else:
        click.echo(json.dumps(record), err=True)


def _report(result) -> None:
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
    click.echo(
        f"aligned {stats.pairs} pairs in {seconds:.1f} s ({rate:.1f} pairs/s); {stats.empty_pairs} with an empty side, "
        f"{stats.skipped_long} skipped as too long, "
        f"{stats.words_without_pieces} words without pieces, {stats.unknown_pieces} unknown pieces",
        err=True,
    )
    click.echo(result.signature.format(), err=True)


@main.command(context_settings=CONTEXT)
@click.option("--gold", required=True, type=InputFile, help="Gold links: i-j sure, ipj or i?j possible.")
@click.option("--hyp", type=InputFile, default="-", show_default=True, help="Hypothesis in Pharaoh format (0-based i-j, source first); - is stdin.")
@click.option("--src", type=InputFile, help="Source text, to check link indices.")
@click.option("--tgt", type=InputFile, help="Target text, to check link indices.")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--drop-invalid", is_flag=True, help="Drop and count out-of-range links instead of failing (needs --src/--tgt).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (rates in percent: aer_percent, ...).")
@handle_errors
def score(gold, hyp, src, tgt, gold_zero_based, reverse_gold, drop_invalid, as_json) -> None:
    """Score a Pharaoh hypothesis against gold: AER, precision, recall, F1 (corpus level)."""
    from ..evaluation.scoring import ScoreConfig, score_files
    from ..reports import score_record

    config = ScoreConfig(gold, hyp, src, tgt, not gold_zero_based, reverse_gold, drop_invalid)
    result = score_files(config)
    if as_json:
        _print_json(score_record(result, config.signature_parts()))
        return
    click.echo(result.format())
    if is_quiet():
        return
    if result.dropped_links:
        click.echo(f"dropped {result.dropped_links} out-of-range links", err=True)
    click.echo(result.signature, err=True)


@main.command(context_settings=CONTEXT)
@click.option("--forward", required=True, type=InputFile, help="Forward alignment, Pharaoh i-j (source first).")
@click.option("--reverse", type=InputFile, help="Reverse alignment, also source first (as fast_align -r writes it). Not with --method invert.")
@click.option("--method", type=click.Choice((*SYMMETRIZATIONS, "invert")), default="grow-diag-final-and", show_default=True,
              help="Heuristic, as fast_align's atools -c; invert transposes --forward alone (i-j becomes j-i).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Pharaoh output file. [default: stdout]")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@handle_errors
def symmetrize(forward, reverse, method, output, overwrite) -> None:
    """Combine two directional Pharaoh alignments into one, as fast_align's 'atools -c METHOD' does.

    Scores ('i-j:score') in the inputs are dropped.
    """
    from itertools import zip_longest

    from ..errors import display_name
    from ..io import ScoredLink, count_lines, format_pharaoh, is_regular_file, read_pharaoh
    from ..symmetrize import invert
    from ..symmetrize import symmetrize as symmetrize_links

    if (method == "invert") != (reverse is None):
        raise click.UsageError("--method invert takes --forward only" if method == "invert" else "--reverse is required (except with --method invert)")
    with ExitStack() as stack:
        claim_outputs([output], [forward, reverse], stack, overwrite=overwrite)
        if reverse is not None and is_regular_file(forward) and is_regular_file(reverse):
            # Counted before the output is opened, so a mismatch leaves no partial output behind.
            forward_count, reverse_count = count_lines(forward), count_lines(reverse)
            if forward_count != reverse_count:
                raise InputError(
                    f"line counts differ: forward {forward} has {forward_count} lines, reverse {reverse} has {reverse_count}"
                )
        out = open_output(output, stack)
        if reverse is None:
            for line_links in read_pharaoh(forward):
                inverted = invert((link.src, link.tgt) for link in line_links)
                out.write(format_pharaoh(ScoredLink(i, j) for i, j in inverted) + "\n")
            out.flush()
            return
        pairs = zip_longest(read_pharaoh(forward), read_pharaoh(reverse))
        for number, (forward_links, reverse_links) in enumerate(pairs, start=1):
            if forward_links is None or reverse_links is None:
                # Only pipes get here; regular files were counted above.
                longer, shorter = (forward, reverse) if reverse_links is None else (reverse, forward)
                raise InputError(f"{display_name(shorter)} ended at line {number - 1}; {display_name(longer)} has more lines", longer, number)
            links = symmetrize_links(
                ((link.src, link.tgt) for link in forward_links), ((link.src, link.tgt) for link in reverse_links), method
            )
            out.write(format_pharaoh(ScoredLink(src, tgt) for src, tgt in links) + "\n")
        out.flush()
