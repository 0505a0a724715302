"""The ``aligner`` command line: parses options, does I/O, prints. No alignment logic lives here."""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator, Optional, TextIO

import click

from . import __version__
from .config import DEVICES, DTYPES, STEPS
from .decisions import DECISIONS, NORMALIZATIONS
from .errors import AlignerError, InputError
from .measures import MEASURES
from .merge import MERGES
from .symmetrize import SYMMETRIZATIONS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PathArg = click.Path(path_type=Path)
InputFile = click.Path(path_type=str, exists=False, dir_okay=False, allow_dash=True)


def handle_errors(command: Callable) -> Callable:
    """Turn the package's errors into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AlignerError as exc:
            click.echo(f"aligner: error: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            # The reader (e.g. `head`) went away; nothing left to report.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version")
@click.option("-v", "--verbose", is_flag=True, help="Log what is loaded and decided (to stderr).")
def main(verbose: bool) -> None:
    """Word alignments from a fairseq Transformer's cross-attention (weights and vector norms)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="aligner: %(levelname)s: %(message)s")


def check_output(path: Optional[str], overwrite: bool) -> None:
    if path not in (None, "-") and os.path.exists(path) and not overwrite:
        raise InputError("output exists; refusing to overwrite it (use --overwrite)", path)


def open_output(path: Optional[str], stack: ExitStack, append: bool = False) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    return stack.enter_context(open(path, "a" if append else "w", encoding="utf-8", newline="\n"))


def _pairs(src: Optional[str], tgt: Optional[str], bitext: Optional[str]) -> tuple[Iterator, list[str]]:
    """The pair reader and the input files it reads."""
    from .io import read_bitext, read_parallel

    if (src is None) != (tgt is None):
        raise click.UsageError("--src and --tgt go together")
    if src is not None:
        if bitext is not None:
            raise click.UsageError("give either --src/--tgt or --input, not both")
        return read_parallel(src, tgt), [src, tgt]
    name = bitext if bitext is not None else "-"
    return read_bitext(name), [name]


def _indices(context: click.Context, parameter: click.Parameter, text: Optional[str]) -> tuple[int, ...]:
    from .config import parse_indices

    try:
        return parse_indices(text) if text else ()
    except AlignerError as exc:
        raise click.BadParameter(str(exc)) from None


def _set_threads(context: click.Context, parameter: click.Parameter, threads: Optional[int]) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def options(*decorators: Callable) -> Callable:
    """Apply a group of click options shared by several commands."""

    def apply(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


model_options = options(
    click.option("--path", type=PathArg, help="fairseq checkpoint file, or a model directory with aligner.json. [default: the bundled model]"),
    click.option("--data-dir", type=PathArg, help="Directory with dict.<lang>.txt. [default: the checkpoint's directory]"),
    click.option("-s", "--source-lang", help="Source language (dictionary suffix)."),
    click.option("-t", "--target-lang", help="Target language (dictionary suffix)."),
    click.option("--sentencepiece-model", type=PathArg, help="SentencePiece model the checkpoint was trained with (of the source side if the target has its own)."),
    click.option("--bpe-codes", type=PathArg, help="subword-nmt / fastBPE codes the checkpoint was trained with ('@@ ' pieces; of the source side if the target has its own)."),
    click.option("--target-sentencepiece-model", type=PathArg,
                 help="SentencePiece model of the target side, for models trained with separate source and target vocabularies. [default: the source side's model, else the bundle's for the target language]"),
    click.option("--target-bpe-codes", type=PathArg, help="BPE codes of the target side, for separate source and target vocabularies. [default: as --target-sentencepiece-model]"),
    click.option("--lowercase/--no-lowercase", default=None, help="Lowercase words before subword splitting. [default: as the bundle records]"),
)
decision_options = options(
    click.option("--src-merge", type=click.Choice(MERGES), default="sum", show_default=True, help="How a source word's pieces combine."),
    click.option("--tgt-merge", type=click.Choice(MERGES), default="mean", show_default=True, help="How a target word's pieces combine."),
    click.option("--decision", type=click.Choice(DECISIONS), default="argmax", show_default=True,
                 help="Best source word per target word (argmax), best target word per source word (argmax-source), links best both ways (argmax-both), or every link above --threshold."),
    click.option("--normalize", type=click.Choice(NORMALIZATIONS), default="rows", show_default=True, help="--threshold applies to shares of a target word's row or of a source word's column."),
    click.option("--final-punct/--no-final-punct", default=False, show_default=True, help="When both sentences end in punctuation, link those two tokens to each other only."),
    click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Least share of the row's score for a link (with --decision threshold)."),
    click.option("--eos-null/--no-eos-null", default=True, show_default=True, help="A target word whose best source is </s> stays unaligned; --no-eos-null excludes </s> instead."),
)
run_options = options(
    click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Most sentence pairs per forward pass."),
    click.option("--max-tokens", type=click.IntRange(min=1), help="Most padded tokens per forward pass (pairs x longest side), on top of --batch-size."),
    click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True),
    click.option("--dtype", type=click.Choice(tuple(DTYPES)), default="float32", show_default=True, help="Model precision. bfloat16 is fast on recent GPUs and on CPUs with AMX or AVX512-BF16; float16 is for GPUs."),
    click.option("--threads", type=click.IntRange(min=1), expose_value=False, callback=_set_threads, help="CPU threads for torch. [default: torch's choice]"),
)
input_options = options(
    click.option("--src", type=InputFile, help="Source text, one pre-tokenized sentence per line."),
    click.option("--tgt", type=InputFile, help="Target text, line-aligned with --src."),
    click.option("-i", "--input", "bitext", type=InputFile, help="'source ||| target' lines. [default: stdin when no --src/--tgt]"),
)


