"""Choosing settings on a dev set, presets, and --preset."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aligner.cli import main
from aligner.evaluation.metrics import AlignmentCounts
from aligner.decisions import DecisionRule
from aligner.extraction import Extraction
from aligner.evaluation.select import Candidate, candidate_grid, read_preset, select

from .conftest import SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


def test_select_lowest_dev_aer_ties_to_grid_order():
    a, b, c = (Candidate(Extraction((layer,), measure="norm", step="awi"), DecisionRule("argmax")) for layer in (1, 2, 3))
    # AER: a = 1 - 2/4 = 0.5, b = 1 - 6/8 = 0.25, c = 0.25 too; b comes first in the grid
    counts = {
        a: AlignmentCounts(hypothesis=2, sure=2, possible=2, hit_sure=1, hit_possible=1),
        b: AlignmentCounts(hypothesis=4, sure=4, possible=4, hit_sure=3, hit_possible=3),
        c: AlignmentCounts(hypothesis=4, sure=4, possible=4, hit_sure=3, hit_possible=3),
    }
    selection = select(counts)
    assert selection.chosen == b and selection.dev_aer == 0.25
    assert [candidate for candidate, _ in selection.ranking] == [b, c, a]


def test_grid_covers_layers_pairs_measures_steps_decisions():
    grid = candidate_grid(3)
    assert {c.extraction.layers for c in grid} == {(1,), (2,), (3,), (1, 2), (2, 3)}
    assert {c.extraction.heads for c in grid} == {()}
    assert {c.rule.decision for c in grid} == {"argmax", "argmax-both", "argmax-source", "argmax-grow-diag", "argmax-grow-diag-final-and", "threshold"}
    assert len(grid) == len(set(grid))
    assert {c.extraction.measure for c in grid} == {"weight", "norm", "alti-xattn", "attn-res-norm", "attn-res-ln-norm", "value-zeroing"}
    assert {(c.extraction.measure, c.rule.residual_null) for c in grid if c.rule.residual_null} == {
        (m, True) for m in ("alti-xattn", "attn-res-norm", "attn-res-ln-norm", "value-zeroing")
    }


def test_grid_with_heads_adds_every_single_head_of_every_layer():
    plain, with_heads = candidate_grid(3), candidate_grid(3, heads=2)
    added = [c for c in with_heads if c.extraction.heads]
    assert {(c.extraction.layers, c.extraction.heads) for c in added} == {((l,), (h,)) for l in (1, 2, 3) for h in (1, 2)}
    assert len(with_heads) == len(plain) + len(added) and set(plain) <= set(with_heads)
    # 6 (layer, head) sets beside the 5 layer sets, same decisions, but only the 2 measures with a
    # per-head form of the 10 measure x residual-rule settings of a layer set.
    assert len(added) == 6 * (len(plain) // 5) * 2 // 10
    assert {c.extraction.measure for c in added} == {"weight", "norm"}
    assert {c.label.split()[0] for c in added} == {f"L{l}H{h}" for l in (1, 2, 3) for h in (1, 2)}


def test_select_writes_preset_that_align_reads(tmp_path):
    prefix = tmp_path / "toy"
    result = CliRunner().invoke(
        main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-heads", "--select", "--dev", "8", "-o", str(prefix), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    name, settings = read_preset(prefix.with_suffix(".preset.json"))
    assert name == "toy" and "Settings chosen on the dev set" in prefix.with_suffix(".md").read_text()

    explicit = ["--layer", "-".join(map(str, (settings["layers"][0], settings["layers"][-1]))), "--measure", settings["measure"],
                "--step", settings["step"], "--decision", settings["decision"], "--threshold", str(settings["threshold"]),
                "--normalize", settings["normalize"], "--eos-null" if settings["eos_null"] else "--no-eos-null",
                "--final-punct" if settings["final_punct"] else "--no-final-punct",
                "--residual-null" if settings["residual_null"] else "--no-residual-null"]
    if settings["heads"]:
        explicit += ["--head", ",".join(map(str, settings["heads"]))]
    common = ["align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "--scores"]
    by_preset = CliRunner().invoke(main, [*common, "--preset", str(prefix.with_suffix(".preset.json"))])
    by_hand = CliRunner().invoke(main, [*common, *explicit])
    assert by_preset.exit_code == by_hand.exit_code == 0
    assert by_preset.stdout == by_hand.stdout
    assert "|preset:toy|version:" in by_preset.stderr

    overridden = CliRunner().invoke(main, [*common, "--preset", str(prefix.with_suffix(".preset.json")), "--decision", "argmax-source"])
    assert "decision:argmax-source" in overridden.stderr


def test_bad_preset_names_file(tmp_path):
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"name": "x", "settings": {"layer_count": 3}}))
    result = CliRunner().invoke(main, ["align", "--preset", str(preset)], input="a ||| b\n")
    assert result.exit_code == 1 and f"{preset}: unknown settings in preset: layer_count" in result.stderr


def test_preset_may_not_set_the_model_or_how_to_run_it(tmp_path):
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"name": "x", "settings": {"layers": [2], "batch_size": 4, "path": "elsewhere"}}))
    result = CliRunner().invoke(main, ["align", "--preset", str(preset)], input="a ||| b\n")
    assert result.exit_code == 1
    assert f"{preset}: a preset sets extraction and decision settings only, not batch_size, path" in result.stderr


def test_reversed_gold_set_swaps_sides_and_transposes_links():
    from aligner.io import GoldLinks, SentencePair
    from aligner.evaluation.select import GoldSet

    gold = GoldLinks(frozenset({(0, 1)}), frozenset({(0, 1), (2, 0)}))
    reversed_set = GoldSet([SentencePair(("a", "b", "c"), ("x", "y"))], [gold], 0, "g").reversed()
    assert reversed_set.pairs == [SentencePair(("x", "y"), ("a", "b", "c"))]
    assert reversed_set.golds == [GoldLinks(frozenset({(1, 0)}), frozenset({(1, 0), (0, 2)}))]


def test_symmetrized_candidates_shortlist_both_directions_within_both_depths():
    from aligner.evaluation.select import Selection, symmetrized_candidates
    from aligner.symmetrize import SYMMETRIZATIONS

    a, b, c = (Candidate(Extraction((layer,), measure="norm", step="awi"), DecisionRule("argmax")) for layer in (1, 2, 3))
    forward, reverse = Selection(a, 0.1, [(a, 0.1), (c, 0.2)]), Selection(b, 0.1, [(b, 0.1), (a, 0.3)])
    chosen = symmetrized_candidates(forward, reverse, decoder_layers=2, shortlist=2)
    # c needs layer 3, which the shallower model lacks; a is shortlisted by both but tried once
    assert [x.single for x in chosen] == [a] * len(SYMMETRIZATIONS) + [b] * len(SYMMETRIZATIONS)
    assert [x.symmetrize for x in chosen[: len(SYMMETRIZATIONS)]] == list(SYMMETRIZATIONS)


def test_symmetrized_selection_scores_what_align_writes(tmp_path):
    """sweep --select --reverse-path chooses a symmetrized setting; align --preset with the same reverse
    model must produce links whose AER (scored by `aligner score`) is the one the report gives.
    The toy model's joint dictionary lets it stand in for the reverse model."""
    from .conftest import FIXTURES

    toy, prefix = str(FIXTURES["toy-deen"]), tmp_path / "toy"
    runner = CliRunner()
    result = runner.invoke(main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-heads", "--select", "--dev", "8",
                                  "--reverse-path", toy, "-o", str(prefix), "--device", "cpu", "--measures", "weight,norm"])
    assert result.exit_code == 0, result.output
    report = prefix.with_suffix(".md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| symmetrized |"))
    reported_test_aer = float(row.split("|")[4])
    preset = prefix.with_suffix(".symmetrized.preset.json")
    name, settings = read_preset(preset)
    assert name == "toy.symmetrized" and settings["symmetrize"] in row

    refused = runner.invoke(main, ["align", "--src", SRC, "--tgt", TGT, "--preset", str(preset), "--device", "cpu"])
    assert refused.exit_code == 2 and "give the reverse model with --reverse-path" in refused.output

    links = tmp_path / "sym.align"
    aligned = runner.invoke(main, ["align", "--src", SRC, "--tgt", TGT, "--preset", str(preset), "--reverse-path", toy,
                                   "--device", "cpu", "-o", str(links)])
    assert aligned.exit_code == 0, aligned.output
    assert "|preset:toy.symmetrized|" in aligned.stderr and f"symmetrize:{settings['symmetrize']}+toy-deen@" in aligned.stderr
    scored = runner.invoke(main, ["score", "--gold", GOLD, "--hyp", str(links), "--src", SRC, "--tgt", TGT, "--json"])
    assert scored.exit_code == 0, scored.output
    assert round(json.loads(scored.stdout)["aer_percent"], 1) == reported_test_aer


def test_measures_option_narrows_the_rows_and_the_selection_grid(tmp_path):
    prefix = tmp_path / "small"
    result = CliRunner().invoke(main, ["sweep", "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--no-heads", "--measures", "norm",
                                       "--select", "--dev", "8", "-o", str(prefix), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(prefix.with_suffix(".json").read_text())["rows"]
    assert rows and {row["measure"] for row in rows if row.get("measure")} == {"norm"}
    _, settings = read_preset(prefix.with_suffix(".preset.json"))
    assert settings["measure"] == "norm"
    # Without heads every measure has the same layer sets and decisions; the 4 residual measures
    # each count twice (both residual rules): 2 + 4 x 2 = 10 measure rows against 2.
    assert len(candidate_grid(3)) == 5 * len(candidate_grid(3, measures=("weight", "norm")))
