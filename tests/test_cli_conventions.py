"""Command-line conventions: -v/-q after the subcommand, stdin by default, one JSON shape, a progress bar a person can read."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

from click.testing import CliRunner

from aligner import __version__
from aligner.cli import main
from aligner.config import AlignConfig
from aligner.runner.corpus import align_corpus

from .conftest import ROOT, SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_verbose_and_quiet_are_accepted_after_the_subcommand(tmp_path):
    command = [sys.executable, "-m", "aligner", "align", "-v", "--device", "cpu"]
    verbose = subprocess.run(command, input="das haus ||| the house\n", capture_output=True, text=True, cwd=ROOT)
    assert verbose.returncode == 0, verbose.stderr
    assert "aligner: INFO:" in verbose.stderr
    quiet = run("align", "--device", "cpu", "-q", input="das haus ||| the house\n")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    hyp = hypothesis(tmp_path)
    loud = run("score", "--gold", GOLD, "--hyp", hyp)
    assert loud.exit_code == 0 and "gold:sample.talp" in loud.stderr
    for arguments in (["score", "-q"], ["-q", "score"]):
        scored = run(*arguments, "--gold", GOLD, "--hyp", hyp)
        assert scored.exit_code == 0, scored.output
        assert scored.stdout == loud.stdout and scored.stderr == ""


def hypothesis(tmp_path) -> str:
    out = tmp_path / "hyp"
    assert run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "-o", str(out), "-q").exit_code == 0
    return str(out)


def test_score_reads_the_hypothesis_from_stdin_by_default(tmp_path):
    hyp = hypothesis(tmp_path)
    from_file = run("score", "--gold", GOLD, "--hyp", hyp)
    from_stdin = run("score", "--gold", GOLD, input=open(hyp).read())
    assert from_file.exit_code == from_stdin.exit_code == 0
    assert from_stdin.stdout == from_file.stdout and "AER" in from_stdin.stdout
    empty = run("score", "--gold", GOLD, input="")
    assert empty.exit_code == 1 and "<stdin>: hypothesis has 0 lines but gold" in empty.stderr


def test_score_json_states_its_format_version_and_percent(tmp_path):
    gold, hyp = tmp_path / "gold", tmp_path / "hyp"
    gold.write_text("1-1 2p2\n")  # sure (0,0), possible (1,1)
    hyp.write_text("0-0 1-0\n")  # A = {(0,0), (1,0)}: |A∩S| = 1, |A∩P| = 1
    result = run("score", "--gold", str(gold), "--hyp", str(hyp), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["format"] == "aligner-score/1" and record["version"] == __version__
    assert abs(record["aer_percent"] - 100 * (1 - 2 / 3)) < 1e-9
    assert record["precision_percent"] == 50.0 and record["recall_percent"] == 100.0
    assert "aer" not in record  # no unlabelled scale
    fields = record["signature_fields"]
    assert "|".join(f"{key}:{value}" for key, value in fields.items()) == record["signature"]
    assert fields["gold"] == "gold" and fields["version"] == __version__


def test_align_json_goes_to_stdout_unless_the_alignments_do(tmp_path):
    out = tmp_path / "out"
    to_file = run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "-o", str(out), "--json")
    assert to_file.exit_code == 0, to_file.output
    record = json.loads(to_file.stdout)
    assert record["format"] == "aligner-run/1" and record["version"] == __version__ and record["pairs"] == 20
    assert "|".join(f"{k}:{v}" for k, v in record["signature_fields"].items()) == record["signature"]
    assert record["signature_fields"]["measure"] == "norm"
    to_stdout = run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "--json")
    assert to_stdout.stdout == out.read_text()  # nothing but the alignments on stdout
    assert json.loads(to_stdout.stderr.strip().splitlines()[-1])["format"] == "aligner-run/1"


def read_pty(command: list[str]) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal (a person's screen); return its status and what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower, cwd=ROOT, env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not data:
            break
        shown += data
    os.close(leader)
    return process.wait(), shown.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_shows_the_total_rate_and_eta():
    command = [sys.executable, "-m", "aligner", "align", "--device", "cpu", "--src", SRC, "--tgt", TGT, "--batch-size", "4"]
    status, shown = read_pty(command)
    assert status == 0, shown
    assert "aligning" in shown and "20/20" in shown
    assert "pairs/s" in shown and "<" in shown  # rate, and tqdm's elapsed<remaining
    status, quiet = read_pty([*command, "-q"])
    assert status == 0 and "aligning" not in quiet


def test_no_progress_bar_when_stderr_is_not_a_terminal():
    result = run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu")
    assert result.exit_code == 0 and "aligning" not in result.stderr


def test_progress_is_reported_per_batch_with_the_total():
    seen: list[tuple[int, int | None]] = []
    align_corpus(AlignConfig(device="cpu", batch_size=4), [SRC, TGT], progress=lambda done, total: seen.append((done, total)),
                 stream=open(os.devnull, "w"))
    assert {total for _, total in seen} == {20}
    done = [count for count, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 20
    # one chunk of 20 lines, five batches: the count moves inside the chunk, not only at its end
    assert len(set(done)) > 2


def test_sweep_json_rows_state_percent_and_match_their_counts():
    result = run("sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-per-head", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["format"] == "aligner-sweep/1" and record["version"] == __version__ and record["pairs"] == 20
    assert "|".join(f"{k}:{v}" for k, v in record["signature_fields"].items()) == record["signature"]
    rows = record["rows"]
    # the toy model's 3 layers x {awi, awo} x (weight, norm, and 4 residual measures with both residual rules), as test_sweep counts them
    assert len(rows) == 3 * 2 * (2 + 4 * 2)
    for row in rows:
        counts = row["counts"]
        expected = 100 * (1 - (counts["hit_sure"] + counts["hit_possible"]) / (counts["hypothesis"] + counts["sure"]))
        assert abs(row["aer_percent"] - expected) < 1e-9 and "aer" not in row
