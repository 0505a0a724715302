"""Outputs other tools read: a clean Pharaoh file, scores and word-pair side files, JSON Lines; through chunks, resume and parts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.config import AlignConfig
from aligner.errors import ConfigError
from aligner.runner.corpus import align_corpus
from aligner.runner.outputs import OutputSpec

from .conftest import ROOT, SAMPLE, kill_after_lines

SRC, TGT = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en")
# What fast_align's atools and Moses accept: digits-dash-digits, single spaces, nothing else.
STRICT_PHARAOH = re.compile(r"(?:[0-9]+-[0-9]+(?: [0-9]+-[0-9]+)*)?")
SCORE = re.compile(r"[01]\.[0-9]{4}")


def align(*args: str, input: str | None = None):
    return CliRunner().invoke(main, ["align", "--device", "cpu", *args], input=input)


def words(path: str) -> list[list[str]]:
    return [[token for token in line.split(" ") if token] for line in Path(path).read_text(encoding="utf-8").split("\n")[:-1]]


def links_of(line: str) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in (token.split("-") for token in line.split())]


def test_pharaoh_file_beside_side_files_is_strict_pharaoh_and_the_side_files_match_it(tmp_path):
    out, scores, word_pairs = tmp_path / "out.align", tmp_path / "out.scores", tmp_path / "out.words"
    result = align("--src", SRC, "--tgt", TGT, "-o", str(out), "--scores-file", str(scores), "--words-file", str(word_pairs), "-q")
    assert result.exit_code == 0, result.output
    pharaoh = out.read_text().split("\n")[:-1]
    score_lines = scores.read_text().split("\n")[:-1]
    word_lines = word_pairs.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(pharaoh) == len(score_lines) == len(word_lines) == 20
    for line in pharaoh:
        assert STRICT_PHARAOH.fullmatch(line), line
    assert sum(len(links_of(line)) for line in pharaoh) > 20  # the sample is aligned, not empty
    inline = align("--src", SRC, "--tgt", TGT, "--scores", "-q").stdout.split("\n")[:-1]
    for line, score_line, word_line, inline_line, src, tgt in zip(pharaoh, score_lines, word_lines, inline, words(SRC), words(TGT)):
        links, values = links_of(line), score_line.split()
        assert len(values) == len(links) and all(SCORE.fullmatch(value) for value in values)
        # the inline i-j:score line carries the same links and scores, in the same order
        assert inline_line.split() == [f"{i}-{j}:{value}" for (i, j), value in zip(links, values)]
        assert word_line.split() == [f"{src[i]}<sep>{tgt[j]}" for i, j in links]


def test_side_files_work_with_the_alignments_on_stdout(tmp_path):
    scores = tmp_path / "s"
    result = align("--src", SRC, "--tgt", TGT, "-o", "-", "--scores-file", str(scores), "-q")
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")[:-1]
    assert len(lines) == 20 and all(STRICT_PHARAOH.fullmatch(line) for line in lines)
    assert [len(line.split()) for line in scores.read_text().split("\n")[:-1]] == [len(links_of(line)) for line in lines]


def test_jsonl_records_hold_words_links_scores_and_the_matrix_that_chose_them(tmp_path):
    pharaoh, scores = tmp_path / "p", tmp_path / "s"
    assert align("--src", SRC, "--tgt", TGT, "-o", str(pharaoh), "--scores-file", str(scores), "-q").exit_code == 0
    result = align("--src", SRC, "--tgt", TGT, "--format", "jsonl", "--matrix", "-q")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.split("\n")[:-1]]
    assert len(records) == 20
    for record, src, tgt, line, score_line in zip(records, words(SRC), words(TGT), pharaoh.read_text().split("\n"), scores.read_text().split("\n")):
        assert record["src"] == src and record["tgt"] == tgt
        assert [tuple(link) for link in record["links"]] == links_of(line)
        assert [f"{value:.4f}" for value in record["scores"]] == score_line.split()
        matrix = record["matrix"]
        assert len(matrix) == len(tgt) and all(len(row) == len(src) + 1 for row in matrix)  # + the source </s>
        # The default decision (argmax, </s> meaning no link): each link is its target row's best cell.
        for i, j in record["links"]:
            row = matrix[j]
            assert row[i] == max(value for value in row if value is not None)
    plain = align("--src", SRC, "--tgt", TGT, "--format", "jsonl", "-q")
    assert "matrix" not in json.loads(plain.stdout.split("\n")[0])


def test_output_options_that_contradict_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="JSON Lines records only"):
        OutputSpec(matrix=True)
    with pytest.raises(ConfigError, match="must be different files"):
        OutputSpec(scores_file=str(tmp_path / "a")).files(str(tmp_path / "a"))
    refused = align("--src", SRC, "--tgt", TGT, "--matrix", "-q")
    assert refused.exit_code == 1 and "--format jsonl" in refused.stderr
    existing = tmp_path / "scores"
    existing.write_text("keep\n")
    kept = align("--src", SRC, "--tgt", TGT, "-o", str(tmp_path / "out"), "--scores-file", str(existing), "-q")
    assert kept.exit_code == 1 and "refusing to overwrite" in kept.stderr and existing.read_text() == "keep\n"


def big_corpus(tmp_path: Path, copies: int) -> tuple[str, str]:
    src, tgt = tmp_path / "big.de", tmp_path / "big.en"
    src.write_text(Path(SRC).read_text() * copies)
    tgt.write_text(Path(TGT).read_text() * copies)
    return str(src), str(tgt)


SIDES = {"scores_file": ".scores", "words_file": ".words"}


def spec_for(base: Path, format: str = "pharaoh") -> OutputSpec:
    return OutputSpec(format, scores_file=str(base) + ".scores", words_file=str(base) + ".words")


def all_bytes(base: Path) -> list[bytes]:
    return [Path(str(base) + suffix).read_bytes() for suffix in ("", ".scores", ".words")]


def test_chunking_does_not_change_the_side_files(tmp_path):
    src, tgt = big_corpus(tmp_path, 2)
    one, many = tmp_path / "one", tmp_path / "many"
    align_corpus(AlignConfig(device="cpu"), [src, tgt], str(one), outputs=spec_for(one))
    align_corpus(AlignConfig(device="cpu", chunk_size=3, batch_size=2), [src, tgt], str(many), outputs=spec_for(many))
    assert all_bytes(one) == all_bytes(many)
    assert all(data.count(b"\n") == 40 for data in all_bytes(one))


def test_side_files_a_chunk_behind_are_cut_with_the_output_and_resumed(tmp_path):
    src, tgt = big_corpus(tmp_path, 3)  # 60 pairs, chunks of 8
    config = AlignConfig(device="cpu", chunk_size=8, batch_size=3)
    full, cut = tmp_path / "full", tmp_path / "cut"
    align_corpus(config, [src, tgt], str(full), outputs=spec_for(full, "jsonl"))
    shutil.copy(str(full) + ".manifest.json", str(cut) + ".manifest.json")
    reference = all_bytes(full)

    def first_lines(data: bytes, lines: int, extra: int = 0) -> bytes:
        return data[: [i for i, byte in enumerate(data) if byte == ord("\n")][lines - 1] + 1 + extra]

    # As if killed while writing: the output has 3 chunks and part of a line, the scores 2 chunks
    # and part of the third, the words 2 chunks.
    Path(cut).write_bytes(first_lines(reference[0], 24, extra=7))
    Path(str(cut) + ".scores").write_bytes(first_lines(reference[1], 20))
    Path(str(cut) + ".words").write_bytes(first_lines(reference[2], 16))
    resumed = align_corpus(config, [src, tgt], str(cut), resume=True, outputs=spec_for(cut, "jsonl"))
    assert resumed.resumed_at == 16
    assert all_bytes(cut) == reference


def test_sigkill_then_resume_gives_every_output_of_an_uninterrupted_run(tmp_path):
    src, tgt = big_corpus(tmp_path, 40)  # 800 pairs
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    command = [sys.executable, "-m", "aligner", "align", "--device", "cpu", "--src", src, "--tgt", tgt, "--chunk-size", "8", "--batch-size", "3", "-q"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    def sides(base: Path) -> list[str]:
        return ["-o", str(base), "--scores-file", str(base) + ".scores", "--words-file", str(base) + ".words"]

    subprocess.run([*command, *sides(reference)], check=True, cwd=ROOT, env=environment)
    process = subprocess.Popen([*command, *sides(killed)], cwd=ROOT, env=environment)
    kill_after_lines(process, killed, 100)
    assert 100 <= killed.read_bytes().count(b"\n") < 800
    resumed = subprocess.run([*command, *sides(killed), "--resume"], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert all_bytes(killed) == all_bytes(reference)


def test_side_files_follow_an_unfinished_distributed_run_through_its_parts(tmp_path):
    from aligner.runner.distributed import part_path, parts_dir

    src, tgt = big_corpus(tmp_path, 3)  # 60 pairs: chunks 0-7 of 8 lines, the last of 4
    config = AlignConfig(device="cpu", chunk_size=8, batch_size=3)
    full, partial = tmp_path / "full", tmp_path / "partial"
    align_corpus(config, [src, tgt], str(full), outputs=spec_for(full))
    shutil.copy(str(full) + ".manifest.json", str(partial) + ".manifest.json")
    # What two ranks leave when killed: chunks 0 and 3 finished (main part last), chunk 5's side parts only.
    parts = parts_dir(partial)
    parts.mkdir()
    for chunk, kinds in ((0, ("scores", "words", "align")), (3, ("scores", "words", "align")), (5, ("scores", "words"))):
        for kind, data in zip(("align", "scores", "words"), all_bytes(full)):
            if kind in kinds:
                lines = data.decode("utf-8").split("\n")[:-1][chunk * 8 : chunk * 8 + 8]
                part_path(parts, chunk, kind).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    # A different chunk 0 would show if the finished parts were redone instead of kept.
    part_path(parts, 0, "scores").write_text("kept\n" * 8)
    expected = all_bytes(full)
    expected[1] = b"kept\n" * 8 + expected[1].split(b"\n", 8)[8]
    align_corpus(config, [src, tgt], str(partial), resume=True, outputs=spec_for(partial))
    assert not parts.exists()
    assert all_bytes(partial) == expected


def test_resume_refuses_a_run_with_other_side_files(tmp_path):
    src, tgt = big_corpus(tmp_path, 1)
    out = tmp_path / "out"
    assert align("--src", src, "--tgt", tgt, "-o", str(out), "--chunk-size", "8", "-q").exit_code == 0
    other = align("--src", src, "--tgt", tgt, "-o", str(out), "--chunk-size", "8", "--words-file", str(tmp_path / "w"), "--resume", "-q")
    # the refusal names the one field that differs (issue 15), not two full signatures
    assert other.exit_code == 1 and "settings differ: words-file was (none), now yes" in other.stderr


def test_symmetrize_invert_transposes_one_alignment(tmp_path):
    forward = tmp_path / "f"
    forward.write_text("0-1 2-0 1-1\n\n3-3\n")
    inverted = CliRunner().invoke(main, ["symmetrize", "--forward", str(forward), "--method", "invert"])
    assert inverted.exit_code == 0, inverted.output
    assert inverted.stdout == "0-2 1-0 1-1\n\n3-3\n"
    again = tmp_path / "i"
    again.write_text(inverted.stdout)
    twice = CliRunner().invoke(main, ["symmetrize", "--forward", str(again), "--method", "invert"])
    assert twice.stdout == "0-1 1-1 2-0\n\n3-3\n"  # the input's links, sorted
    both = CliRunner().invoke(main, ["symmetrize", "--forward", str(forward), "--reverse", str(forward), "--method", "invert"])
    assert both.exit_code == 2 and "--forward only" in both.output
    missing = CliRunner().invoke(main, ["symmetrize", "--forward", str(forward)])
    assert missing.exit_code == 2 and "--reverse is required" in missing.output