@main.command(context_settings=CONTEXT)
@model_options
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Pharaoh output file. [default: stdout]")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: keep --output's complete chunks, align the rest.")
@click.option("--layer", "layers", callback=_indices, help="Decoder layer, 1-based; a range 2-4 or list 2,4 averages them. [default: 2 of 6, round(L/3) otherwise]")
@click.option("--head", "heads", callback=_indices, help="One head, 1-based, or a list 1,3 whose scores are averaged. [default: all heads together (layer level)]")
@click.option("--measure", type=click.Choice(MEASURES), default="norm", show_default=True, help="Attention weights or vector norms ||alpha f(x)||.")
@click.option("--step", type=click.Choice(STEPS), default="awi", show_default=True, help="Row where the target word is the decoder input (awi) or is predicted (awo).")
@decision_options
@click.option("--scores", is_flag=True, help="Write i-j:score, the link's share of its row (4 decimals).")
@click.option("--preset", "preset_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Settings chosen by 'aligner sweep --select'; options given here override them.")
@click.option("--reverse-path", type=PathArg, help="A target-to-source model (checkpoint or bundle) run on the swapped pairs; its links are symmetrized with --path's.")
@click.option("--symmetrize", type=click.Choice(SYMMETRIZATIONS), default="grow-diag-final-and", show_default=True, help="How forward and reverse links combine (with --reverse-path).")
@click.option("--skip-long", is_flag=True, help="Write an empty line for pairs longer than the model's positions instead of failing.")
@run_options
@click.option("--chunk-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Input lines sorted, batched and written together (the unit of --resume).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, signature or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary and signature as JSON (stderr).")
@handle_errors
@click.pass_context
def align(context, src, tgt, bitext, output, overwrite, resume, scores, quiet, as_json, preset_file, **settings) -> None:
    """Align sentence pairs and write Pharaoh 'i-j' lines (0-based, source first).

    With -o, a manifest (OUTPUT.manifest.json: input hashes, settings) is written beside the
    output so that an interrupted run can be finished with --resume.
    """
    from tqdm import tqdm

    from .config import AlignConfig
    from .distributed import World, parts_dir, use_local_gpu
    from .io import file_of_side, format_pharaoh
    from .pipeline import make_aligner

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if resume and output in (None, "-"):
        raise click.UsageError("--resume needs an output file (-o)")
    if preset_file is not None:
        settings = _with_preset(context, settings, preset_file)
    config = AlignConfig(**settings)
    check_output(output, overwrite or resume)
    pairs, inputs = _pairs(src, tgt, bitext)
    world = World.from_environment()
    unfinished_parts = output not in (None, "-") and parts_dir(Path(output)).is_dir()
    if unfinished_parts and not (resume or overwrite):
        raise InputError("an unfinished run left part files here; finish it with --resume or start again with --overwrite", output)
    if world.distributed or unfinished_parts:
        use_local_gpu(world, config.device)
        _align_in_parts(world, make_aligner(config), inputs, output, resume, scores, quiet, as_json)
        return
    aligner = make_aligner(config)
    started = time.perf_counter()
    show_progress = not quiet and sys.stderr.isatty()
    with ExitStack() as stack:
        # Nothing is opened for writing before the inputs are checked (line counts of regular
        # files) and the model is loaded, so a bad run leaves existing files alone.
        pairs = _prefetch_first(pairs)
        first_line = _prepare_output(output, resume, scores, aligner, inputs) if output not in (None, "-") else 0
        out = open_output(output, stack, append=first_line > 0)
        progress = stack.enter_context(
            tqdm(desc="aligning", unit=" pairs", initial=first_line, disable=not show_progress, file=sys.stderr)
        )
        try:
            lines = aligner.align_chunks(
                itertools.islice(pairs, first_line, None), first_index=first_line, transform=lambda r: format_pharaoh(r.links, scores) + "\n"
            )
            for chunk in lines:
                # One write per chunk: a killed run leaves whole chunks and at most one partial one.
                out.write("".join(chunk))
                out.flush()
                progress.update(len(chunk))
        except InputError as exc:
            if exc.path is None:
                exc.path = file_of_side(exc.side, inputs)
            raise
    seconds = time.perf_counter() - started
    if not quiet:
        _report(aligner, seconds, as_json)


