"""The bad-input catalog (README, "When input is bad"), interrupted runs, and fuzzed readers.

Each catalog entry has a test that asserts the message and the exit status. Entries already
covered in test_cli.py are named there; this file holds the rest.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from aligner.cli import main
from aligner.errors import InputError
from aligner.io import iter_lines, parse_gold, parse_pharaoh, read_parallel
from aligner.runner.resume import manifest_path

from .conftest import kill_after_lines, FIXTURES, ROOT, SAMPLE

SRC, TGT = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def align(*args: str, input=None):
    return run("align", "--device", "cpu", *args, input=input)


# --- text input -----------------------------------------------------------------------


def test_pipe_line_count_mismatch_fails_at_first_unmatched_line_after_earlier_output(tmp_path):
    src_fifo, tgt_fifo = tmp_path / "src", tmp_path / "tgt"
    os.mkfifo(src_fifo)
    os.mkfifo(tgt_fifo)

    def feed(path: Path, text: str) -> None:
        with open(path, "w") as pipe:
            pipe.write(text)

    writers = [
        threading.Thread(target=feed, args=(src_fifo, "das haus\nder hund\nein satz zu viel\n")),
        threading.Thread(target=feed, args=(tgt_fifo, "the house\nthe dog\n")),
    ]
    for writer in writers:
        writer.start()
    out = tmp_path / "out"
    result = align("--src", str(src_fifo), "--tgt", str(tgt_fifo), "-o", str(out), "-q")
    for writer in writers:
        writer.join()
    assert result.exit_code == 1
    assert f"{src_fifo}:3: target {tgt_fifo} ended at line 2; source has more lines" in result.stderr
    assert out.read_text().count("\n") == 2  # the two complete pairs were written


def test_invalid_utf8_names_file_and_line(tmp_path):
    src = tmp_path / "bad.de"
    src.write_bytes(b"das haus\nder \xff hund\n")
    tgt = tmp_path / "ok.en"
    tgt.write_text("the house\nthe dog\n")
    result = align("--src", str(src), "--tgt", str(tgt), "-q")
    assert result.exit_code == 1
    assert f"{src}:2: invalid UTF-8 at byte 4" in result.stderr


def test_crlf_and_byte_order_mark_are_handled(tmp_path):
    plain = align("-q", "--src", SRC, "--tgt", TGT)
    src, tgt = tmp_path / "crlf.de", tmp_path / "bom.en"
    src.write_bytes(Path(SRC).read_bytes().replace(b"\n", b"\r\n"))
    tgt.write_bytes(b"\xef\xbb\xbf" + Path(TGT).read_bytes())
    messy = align("-q", "--src", str(src), "--tgt", str(tgt))
    assert messy.exit_code == 0 and messy.stdout == plain.stdout


def test_control_characters_and_tabs_stay_inside_words():
    # A word of control characters yields no pieces (no links, counted); a tab does not split words.
    result = align("--json", input="das \x07\x08 haus ||| the\thouse\n")
    assert result.exit_code == 0
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["words_without_pieces"] == 1
    assert all(int(link.split("-")[1]) == 0 for link in result.stdout.split())  # one target word: "the\thouse"


def test_words_that_become_only_unknown_pieces_are_aligned_and_counted():
    result = align("--json", input="Ωμέγα Ψψψ ||| the house\n")
    assert result.exit_code == 0
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["unknown_pieces"] >= 2
    assert "unknown" in result.stderr


def test_skip_long_writes_empty_line_and_counts(tmp_path):
    bitext = tmp_path / "long"
    bitext.write_text("das haus ||| the house\n" + " ".join(["haus"] * 80) + " ||| the house\nder hund ||| the dog\n")
    result = align("--path", str(FIXTURES["prenorm-bpe"]), "-i", str(bitext), "--skip-long", "--json")
    assert result.exit_code == 0
    lines = result.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[0] and lines[2]
    assert json.loads(result.stderr.strip().splitlines()[-1])["skipped_long"] == 1


# --- models ----------------------------------------------------------------------------


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_needing_unknown_global_refused_by_cli(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"cfg": {}, "model": {}, "x": RunsCode()}, path)
    result = align("--path", str(path), input="a ||| b\n")
    assert result.exit_code == 1
    assert f"{path}: refused: the checkpoint needs the pickled global(s) posix.system" in result.stderr


@pytest.mark.parametrize("content", [b"not a checkpoint\n", None])
def test_truncated_or_foreign_file_as_checkpoint(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content if content is not None else (FIXTURES["toy-deen"] / "model.pt").read_bytes()[:20000])
    result = align("--path", str(path), "-s", "de", "-t", "en", input="a ||| b\n")
    assert result.exit_code == 1
    assert f"{path}: not a readable PyTorch checkpoint" in result.stderr


# --- interrupted runs --------------------------------------------------------------------


def big_corpus(tmp_path: Path, copies: int) -> tuple[str, str]:
    src, tgt = tmp_path / "big.de", tmp_path / "big.en"
    src.write_text(Path(SRC).read_text() * copies)
    tgt.write_text(Path(TGT).read_text() * copies)
    return str(src), str(tgt)


CHUNKED = ("--chunk-size", "8", "--batch-size", "3", "--scores", "-q")


def test_resume_after_partial_line_equals_uninterrupted_run(tmp_path):
    src, tgt = big_corpus(tmp_path, 3)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert align("--src", src, "--tgt", tgt, "-o", str(full), *CHUNKED).exit_code == 0
    assert align("--src", src, "--tgt", tgt, "-o", str(cut), *CHUNKED).exit_code == 0
    data = full.read_bytes()
    # as if killed in the middle of line 21 (chunk 3 of 8 lines was being written)
    offset = [i for i, byte in enumerate(data) if byte == ord("\n")][19] + 5
    cut.write_bytes(data[:offset])
    resumed = align("--src", src, "--tgt", tgt, "-o", str(cut), "--resume", *CHUNKED)
    assert resumed.exit_code == 0
    assert cut.read_bytes() == data


def test_resume_refuses_other_inputs_or_settings(tmp_path):
    src, tgt = big_corpus(tmp_path, 1)
    out = tmp_path / "out"
    assert align("--src", src, "--tgt", tgt, "-o", str(out), *CHUNKED).exit_code == 0
    other = align("--src", src, "--tgt", tgt, "-o", str(out), "--resume", "--layer", "2", *CHUNKED)
    assert other.exit_code == 1 and "cannot resume: this is not the run that wrote the output; settings differ: layer was 1/3, now 2/3" in other.stderr
    # batches of other shapes may round differently, so a resumed run keeps the first run's
    tokens = align("--src", src, "--tgt", tgt, "-o", str(out), "--resume", *CHUNKED, "--max-tokens", "50")
    assert tokens.exit_code == 1 and "max_tokens was 1000, now 50" in tokens.stderr
    Path(tgt).write_text(Path(tgt).read_text().replace("house", "home"))
    changed = align("--src", src, "--tgt", tgt, "-o", str(out), "--resume", *CHUNKED)
    assert changed.exit_code == 1 and f"input files changed: {os.path.abspath(tgt)}" in changed.stderr
    manifest_path(out).unlink()
    unknown = align("--src", src, "--tgt", tgt, "-o", str(out), "--resume", *CHUNKED)
    assert unknown.exit_code == 1 and "no run manifest" in unknown.stderr


def test_existing_output_refused_unless_overwrite_or_resume(tmp_path):
    out = tmp_path / "out"
    out.write_text("keep me\n")
    refused = align("--src", SRC, "--tgt", TGT, "-o", str(out), "-q")
    assert refused.exit_code == 1 and f"{out}: output exists; refusing to overwrite it" in refused.stderr
    assert out.read_text() == "keep me\n"
    assert align("--src", SRC, "--tgt", TGT, "-o", str(out), "-q", "--overwrite").exit_code == 0
    assert out.read_text().count("\n") == 20


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    src, tgt = big_corpus(tmp_path, 40)  # 800 pairs
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    command = [sys.executable, "-m", "aligner", "align", "--device", "cpu", "--src", src, "--tgt", tgt, *CHUNKED]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*command, "-o", str(reference)], check=True, cwd=ROOT, env=environment)

    process = subprocess.Popen([*command, "-o", str(killed)], cwd=ROOT, env=environment)
    kill_after_lines(process, killed, 100)
    written = killed.read_bytes().count(b"\n")
    assert 100 <= written < 800

    subprocess.run([*command, "-o", str(killed), "--resume"], check=True, cwd=ROOT, env=environment)
    assert killed.read_bytes() == reference.read_bytes()


# --- fuzzing: arbitrary input fails only with the package's own error ----------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789-p?:.eE+ \t\u0663x"), max_size=40) | st.text(max_size=40))
def test_fuzz_pharaoh_and_gold_lines(line):
    for parse in (lambda l: parse_pharaoh(l, "h", 1), lambda l: parse_gold(l, path="g", number=1)):
        try:
            parse(line)
        except InputError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_fuzz_parallel_text_reader(tmp_path_factory, src_bytes, tgt_bytes):
    folder = tmp_path_factory.mktemp("fuzz")
    src, tgt = folder / "s", folder / "t"
    src.write_bytes(src_bytes)
    tgt.write_bytes(tgt_bytes)
    try:
        for pair in read_parallel(str(src), str(tgt)):
            assert all(" " not in word and word for word in pair.src + pair.tgt)
    except InputError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_line_reader(raw):
    try:
        lines = list(iter_lines(io.BytesIO(raw), "x"))
    except InputError:
        return
    assert all("\n" not in line for line in lines)
