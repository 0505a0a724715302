"""The readers and the scorer on the real third-party gold sets (skipped without ALIGNER_DATA)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aligner.cli import main
from aligner.io import read_gold, read_lines, read_parallel


def score(*args):
    return CliRunner().invoke(main, ["score", *args], catch_exceptions=False)


def test_gold_scored_against_its_own_sure_links(shared_data, tmp_path):
    # ja-en has U+3000 inside tokens: splitting on any white space would shift indices out of range.
    for pair in ("deen", "enfr", "roen", "zhen", "jaen"):
        folder = shared_data / "gold" / pair
        gold, src, tgt = (str(folder / f"{pair}.{ext}") for ext in ("talp", "src", "tgt"))
        hyp = tmp_path / f"{pair}.align"
        hyp.write_text("".join(" ".join(f"{i}-{j}" for i, j in sorted(links.sure)) + "\n" for links in read_gold(gold)))
        result = score("--gold", gold, "--hyp", str(hyp), "--src", src, "--tgt", tgt, "--json")
        assert result.exit_code == 0, result.stderr
        record = json.loads(result.stdout)
        if record["counts"]["sure"]:
            assert record["aer_percent"] == 0.0 and record["recall_percent"] == 100.0 and record["precision_percent"] == 100.0


def test_bicici_set_bom_zero_based_and_known_bad_link(shared_data, tmp_path):
    folder = shared_data / "gold" / "deen_bicici100"
    src, tgt, gold = str(folder / "test.de"), str(folder / "test.en"), str(folder / "de-en.wa")
    assert not next(read_lines(src)).startswith("\ufeff")
    assert len(list(read_parallel(src, tgt))) == 100
    hyp = tmp_path / "empty.align"
    hyp.write_text("\n" * 100)
    failed = score("--gold", gold, "--hyp", str(hyp), "--src", src, "--tgt", tgt, "--gold-zero-based")
    assert failed.exit_code == 1 and f"{gold}:63: link 12-16" in failed.stderr
    dropped = score("--gold", gold, "--hyp", str(hyp), "--src", src, "--tgt", tgt, "--gold-zero-based", "--drop-invalid", "--json")
    record = json.loads(dropped.stdout)
    assert record["dropped_links"] == 1 and record["aer_percent"] == 100.0 and record["precision_percent"] == 0.0
