"""The ``aligner`` command line: parses options, calls the library, prints. No alignment logic lives here.

This module holds the group and the options several commands share; the commands are in
:mod:`.corpus` (align, score, symmetrize), :mod:`.evaluation` (sweep) and :mod:`.pictures` (plot).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Optional, TextIO, cast

import click

from .. import __version__
from ..choices import DECISIONS, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS, DEVICES, DTYPES, MERGES, NORMALIZATIONS
from ..errors import AlignerError

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
            if _debug():
                raise
            click.echo(f"aligner: error: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            # The reader (e.g. `head`) went away; nothing left to report.
            if sys.stdout is not None:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:  # the world's failures (full disk, EIO, ...): no traceback unless --debug
            if _debug():
                raise
            from ..files import describe_os_error

            click.echo(f"aligner: error: {describe_os_error(exc)}", err=True)
            sys.exit(1)

    return wrapper


QUIET = "aligner.quiet"  # context.meta key: -q given before or after the subcommand


def _verbosity(context: click.Context, parameter: click.Parameter, given: bool) -> None:
    """-v / -q where they stand (before or after the subcommand): log level, and quiet for the command to read."""
    if not given:
        return
    if parameter.name == "verbose":
        logging.getLogger().setLevel(logging.INFO)
    else:
        context.meta[QUIET] = True  # warnings still show: -q silences progress and summaries, not problems


class _Group(click.Group):
    """The group that gives every subcommand -v and -q too, so `aligner align -v` works as `aligner -v align`."""

    def add_command(self, command: click.Command, name: Optional[str] = None) -> None:
        taken = {option for parameter in command.params for option in getattr(parameter, "opts", ())}
        for flag, long, help_text in (("-v", "--verbose", "Log what is loaded and decided (to stderr)."), ("-q", "--quiet", "No progress, signature or summary on stderr.")):
            if flag not in taken:
                command.params.append(click.Option([flag, long], is_flag=True, expose_value=False, callback=_verbosity, help=help_text))
        super().add_command(command, name)


def is_quiet(quiet: bool = False) -> bool:
    """-q of the command itself, or of the group or the shared option."""
    context = click.get_current_context(silent=True)
    return quiet or bool(context is not None and context.meta.get(QUIET))


@click.group(context_settings=CONTEXT, cls=_Group)
@click.version_option(__version__, "-V", "--version")
@click.option("-v", "--verbose", is_flag=True, help="Log what is loaded and decided (to stderr).")
@click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_verbosity, help="No progress, signature or summary on stderr.")
@click.option("--debug", is_flag=True, envvar="ALIGNER_DEBUG", help="Show the traceback of a failure instead of a one-line error. [env: ALIGNER_DEBUG=1]")
def main(verbose: bool, debug: bool) -> None:
    """Word alignments from a translation model's cross-attention (weights and vector norms): fairseq or Hugging Face."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="aligner: %(levelname)s: %(message)s")


def _debug() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


def open_output(path: Optional[str], stack: ExitStack, append: bool = False) -> TextIO:
    if path is None or path == "-":
        if sys.stdout is None:
            raise OSError(errno.EBADF, "standard output is closed", "<stdout>")
        return sys.stdout
    return stack.enter_context(open(path, "a" if append else "w", encoding="utf-8", newline="\n"))


def claim_reports(targets: list[Path], inputs: list, overwrite: bool) -> None:
    """Claim the files a report command writes whole (tables, JSON, presets, images) for the rest
    of the command: none is an input, no other run writes them (one lock each, released when the
    command ends), none exists unless ``overwrite``. Each is then written with
    :func:`aligner.files.write_atomically`, so its temporary file is claimed too."""
    from ..files import claim_outputs, temporary_path

    stack = click.get_current_context().with_resource(ExitStack())
    claim_outputs([*targets, *map(temporary_path, targets)], inputs, stack, overwrite=overwrite, files=targets, create_dirs=True)


def comma_list(choices: Optional[tuple] = None, positive_int: bool = False) -> Callable:
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


def _inputs(src: Optional[str], tgt: Optional[str], bitext: Optional[str]) -> list[str]:
    """The input files of --src/--tgt or --input (stdin by default)."""
    if (src is None) != (tgt is None):
        raise click.UsageError("--src and --tgt go together")
    if src is not None:
        if bitext is not None:
            raise click.UsageError("give either --src/--tgt or --input, not both")
        return [src, cast(str, tgt)]  # given together, checked above
    return [bitext if bitext is not None else "-"]


def _indices(context: click.Context, parameter: click.Parameter, text: Optional[str]) -> tuple[int, ...]:
    from ..config import parse_indices

    try:
        return parse_indices(text) if text else ()
    except AlignerError as exc:
        raise click.BadParameter(str(exc)) from None