def _prepare_output(output: str, resume: bool, scores: bool, aligner, inputs: list[str]) -> int:
    """Write or check the run manifest; return the input line to start from (0 unless resuming)."""
    from .resume import check_same_run, cut_to_restart_point, read_manifest, write_manifest

    path = Path(output)
    if not resume and any(name == "-" or not os.path.isfile(name) for name in inputs):
        return 0  # a pipe cannot be hashed or re-read: no manifest, no resume
    config = aligner.config
    manifest = _run_manifest(aligner, scores, inputs)
    if resume and path.exists():
        check_same_run(read_manifest(path), manifest, path)
        return cut_to_restart_point(path, manifest.lines, config.chunk_size)
    write_manifest(path, manifest)
    return 0


def _with_preset(context: click.Context, settings: dict, preset_file: Path) -> dict:
    """The preset's settings where the command line left an option at its default."""
    from .select import read_preset

    name, preset = read_preset(preset_file)
    if "symmetrize" in preset and settings.get("reverse_path") is None:
        raise click.UsageError(f"preset {name} ({preset_file}) symmetrizes two models: give the reverse model with --reverse-path")
    chosen = dict(settings, preset=name)
    for key, value in preset.items():
        if context.get_parameter_source(key) in (None, click.core.ParameterSource.DEFAULT):
            chosen[key] = value
    return chosen


def _run_manifest(aligner, scores: bool, inputs: list[str]):
    from .resume import RunManifest, describe_inputs

    config = aligner.config
    return RunManifest(
        settings=aligner.signature.extended(scores="yes" if scores else "no", long="skip" if config.skip_long else "error").format(),
        batch_size=config.batch_size,
        chunk_size=config.chunk_size,
        inputs=describe_inputs(inputs),
    )


