"""sweep validates its inputs before the first forward pass (issue 15)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aligner.cli import main

from .conftest import SAMPLE

SRC, TGT, GOLD = (str(SAMPLE / name) for name in ("sample.de", "sample.en", "sample.talp"))


def sweep(*args, env=None):
    return CliRunner(env=env).invoke(main, ["sweep", "--device", "cpu", "--no-per-head", "--src", SRC, "--tgt", TGT, *map(str, args)], catch_exceptions=False)


def bad_gold(tmp_path: Path) -> Path:
    lines = Path(GOLD).read_text().splitlines()
    lines[2] += " 40-41"
    path = tmp_path / "gold.talp"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_out_of_range_test_gold_refused_before_any_forward_pass(tmp_path):
    gold = bad_gold(tmp_path)
    result = sweep("--gold", gold)
    assert result.exit_code == 1 and result.stderr.startswith(f"aligner: error: {gold}:3: ")
    assert "40-41" in result.stderr or "out of range" in result.stderr
    assert result.stdout == ""  # no table: nothing was aligned


def test_out_of_range_test_gold_dropped_and_counted_with_drop_invalid(tmp_path):
    result = sweep("--gold", bad_gold(tmp_path), "--drop-invalid")
    assert result.exit_code == 0 and "dropped 1 out-of-range links of" in result.stderr


def test_dev_larger_than_the_set_refused(tmp_path):
    result = sweep("--gold", GOLD, "--select", "--dev", "100", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert f"aligner: error: {GOLD}: --dev 100 asks for more pairs than the gold set has (20)" in result.stderr
    assert result.stdout == "" and not (tmp_path / "out.md").exists()


def test_missing_dev_set_refused_before_the_sweep(tmp_path):
    result = sweep("--gold", GOLD, "--select", "-o", tmp_path / "out", env={"ALIGNER_DATA": str(tmp_path)})
    assert result.exit_code == 1 and "no dev set: give --dev-src/--dev-tgt/--dev-gold or --dev N" in result.stderr
    assert result.stdout == ""
