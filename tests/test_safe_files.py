"""Safe files and clean failures (issue 15): outputs never clobber inputs, one writer per output,
a manifest that always describes its output, and the world's failures as one-line errors.

Each test asserts the message and the exit status, and that inputs at risk are unchanged byte for byte.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.files import lock_path
from aligner.runner.resume import manifest_path

from .conftest import ROOT, SAMPLE

SRC, TGT = SAMPLE / "sample.de", SAMPLE / "sample.en"


def run(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, [str(arg) for arg in args], input=input, catch_exceptions=False)


def align(*args, input=None):
    return run("align", "--device", "cpu", "-q", *args, input=input)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def texts(tmp_path):
    src, tgt = tmp_path / "a.de", tmp_path / "a.en"
    src.write_bytes(SRC.read_bytes())
    tgt.write_bytes(TGT.read_bytes())
    bitext = tmp_path / "a.txt"
    bitext.write_text("".join(f"{s} ||| {t}\n" for s, t in zip(SRC.read_text().splitlines(), TGT.read_text().splitlines())))
    return src, tgt, bitext


def cli(*args: str, stdin=subprocess.DEVNULL, shell_suffix: str = "", env_extra=None, preexec_fn=None, cwd=None):
    """The real CLI in a subprocess (for closed descriptors, /dev/full as stdout, rlimits)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    command = " ".join(f"'{arg}'" for arg in (sys.executable, "-m", "aligner", *args)) + shell_suffix
    return subprocess.run(["bash", "-c", command], stdin=stdin, capture_output=True, text=True, env=env, preexec_fn=preexec_fn, cwd=cwd, timeout=300)


# --- outputs never clobber inputs ---------------------------------------------------------


@pytest.mark.parametrize("which", ["src", "tgt"])
def test_output_equal_to_an_input_is_refused_and_input_unchanged(texts, which):
    src, tgt, _ = texts
    target = src if which == "src" else tgt
    before = digest(target)
    result = align("--src", src, "--tgt", tgt, "-o", target, "--overwrite")
    assert result.exit_code == 1
    assert f"aligner: error: {target}: output is also an input ({target})" in result.stderr
    assert digest(target) == before


def test_output_equal_to_the_bitext_input_is_refused(texts):
    _, _, bitext = texts
    before = digest(bitext)
    result = align("-i", bitext, "-o", bitext, "--overwrite")
    assert result.exit_code == 1 and "output is also an input" in result.stderr
    assert digest(bitext) == before


def test_symlink_and_hard_link_to_an_input_are_refused(texts, tmp_path):
    src, tgt, _ = texts
    symlink, hard = tmp_path / "sym.align", tmp_path / "hard.align"
    symlink.symlink_to(src)
    os.link(tgt, hard)
    before = (digest(src), digest(tgt))
    for output, input_name in ((symlink, src), (hard, tgt)):
        result = align("--src", src, "--tgt", tgt, "-o", output, "--overwrite")
        assert result.exit_code == 1 and f"{output}: output is also an input ({input_name})" in result.stderr
    assert (digest(src), digest(tgt)) == before


def test_manifest_beside_the_output_may_not_be_an_input(texts, tmp_path):
    src, tgt, _ = texts
    output = tmp_path / "out"
    manifest = manifest_path(output)
    manifest.write_bytes(SRC.read_bytes())
    before = digest(manifest)
    result = align("--src", manifest, "--tgt", tgt, "-o", output)
    assert result.exit_code == 1 and f"{manifest}: output is also an input ({manifest})" in result.stderr
    assert digest(manifest) == before and not output.exists()


def test_symmetrize_output_equal_to_an_input_is_refused(tmp_path):
    forward = tmp_path / "f.align"
    forward.write_text("0-0 1-1\n")
    reverse = tmp_path / "r.align"
    reverse.write_text("0-0\n")
    result = run("symmetrize", "--forward", forward, "--reverse", reverse, "-o", forward, "--overwrite")
    assert result.exit_code == 1 and "output is also an input" in result.stderr
    assert forward.read_text() == "0-0 1-1\n"