def _align_in_parts(world, aligner, inputs: list[str], output: Optional[str], resume: bool, scores: bool, quiet: bool, as_json: bool) -> None:
    """The chunked run of several processes (or the resume of one): part files, then assembly by rank 0."""
    import shutil

    from . import distributed
    from .io import chunk_offsets, file_of_side, format_pharaoh, read_pair_range
    from .resume import check_same_run, cut_to_restart_point, read_manifest, write_manifest

    if output in (None, "-"):
        raise click.UsageError("a distributed run writes part files and needs an output file (-o)")
    path, chunk_size = Path(output), aligner.config.chunk_size
    parts = distributed.parts_dir(path)
    started = time.perf_counter()
    distributed.start(world, aligner.device)
    try:
        if world.rank == 0:
            manifest = _run_manifest(aligner, scores, inputs)  # also refuses pipes: chunks need seekable files
            if resume and (parts.is_dir() or path.exists()):
                check_same_run(read_manifest(path), manifest, path)
                if not parts.is_dir():
                    cut_to_restart_point(path, manifest.lines, chunk_size)
                    distributed.split_into_parts(path, parts, chunk_size)
            else:
                if parts.is_dir():
                    shutil.rmtree(parts)
                write_manifest(path, manifest)
                parts.mkdir()
        distributed.barrier(world)
        scans = [chunk_offsets(name, chunk_size) for name in inputs]
        counts = [count for _, count in scans]
        if len(set(counts)) > 1:
            raise InputError("line counts differ: " + ", ".join(f"{name} has {count}" for name, count in zip(inputs, counts)))
        offsets, total = [found for found, _ in scans], counts[0]

        def align_text(chunk: int) -> str:
            first = chunk * chunk_size
            pairs = read_pair_range(inputs, [o[chunk] for o in offsets], first + 1, chunk_size)
            try:
                # Drain the generator: a failure is raised after the pairs read before it.
                lines = [line for part in aligner.align_chunks(pairs, first, lambda r: format_pharaoh(r.links, scores) + "\n") for line in part]
            except InputError as exc:
                if exc.path is None:
                    exc.path = file_of_side(exc.side, inputs)
                raise
            return "".join(lines)

        distributed.run_chunks(
            world,
            world.chunks(len(offsets[0])),
            distributed.finished_chunks(parts),
            align_text,
            lambda chunk: (chunk * chunk_size + 1, min((chunk + 1) * chunk_size, total)),
            parts,
        )
        distributed.barrier(world)
        if world.rank == 0:
            distributed.assemble(parts, len(offsets[0]), path)
            if not quiet:
                _report(aligner, time.perf_counter() - started, as_json, world_size=world.size)
    finally:
        distributed.stop(world)


def _prefetch_first(pairs: Iterator) -> Iterator:
    """Start the reader so that checks done before the first pair (line counts) fail before output opens."""
    try:
        first = next(pairs)
    except StopIteration:
        return iter(())

    def chained():
        yield first
        yield from pairs

    return chained()


def _report(aligner, seconds: float, as_json: bool, world_size: int = 1) -> None:
    stats = aligner.stats
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
        record = {"signature": aligner.signature.format(), "seconds": round(seconds, 3), "pairs_per_second": round(rate, 2), **vars(stats)}
        click.echo(json.dumps(record), err=True)
        return
    click.echo(
        f"aligned {stats.pairs} pairs in {seconds:.1f} s ({rate:.1f} pairs/s); {stats.empty_pairs} with an empty side, "
        f"{stats.skipped_long} skipped as too long, "
        f"{stats.words_without_pieces} words without pieces, {stats.unknown_pieces} unknown pieces",
        err=True,
    )
    click.echo(aligner.signature.format(), err=True)


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
    from .scoring import ScoreConfig, score_files

    result = score_files(ScoreConfig(gold, hyp, src, tgt, not gold_zero_based, reverse_gold, drop_invalid))
    if as_json:
        click.echo(result.to_json())
        return
    click.echo(result.format())
    if result.dropped_links:
        click.echo(f"dropped {result.dropped_links} out-of-range links", err=True)
    click.echo(result.signature, err=True)