def _set_threads(context: click.Context, parameter: click.Parameter, threads: Optional[int]) -> None:
    if threads is not None:
        from ..backends import set_threads

        available = len(os.sched_getaffinity(0))
        if threads > available:
            # torch segfaults on absurd counts (100000); more threads than cores only slows it down.
            raise click.BadParameter(f"{threads} is more than the {available} CPU cores this process may use")

        set_threads(threads)


def options(*decorators: Callable) -> Callable:
    """Apply a group of click options shared by several commands."""

    def apply(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


model_options = options(
    click.option("--path", type=PathArg, help="fairseq checkpoint file, a model directory with aligner.json, or a Hugging Face model directory (config.json) or cached hub id. [default: the bundled model]"),
    click.option("--data-dir", type=PathArg, help="Directory with dict.<lang>.txt. [default: the checkpoint's directory]"),
    click.option("-s", "--source-lang", help="Source language (dictionary suffix)."),
    click.option("-t", "--target-lang", help="Target language (dictionary suffix)."),
    click.option("--sentencepiece-model", type=PathArg, help="SentencePiece model the checkpoint was trained with (of the source side if the target has its own)."),
    click.option("--bpe-codes", type=PathArg, help="subword-nmt / fastBPE codes the checkpoint was trained with ('@@ ' pieces; of the source side if the target has its own)."),
    click.option("--target-sentencepiece-model", type=PathArg,
                 help="SentencePiece model of the target side, for models trained with separate source and target vocabularies. [default: the source side's model, else the bundle's for the target language]"),
    click.option("--target-bpe-codes", type=PathArg, help="BPE codes of the target side, for separate source and target vocabularies. [default: as --target-sentencepiece-model]"),
    click.option("--lowercase/--no-lowercase", default=None, help="Lowercase words before subword splitting. [default: as the bundle records]"),
    click.option("--src-lang-code", help="Source language code of a multilingual Hugging Face model (NLLB deu_Latn, M2M100 de, mBART de_DE); -s/-t stay fairseq's dictionary suffixes."),
    click.option("--tgt-lang-code", help="Target language code of a multilingual Hugging Face model (eng_Latn, en, en_XX; a multi-target Marian model's fr or >>fr<<)."),
)
decision_options = options(
    click.option("--src-merge", type=click.Choice(MERGES), default="sum", show_default=True, help="How a source word's pieces combine."),
    click.option("--tgt-merge", type=click.Choice(MERGES), default="mean", show_default=True, help="How a target word's pieces combine."),
    click.option("--decision", type=click.Choice(DECISIONS), default="argmax", show_default=True,
                 help="Best source word per target word (argmax), best target word per source word (argmax-source), links best both ways (argmax-both), that agreement grown by grow-diag (argmax-grow-diag, argmax-grow-diag-final-and), or every link above --threshold."),
    click.option("--normalize", type=click.Choice(NORMALIZATIONS), default="rows", show_default=True, help="--threshold applies to shares of a target word's row or of a source word's column."),
    click.option("--final-punct/--no-final-punct", default=False, show_default=True, help="When both sentences end in punctuation, link those two tokens to each other only."),
    click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Least share of the row's score for a link (with --decision threshold)."),
    click.option("--eos-null/--no-eos-null", default=True, show_default=True, help="A target word whose best source is </s> stays unaligned; --no-eos-null excludes </s> instead."),
    click.option("--residual-null/--no-residual-null", default=False, show_default=True,
                 help="Residual measures (alti-xattn, attn-res-*, value-zeroing): a target word whose best column is the residual stays unaligned, like </s>; by default the residual column is dropped."),
)
run_options = options(
    click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True, help="Most sentence pairs per forward pass."),
    click.option("--max-tokens", type=click.IntRange(min=1), default=DEFAULT_MAX_TOKENS, show_default=True,
                 help="Most padded tokens per forward pass (pairs x longest side), on top of --batch-size; sized for a CPU's caches, raise it on a GPU."),
    click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True),
    click.option("--dtype", type=click.Choice(tuple(DTYPES)), default="float32", show_default=True, help="Model precision. bfloat16 is fast on recent GPUs and on CPUs with AMX or AVX512-BF16; float16 is for GPUs."),
    click.option("--threads", type=click.IntRange(min=1), expose_value=False, callback=_set_threads, help="CPU threads for torch. [default: torch's choice]"),
)
input_options = options(
    click.option("--src", type=InputFile, help="Source text, one pre-tokenized sentence per line."),
    click.option("--tgt", type=InputFile, help="Target text, line-aligned with --src."),
    click.option("-i", "--input", "bitext", type=InputFile, help="'source ||| target' lines. [default: stdin when no --src/--tgt]"),
)