def test_sweep_output_that_is_an_input_is_refused(texts, tmp_path):
    src, tgt, _ = texts
    gold = tmp_path / "gold.md"
    gold.write_bytes((SAMPLE / "sample.talp").read_bytes())
    before = digest(gold)
    # sweep -o NAME writes NAME.md and NAME.json: NAME.md is the gold here
    result = run("sweep", "--device", "cpu", "--src", src, "--tgt", tgt, "--gold", gold, "-o", tmp_path / "gold", "--overwrite")
    assert result.exit_code == 1 and "output is also an input" in result.stderr
    assert digest(gold) == before


# --- one writer per output ------------------------------------------------------------------


def test_second_writer_is_refused_while_the_lock_is_held(texts, tmp_path):
    src, tgt, _ = texts
    output = tmp_path / "out.align"
    lock = lock_path(output)
    with open(lock, "w") as held:
        held.write("host testhost pid 4242\n")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        refused = align("--src", src, "--tgt", tgt, "-o", output)
        assert refused.exit_code == 1
        assert f"{output}: another run is writing this output (lock {lock} held by host testhost pid 4242)" in refused.stderr
        assert not output.exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    again = align("--src", src, "--tgt", tgt, "-o", output)
    assert again.exit_code == 0 and output.read_text().count("\n") == 20
    assert not lock.exists()  # released and removed at the end of the run


def test_lock_is_taken_before_the_existence_check(texts, tmp_path):
    # A writer that holds the lock but has not created its output yet still blocks the second run.
    src, tgt, _ = texts
    output = tmp_path / "out.align"
    with open(lock_path(output), "w") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        refused = align("--src", src, "--tgt", tgt, "-o", output, "--overwrite")
    assert refused.exit_code == 1 and "another run is writing this output" in refused.stderr


@pytest.mark.parametrize("command", ["sweep", "plot"])
def test_report_commands_refuse_a_second_writer(texts, tmp_path, command):
    src, tgt, _ = texts
    gold = SAMPLE / "sample.talp"
    if command == "sweep":
        output, args = tmp_path / "report", ["sweep", "--device", "cpu", "--src", src, "--tgt", tgt, "--gold", gold, "-o", tmp_path / "report"]
        written = tmp_path / "report.md"
    else:
        output, args = tmp_path / "pair.png", ["plot", "--device", "cpu", "--no-preset", "--lines", "2", "--layers", "1", "--src", src, "--tgt", tgt, "-o", tmp_path / "pair.png"]
        written = output
    with open(lock_path(written), "w") as held:
        held.write("host testhost pid 4242\n")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        refused = run(*args)
        assert refused.exit_code == 1
        assert f"{written}: another run is writing this output (lock {lock_path(written)} held by host testhost pid 4242)" in refused.stderr
        assert not written.exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    again = run(*args)
    assert again.exit_code == 0, again.stderr
    assert written.exists() and not any(path.name.endswith((".lock", ".tmp")) for path in tmp_path.iterdir())


def test_sweep_report_failing_mid_write_leaves_the_old_report_and_no_temporary_file(texts, tmp_path, monkeypatch):
    src, tgt, _ = texts
    report = tmp_path / "report.md"
    report.write_text("the previous report\n")

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", disk_full)
    result = run("sweep", "--device", "cpu", "--src", src, "--tgt", tgt, "--gold", SAMPLE / "sample.talp", "-o", tmp_path / "report", "--overwrite")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == f"aligner: error: {tmp_path / 'report.md.tmp'}: No space left on device"
    monkeypatch.undo()
    assert report.read_text() == "the previous report\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.de", "a.en", "a.txt", "report.md"]


# --- the manifest always describes the output ----------------------------------------------


def test_pipe_run_over_a_file_run_removes_its_manifest_so_resume_is_refused(texts, tmp_path):
    src, tgt, bitext = texts
    output = tmp_path / "out.align"
    assert align("--src", src, "--tgt", tgt, "-o", output).exit_code == 0
    assert manifest_path(output).exists()
    piped = align("-o", output, "--overwrite", "--layer", "1", input=bitext.read_text())
    assert piped.exit_code == 0
    assert not manifest_path(output).exists()
    spliced = align("--src", src, "--tgt", tgt, "-o", output, "--resume")
    assert spliced.exit_code == 1 and "cannot resume: no run manifest" in spliced.stderr


