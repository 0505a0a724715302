"""The library API of the installable-product issue: from_pretrained, SentencePair's words, matrices(), plot's preset."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aligner import AlignConfig, Aligner, SentencePair
from aligner.cli import main
from aligner.errors import ConfigError
from aligner.extraction import ScoreRequest

from .conftest import FIXTURES, SAMPLE
from .test_bundle_preset import PRESET, bundle  # noqa: F401  (the toy bundle with a preset, a fixture)

PAIRS = [
    SentencePair(("das", "haus", "ist", "klein", "."), ("the", "house", "is", "small", ".")),
    SentencePair((), ("empty", "source")),
    SentencePair(("ein", "buch"), ("a", "book")),
]


def parts(aligner) -> dict[str, str]:
    return dict(part.split(":", 1) for part in str(aligner.signature).split("|"))


def test_from_pretrained_applies_the_bundles_preset(bundle):  # noqa: F811
    aligner = Aligner.from_pretrained(bundle, device="cpu")
    signature = parts(aligner)
    assert (signature["preset"], signature["layer"], signature["head"], signature["measure"], signature["step"]) == ("toy-dev", "3/3", "2", "weight", "awo")
    assert (signature["decision"], signature["punct"]) == ("argmax-source", "final")
    by_hand = Aligner(AlignConfig(path=bundle, device="cpu", **PRESET))
    assert [pair.links for pair in aligner.align(PAIRS)] == [pair.links for pair in by_hand.align(PAIRS)]


def test_from_pretrained_overrides_one_field_and_names_it(bundle):  # noqa: F811
    aligner = Aligner.from_pretrained(str(bundle), device="cpu", layers=2)
    signature = parts(aligner)
    assert signature["preset"] == "toy-dev+layers" and signature["layer"] == "2/3"
    assert signature["head"] == "2" and signature["measure"] == "weight"  # the rest stays the preset's
    # a setting the preset does not record is not an override of it
    assert parts(Aligner.from_pretrained(bundle, device="cpu", batch_size=4))["preset"] == "toy-dev"


def test_from_pretrained_without_preset_and_without_one_in_the_bundle(bundle):  # noqa: F811
    plain = parts(Aligner.from_pretrained(bundle, preset=False, device="cpu"))
    assert "preset" not in plain and (plain["layer"], plain["head"], plain["step"]) == ("1/3", "all", "awi")
    # toy-deen's aligner.json names no preset: its settings are the paper's defaults
    assert "preset" not in parts(Aligner.from_pretrained(FIXTURES["toy-deen"], device="cpu"))


def test_from_pretrained_refuses_two_models(bundle):  # noqa: F811
    with pytest.raises(ConfigError, match="make_aligner"):
        Aligner.from_pretrained(bundle, reverse_path=bundle)


@pytest.mark.parametrize("src, tgt", [("Das Haus", ("The", "house")), (("Das", "Haus"), "The house")])
def test_sentence_pair_refuses_strings(src, tgt):
    with pytest.raises(TypeError, match=r"is a string .*SentencePair\.from_text"):
        SentencePair(src, tgt)


def test_sentence_pair_words():
    assert SentencePair(["das", "haus"], ["the"]) == SentencePair(("das", "haus"), ("the",))
    # ASCII spaces only: U+3000 stays inside a token, as in the gold sets' text
    assert SentencePair.from_text("  das  haus ", "a\u3000b c") == SentencePair(("das", "haus"), ("a\u3000b", "c"))
    assert SentencePair.from_text("", "x").src == ()


def test_matrices_are_keyed_by_one_based_layers_with_words(bundle):  # noqa: F811
    aligner = Aligner.from_pretrained(bundle, device="cpu")  # head 2, weights, AWO
    results = aligner.matrices(PAIRS)
    assert [result.src for result in results] == [pair.src for pair in PAIRS]
    assert [result.tgt for result in results] == [pair.tgt for pair in PAIRS]
    first, empty, last = results
    assert sorted(first.layers) == [1, 2, 3] and first.extra_columns == ("</s>",)
    assert first.layers[3].shape == (5, 6) and last.layers[1].shape == (2, 3)
    assert empty.layers == {}  # a side without words: the model is not run
    # layer k is the engine's 0-based layer k-1, at the aligner's head, measure and step
    encoded = aligner.encode(0, PAIRS[0])
    for layer in (1, 2, 3):
        request = ScoreRequest(layer - 1, 1, "weight", "awo", "sum", "mean")
        [direct] = aligner.engine.word_scores([encoded], [request])
        # (matrices() ran it in a padded batch with pair 3, this alone: equal up to float32 rounding)
        assert first.layers[layer].shape == direct[request].shape and abs(first.layers[layer] - direct[request]).max() < 1e-5
    # weights of one head: a target word's row sums to 1 over the source words and </s> (pieces summed, then averaged)
    assert abs(first.layers[2].sum(axis=1) - 1).max() < 1e-4
    # the chosen layer's matrix is the one the links are decided on
    [aligned] = aligner.align(PAIRS[:1])
    from_matrix = aligner.links(first.layers[3], encoded)
    assert [(link.src, link.tgt) for link in from_matrix] == [(link.src, link.tgt) for link in aligned.links]
    assert max(abs(a.score - b.score) for a, b in zip(from_matrix, aligned.links)) < 1e-5
    assert sorted(aligner.matrices(PAIRS[:1], layers=[2])[0].layers) == [2]
    with pytest.raises(ConfigError, match="layer 4 does not exist"):
        aligner.matrices(PAIRS[:1], layers=[4])


def plot(tmp_path, *options: str) -> str:
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(
        main, ["plot", "--src", str(SAMPLE / "sample.de"), "--tgt", str(SAMPLE / "sample.en"), "--device", "cpu", "-o", str(tmp_path / "p.png"), "--overwrite", *options]
    )
    assert result.exit_code == 0, result.output
    return [line for line in result.stderr.splitlines() if "|version:" in line][-1]


def test_plot_applies_the_bundles_preset(bundle, tmp_path):  # noqa: F811
    caption = plot(tmp_path, "--path", str(bundle))
    assert "|layer:3/3|head:2|measure:weight|step:awo|" in caption and "|decision:argmax-source|" in caption
    assert "|preset:toy-dev|" in caption
    caption = plot(tmp_path, "--path", str(bundle), "--measures", "weight,norm", "--layers", "1,2")
    assert "|layer:1,2/3|head:2|measure:weight,norm|step:awo|" in caption and "|preset:toy-dev+layers+measure|" in caption
    caption = plot(tmp_path, "--path", str(bundle), "--no-preset")
    assert "preset:" not in caption and "|layer:1/3|head:all|measure:weight,norm|step:awi|" in caption


def test_sweep_reports_the_bundle_presets_row_as_align_scores_it(bundle, tmp_path):  # noqa: F811
    src, tgt, gold = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")
    swept = CliRunner().invoke(main, ["sweep", "--path", str(bundle), "--src", src, "--tgt", tgt, "--gold", gold, "--no-per-head", "--device", "cpu", "-o", str(tmp_path / "s")])
    assert swept.exit_code == 0, swept.output
    [line] = [line for line in swept.stdout.splitlines() if line.startswith("The bundle's preset")]
    assert line.startswith("The bundle's preset toy-dev (layer:3/3|head:2|measure:weight|step:awo|merge:sum-mean|decision:argmax-source|eos:null|punct:final): AER ")
    aligned = CliRunner().invoke(main, ["align", "--path", str(bundle), "--src", src, "--tgt", tgt, "--device", "cpu", "-o", str(tmp_path / "a")])
    assert aligned.exit_code == 0, aligned.output
    scored = CliRunner().invoke(main, ["score", "--gold", gold, "--hyp", str(tmp_path / "a"), "--json"])
    aer_percent = json.loads(scored.stdout)["aer_percent"]  # score --json states rates in percent
    assert line.endswith(f"AER {aer_percent:.1f}")
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["preset"]["name"] == "toy-dev" and abs(record["preset"]["aer"] - aer_percent / 100) < 1e-12
    assert "The bundle's preset toy-dev" in (tmp_path / "s.md").read_text()
    no_row = CliRunner().invoke(main, ["sweep", "--path", str(bundle), "--src", src, "--tgt", tgt, "--gold", gold, "--no-per-head", "--no-preset-row", "--device", "cpu"])
    assert no_row.exit_code == 0 and "The bundle's preset" not in no_row.stdout


def test_matrices_of_a_residual_measure_name_the_residual_column(bundle):  # noqa: F811
    aligner = Aligner.from_pretrained(bundle, device="cpu", preset=False, measure="alti-xattn")  # all heads: ALTI+ has no per-head form
    [first] = aligner.matrices(PAIRS[:1], layers=[3])
    # 5 target words x (5 source words, </s>, the residual of the cross-attention sub-layer)
    assert first.extra_columns == ("</s>", "residual") and first.layers[3].shape == (5, 7)
    encoded = aligner.encode(0, PAIRS[0])
    [request] = aligner.requests
    [direct] = aligner.engine.word_scores([encoded], [request])
    assert direct.columns_after_source(request) == first.extra_columns and direct[request].shape == first.layers[3].shape