@main.command(context_settings=CONTEXT)
@model_options
@click.option("--src", required=True, type=InputFile, help="Source text of the gold set.")
@click.option("--tgt", required=True, type=InputFile, help="Target text of the gold set.")
@click.option("--gold", required=True, type=InputFile, help="Gold links (i-j sure, ipj possible).")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--heads/--no-heads", default=True, show_default=True, help="Also score every single head.")
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
@click.option("--reverse-path", type=PathArg, help="With --select: also choose a symmetrized setting for this target-to-source model and --path; writes OUTPUT.symmetrized.preset.json.")
@handle_errors
def sweep(src, tgt, gold, gold_zero_based, reverse_gold, heads, output, overwrite, curve, select_on_dev, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs, reverse_path, **settings) -> None:
    """AER of every decoder layer (and head) x {weight, norm} x {awo, awi} on a gold set."""
    from .config import AlignConfig
    from .io import read_gold, read_parallel
    from .pipeline import Aligner
    from .select import load_gold_set, select_settings
    from .sweep import run_sweep

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
    for target in targets:
        check_output(str(target), overwrite)
    if curve:
        from .plot import require_matplotlib

        require_matplotlib()
    aligner = Aligner(AlignConfig(**settings))
    golds = read_gold(gold, not gold_zero_based, reverse_gold)
    result = run_sweep(aligner, read_parallel(src, tgt), golds, per_head=heads)
    click.echo(result.layer_table())
    click.echo(result.signature, err=True)
    if targets:
        output.parent.mkdir(parents=True, exist_ok=True)
        image = None
        if curve:
            from .plot import save_figure, sweep_figure

            image = save_figure(sweep_figure(result), targets[2]).name
        report = result.markdown(image)
        if select_on_dev:
            test = load_gold_set(src, tgt, gold, not gold_zero_based)
            dev = _dev_set(test, gold, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs)
            reverse = None if reverse_path is None else Aligner(aligner.config.replace(reverse_path=reverse_path).reversed())
            selection_text, chosen = select_settings(aligner, dev, test, reverse)
            report += "\n## Settings chosen on the dev set\n\n" + selection_text
            for (kind, selection, signature), target in zip(chosen, presets):
                preset = selection.preset(output.name + ("" if kind == "forward" else "." + kind), dev.description, signature)
                target.write_text(json.dumps(preset, indent=1) + "\n", encoding="utf-8")
                click.echo(f"{kind}: chosen on {dev.description}: {selection.chosen.label} (dev AER {selection.dev_aer * 100:.1f})", err=True)
        targets[0].write_text(report, encoding="utf-8")
        targets[1].write_text(result.to_json() + "\n", encoding="utf-8")