def test_refused_resume_names_only_the_field_that_differs(texts, tmp_path):
    src, tgt, _ = texts
    output = tmp_path / "out.align"
    assert align("--src", src, "--tgt", tgt, "-o", output, "--chunk-size", "8").exit_code == 0
    refused = align("--src", src, "--tgt", tgt, "-o", output, "--chunk-size", "8", "--resume", "--measure", "weight")
    assert refused.exit_code == 1
    assert "settings differ: measure was norm, now weight" in refused.stderr
    assert "model:" not in refused.stderr  # not two whole signatures


# --- the world's failures -----------------------------------------------------------------


def test_dev_full_as_output_is_a_one_line_error(texts):
    src, tgt, _ = texts
    result = align("--src", src, "--tgt", tgt, "-o", "/dev/full")
    assert result.exit_code == 1
    assert result.stderr.strip() == "aligner: error: /dev/full: No space left on device"
    assert not Path("/dev/full.manifest.json").exists() and not Path("/dev/full.lock").exists()


def test_dev_full_as_stdout_is_a_one_line_error(texts):
    src, tgt, _ = texts
    result = cli("align", "--device", "cpu", "-q", "--src", str(src), "--tgt", str(tgt), shell_suffix=" > /dev/full")
    assert result.returncode == 1, result.stderr
    assert "aligner: error: <stdout>: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_output_directory_is_a_one_line_error(texts, tmp_path):
    src, tgt, _ = texts
    output = tmp_path / "no" / "such" / "out.align"
    result = align("--src", src, "--tgt", tgt, "-o", output)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"aligner: error: {output}: cannot write: the output directory does not exist"


def test_file_size_limit_mid_write_leaves_no_temporary_files(texts, tmp_path):
    src, tgt, _ = texts
    big_src, big_tgt = tmp_path / "big.de", tmp_path / "big.en"
    big_src.write_text(src.read_text() * 10)
    big_tgt.write_text(tgt.read_text() * 10)
    output = tmp_path / "out.align"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

    result = cli("align", "--device", "cpu", "-q", "--src", str(big_src), "--tgt", str(big_tgt), "-o", str(output), "--chunk-size", "40", preexec_fn=limit)
    assert result.returncode == 1
    assert f"aligner: error: {output}: File too large" in result.stderr and "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.de", "a.en", "a.txt", "big.de", "big.en", "out.align", "out.align.manifest.json"]
    # what is left is a resumable state
    resumed = align("--src", big_src, "--tgt", big_tgt, "-o", output, "--chunk-size", "40", "--resume")
    assert resumed.exit_code == 0 and output.read_text().count("\n") == 200


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EIO])
def test_output_that_cannot_be_opened_is_a_one_line_error(texts, tmp_path, monkeypatch, code):
    # Tests run as root on a writable disk: a read-only file system or a denied directory is injected.
    src, tgt, _ = texts
    output = tmp_path / "out.align"
    real_open = open

    def refusing_open(file, mode="r", *args, **kwargs):
        if str(file) == str(output) and any(flag in mode for flag in "wa+"):
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    result = align("--src", src, "--tgt", tgt, "-o", output)
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.stderr.strip() == f"aligner: error: {output}: {os.strerror(code)}"
    # Only the manifest is left (no lock, no temporary file), and it is a state --resume can use.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.de", "a.en", "a.txt", "out.align.manifest.json"]
    resumed = align("--src", src, "--tgt", tgt, "-o", output, "--resume")
    assert resumed.exit_code == 0 and output.read_text().count("\n") == 20


def test_injected_io_error_on_the_manifest_leaves_no_tmp_file(texts, tmp_path, monkeypatch):
    src, tgt, _ = texts
    output = tmp_path / "out.align"

    def failing_replace(source, target):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("aligner.runner.resume.os.replace", failing_replace)
    result = align("--src", src, "--tgt", tgt, "-o", output)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"aligner: error: {manifest_path(output)}: Input/output error"
    assert not any(path.name.endswith(".tmp") or path.name.endswith(".lock") for path in tmp_path.iterdir())


def test_debug_shows_the_traceback(texts):
    src, tgt, _ = texts
    result = cli("align", "--device", "cpu", "-q", "--src", str(src), "--tgt", str(tgt), "-o", "/dev/full", env_extra={"ALIGNER_DEBUG": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr and "No space left on device" in result.stderr
    flag = cli("--debug", "align", "--device", "cpu", "-q", "--src", str(src), "--tgt", str(tgt), "-o", "/dev/full")
    assert flag.returncode == 1 and "Traceback" in flag.stderr


def test_closed_stdin_with_file_inputs_succeeds(texts, tmp_path):
    src, tgt, _ = texts
    output = tmp_path / "out.align"
    result = cli("align", "--device", "cpu", "-q", "--src", str(src), "--tgt", str(tgt), "-o", str(output), shell_suffix=" <&-")
    assert result.returncode == 0, result.stderr
    assert output.read_text().count("\n") == 20
    scored = cli("score", "--gold", str(SAMPLE / "sample.talp"), "--hyp", str(output), shell_suffix=" <&-")
    assert scored.returncode == 0 and "AER" in scored.stdout


def test_closed_stdin_when_stdin_is_needed_is_a_one_line_error():
    result = cli("align", "--device", "cpu", "-q", shell_suffix=" <&-")
    assert result.returncode == 1 and "aligner: error: <stdin>: cannot read: standard input is closed" in result.stderr
    assert "Traceback" not in result.stderr


# --- strict values from the command line ---------------------------------------------------------


def test_source_and_target_both_stdin_refused():
    result = align("--src", "-", "--tgt", "-", input="a\nb\n")
    assert result.exit_code == 1 and "source and target cannot both be stdin" in result.stderr


@pytest.mark.parametrize("line", ["der hund ||||| the dog", "der hund|||the dog", "der hund |||| the dog"])
def test_separator_glued_to_other_bars_or_words_is_refused(line):
    result = align(input=f"das haus ||| the house\n{line}\n")
    assert result.exit_code == 1 and "<stdin>:2: '|||' must stand alone between spaces" in result.stderr


def test_threads_beyond_the_cores_refused():
    result = align("--threads", "100000", input="a ||| b\n")
    assert result.exit_code == 2 and f"100000 is more than the {len(os.sched_getaffinity(0))} CPU cores" in result.stderr


@pytest.mark.parametrize("option,value,message", [
    ("--layer", "2-", "expected N, A-B or A,B,..."),
    ("--head", "1-", "expected N, A-B or A,B,..."),
    ("--layer", "1-99999999999", "'1-99999999999' is beyond any model's layers or heads"),
    ("--head", "99999999999", "is beyond any model's layers or heads"),
])
def test_open_or_huge_index_ranges_refused(option, value, message):
    result = align(option, value, input="a ||| b\n")
    assert result.exit_code == 2 and message in result.stderr


def test_closed_stdout_is_a_one_line_error(texts):
    src, tgt, _ = texts
    result = cli("align", "--device", "cpu", "-q", "--src", str(src), "--tgt", str(tgt), shell_suffix=" >&-")
    assert result.returncode == 1
    assert "aligner: error: <stdout>: standard output is closed" in result.stderr and "Traceback" not in result.stderr


def test_non_finite_batch_scores_warn(caplog):
    import numpy as np

    from aligner.config import AlignConfig
    from aligner.io import SentencePair
    from aligner.pipeline import Aligner

    aligner = Aligner(AlignConfig(device="cpu"))
    real = aligner.engine.word_scores

    def poisoned(pairs, requests):
        return [{request: np.full_like(matrix, np.nan) for request, matrix in by_request.items()} for by_request in real(pairs, requests)]

    aligner.engine.word_scores = poisoned  # type: ignore[method-assign]
    with caplog.at_level("WARNING"):
        [result] = list(aligner.align([SentencePair(("das", "haus"), ("the", "house"))]))
    assert result.links == []  # argmax over NaN finds nothing to link
    assert "pair 1: non-finite attention scores" in caplog.text