def _dev_set(test, gold, dev_src, dev_tgt, dev_gold, dev_gold_one_based, dev_pairs):
    from .select import GoldSet, load_gold_set

    if dev_pairs is not None:
        return GoldSet(test.pairs[:dev_pairs], test.golds[:dev_pairs], 0, f"first {dev_pairs} pairs of {Path(gold).name}")
    if dev_gold is None:
        folder = Path(os.environ.get("ALIGNER_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "gold" / "deen_bicici100"
        dev_src, dev_tgt, dev_gold, dev_gold_one_based = str(folder / "test.de"), str(folder / "test.en"), str(folder / "de-en.wa"), False
        if not Path(dev_gold).is_file():
            raise InputError("no dev set: give --dev-src/--dev-tgt/--dev-gold or --dev N (the default deen_bicici100 is not here)", dev_gold)
    if None in (dev_src, dev_tgt):
        raise click.UsageError("--dev-gold needs --dev-src and --dev-tgt")
    return load_gold_set(dev_src, dev_tgt, dev_gold, dev_gold_one_based, drop_invalid=True)


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

    from .io import ScoredLink, count_lines, format_pharaoh, is_regular_file, read_pharaoh
    from .symmetrize import symmetrize as symmetrize_links

    check_output(output, overwrite)
    if is_regular_file(forward) and is_regular_file(reverse):
        # Counted before the output is opened, so a mismatch leaves no partial output behind.
        forward_count, reverse_count = count_lines(forward), count_lines(reverse)
        if forward_count != reverse_count:
            raise InputError(
                f"line counts differ: forward {forward} has {forward_count} lines, reverse {reverse} has {reverse_count}"
            )
    if output not in (None, "-") and os.path.exists(output):
        for source in (forward, reverse):
            if is_regular_file(source) and os.path.samefile(source, output):
                raise InputError("output is also an input; write it elsewhere", output)
    with ExitStack() as stack:
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


# --- plot, plot-sweep -------------------------------------------------------------------------


def _comma_list(choices: Optional[tuple] = None, positive_int: bool = False) -> Callable:
    """A click callback that reads '1,3' or 'weight,norm' into a tuple, checking each item."""

    def parse(ctx, param, value):
        if value is None:
            return None
        items = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        if not items:
            raise click.BadParameter("give at least one value, comma-separated")
        for item in items:
            if positive_int and not (item.isdecimal() and int(item) >= 1):
                raise click.BadParameter(f"{item!r} is not a positive whole number (1-based)")
            if choices is not None and item not in choices:
                raise click.BadParameter(f"{item!r} is not one of {', '.join(choices)}")
        return tuple(int(item) for item in items) if positive_int else items

    return parse


def _plot_outputs(output: Path, lines: tuple[int, ...]) -> list[Path]:
    from .plot import image_format, numbered_path

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
@click.option("--lines", callback=_comma_list(positive_int=True), default="1", show_default=True, help="Input lines to draw, 1-based, e.g. 1,3: one image each.")
@click.option("--gold", type=InputFile, help="Gold links to overlay (i-j sure, ipj possible), line-aligned with the input.")
@click.option("--gold-zero-based", is_flag=True, help="Gold indices start at 0. [default: 1-based]")
@click.option("--reverse-gold", is_flag=True, help="Gold lists target-source links; swap them.")
@click.option("--layers", callback=_comma_list(positive_int=True), help="Decoder layers, 1-based, e.g. 1,2,3: one panel column each. [default: the default --layer of align]")
@click.option("--measures", callback=_comma_list(MEASURES), default=",".join(MEASURES), show_default=True, help="Panel rows: weight, norm or both.")
@click.option("--steps", callback=_comma_list(STEPS), default="awi", show_default=True, help="Panel rows: awi, awo or both.")
@decision_options
@run_options
@click.option("-o", "--output", required=True, type=PathArg, help="Image file, .png, .svg or .pdf; with several --lines, OUT-<line>.<suffix> each.")
@click.option("--overwrite", is_flag=True, help="Replace existing images.")
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=150, show_default=True, help="Pixels per inch of a PNG (SVG and PDF are vector).")
@handle_errors
def plot_command(src, tgt, bitext, lines, gold, gold_zero_based, reverse_gold, layers, measures, steps, output, overwrite, dpi, **settings) -> None:
    """Draw word-level weight/norm matrices of sentence pairs, with the chosen links and gold.

    Panels are measure x step (rows) by layer (columns); a cell is its score's share of the row.
    """
    from .config import AlignConfig
    from .io import file_of_side, read_gold
    from .pipeline import Aligner
    from .plot import alignment_figure, check_gold_range, pair_plot, panel_requests, require_matplotlib, save_figure

    require_matplotlib()
    targets = _plot_outputs(output, lines)
    for target in targets:
        check_output(str(target), overwrite)
    golds = read_gold(gold, not gold_zero_based, reverse_gold) if gold is not None else None
    if golds is not None and max(lines) > len(golds):
        raise InputError(f"line {max(lines)} was asked for (--lines) but the gold has only {len(golds)} lines", gold)
    input_name = src if src is not None else ("<stdin>" if bitext in (None, "-") else bitext)
    selected = _selected_pairs(_pairs(src, tgt, bitext)[0], lines, input_name)
    aligner = Aligner(AlignConfig(**settings))
    requests = panel_requests(layers or aligner.config.layers, measures, steps, src_merge=aligner.config.src_merge, tgt_merge=aligner.config.tgt_merge)
    for line, target in zip(lines, targets):
        pair = selected[line]
        if golds is not None:
            check_gold_range(golds[line - 1], len(pair.src), len(pair.tgt), line - 1, gold)
        try:
            drawn = pair_plot(aligner, pair, requests, golds[line - 1] if golds else None, index=line - 1)
        except InputError as exc:
            if exc.path is None:
                exc.path = file_of_side(exc.side, [src, tgt] if src is not None else [input_name])
            raise
        target.parent.mkdir(parents=True, exist_ok=True)
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
    from .plot import image_format, read_sweep_json, require_matplotlib, save_figure, sweep_figure

    require_matplotlib()
    image_format(output)
    check_output(str(output), overwrite)
    result = read_sweep_json(json_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_figure(sweep_figure(result), output, dpi)
    click.echo(f"wrote {output}", err=True)
    click.echo(result.signature, err=True)
