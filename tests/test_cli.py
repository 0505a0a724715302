"""The command line end to end on the toy model, and its errors (file:line, exit status)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from aligner.cli import main
from aligner.io import read_gold, read_pharaoh

from .conftest import FIXTURES, SAMPLE

SRC, TGT, GOLD = str(SAMPLE / "sample.de"), str(SAMPLE / "sample.en"), str(SAMPLE / "sample.talp")


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_align_then_score_end_to_end(tmp_path):
    out = tmp_path / "out.align"
    result = run("align", "--src", SRC, "--tgt", TGT, "-o", str(out), "--scores", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "model:toy-deen@" in result.stderr and "measure:norm|step:awi" in result.stderr
    hypotheses = list(read_pharaoh(str(out)))
    sources = SAMPLE.joinpath("sample.de").read_text().splitlines()
    targets = SAMPLE.joinpath("sample.en").read_text().splitlines()
    assert len(hypotheses) == len(sources) == 20
    for links, src, tgt in zip(hypotheses, sources, targets):
        assert all(0 <= l.src < len(src.split()) and 0 <= l.tgt < len(tgt.split()) for l in links)
        assert all(0.0 <= l.score <= 1.0 for l in links)
        # argmax: at most one link per target word
        assert len({l.tgt for l in links}) == len(links)

    scored = run("score", "--gold", GOLD, "--hyp", str(out), "--src", SRC, "--tgt", TGT, "--json")
    assert scored.exit_code == 0
    record = json.loads(scored.stdout)
    counts = record["counts"]
    assert counts["hypothesis"] == sum(len(h) for h in hypotheses)
    assert counts["sure"] == sum(len(g.sure) for g in read_gold(GOLD))
    expected_aer = 1 - (counts["hit_sure"] + counts["hit_possible"]) / (counts["hypothesis"] + counts["sure"])
    assert record["format"] == "aligner-score/1" and record["aer_percent"] == pytest.approx(100 * expected_aer)


def test_stdin_bitext_matches_two_files(tmp_path):
    lines = [f"{s} ||| {t}" for s, t in zip(Path(SRC).read_text().splitlines(), Path(TGT).read_text().splitlines())]
    from_stdin = run("align", "--device", "cpu", "-q", input="\n".join(lines) + "\n")
    from_files = run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "-q")
    assert from_stdin.exit_code == from_files.exit_code == 0
    assert from_stdin.stdout == from_files.stdout and from_stdin.stdout.count("\n") == 20


def test_batch_size_does_not_change_output():
    one = run("align", "--src", SRC, "--tgt", TGT, "--batch-size", "1", "--scores", "-q", "--device", "cpu")
    many = run("align", "--src", SRC, "--tgt", TGT, "--batch-size", "7", "--scores", "-q", "--device", "cpu")
    assert one.stdout == many.stdout


def test_empty_lines_give_empty_alignments(tmp_path):
    result = run("align", "--device", "cpu", "--json", input="das haus ||| the house\n ||| the house\nhaus ||| \n")
    assert result.exit_code == 0
    lines = result.stdout.split("\n")
    assert lines[1] == "" and lines[2] == "" and len(lines) == 4
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["pairs"] == 3 and summary["empty_pairs"] == 2


def test_default_layer_and_options_in_signature():
    result = run("align", "--layer", "3", "--head", "2", "--measure", "weight", "--step", "awo", "--no-eos-null",
                 "--decision", "threshold", "--threshold", "0.3", "--device", "cpu", input="das ||| the\n")
    assert result.exit_code == 0
    assert "layer:3/3|head:2|measure:weight|step:awo|merge:sum-mean|decision:threshold@0.3/rows|eos:excluded|punct:none" in result.stderr


def test_prenorm_bpe_fixture_aligns(tmp_path):
    result = run("align", "--path", str(FIXTURES["prenorm-bpe"] / "model.pt"), "--src", SRC, "--tgt", TGT, "-q", "--device", "cpu")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 20


# --- errors: message names file and line, exit status is not 0 ----------------------------


def assert_fails(result, pattern: str):
    assert result.exit_code != 0
    assert pattern in result.stderr, result.stderr


def test_line_count_mismatch_detected_before_output_opened(tmp_path):
    short = tmp_path / "short.en"
    short.write_text("the house\n")
    out = tmp_path / "out.align"
    result = run("align", "--src", SRC, "--tgt", str(short), "-o", str(out))
    assert_fails(result, f"source {SRC} has 20 lines, target {short} has 1")
    assert not out.exists()


def test_bitext_line_without_separator(tmp_path):
    bitext = tmp_path / "bitext"
    bitext.write_text("das haus ||| the house\nkein trenner\n")
    assert_fails(run("align", "-i", str(bitext), "-q"), f"{bitext}:2: expected one '|||'")


def test_malformed_hypothesis_link(tmp_path):
    hyp = tmp_path / "hyp"
    hyp.write_text("0-0\n" * 5 + "0-0 1x1\n" + "0-0\n" * 14)
    assert_fails(run("score", "--gold", GOLD, "--hyp", str(hyp)), f"{hyp}:6: malformed link '1x1'")


def test_malformed_gold_link(tmp_path):
    gold = tmp_path / "gold"
    gold.write_text("1-1\n1-1 2+2\n")
    hyp = tmp_path / "hyp"
    hyp.write_text("0-0\n0-0\n")
    assert_fails(run("score", "--gold", str(gold), "--hyp", str(hyp)), f"{gold}:2: malformed gold link '2+2'")


def test_out_of_range_link_names_line_or_is_dropped(tmp_path):
    hyp = tmp_path / "hyp"
    hyp.write_text("0-0\n" * 3 + "0-0 40-1\n" + "0-0\n" * 16)
    assert_fails(run("score", "--gold", GOLD, "--hyp", str(hyp), "--src", SRC, "--tgt", TGT), f"{hyp}:4: link 40-1")
    dropped = run("score", "--gold", GOLD, "--hyp", str(hyp), "--src", SRC, "--tgt", TGT, "--drop-invalid", "--json")
    assert dropped.exit_code == 0 and json.loads(dropped.stdout)["dropped_links"] == 1


def test_gold_and_hypothesis_of_different_lengths(tmp_path):
    hyp = tmp_path / "hyp"
    hyp.write_text("0-0\n")
    assert_fails(run("score", "--gold", GOLD, "--hyp", str(hyp)), "hypothesis has 1 lines but gold")


def copy_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURES["toy-deen"], bundle)
    return bundle


def test_missing_dictionary(tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "dict.en.txt").unlink()
    assert_fails(run("align", "--path", str(bundle), input="a ||| b\n"), f"{bundle / 'dict.en.txt'}: dictionary not found")


def test_malformed_dictionary_line(tmp_path):
    bundle = copy_bundle(tmp_path)
    with open(bundle / "dict.en.txt", "a") as dictionary:
        dictionary.write("brokenline\n")
    lines = (bundle / "dict.en.txt").read_text().count("\n")
    assert_fails(run("align", "--path", str(bundle), input="a ||| b\n"), f"{bundle / 'dict.en.txt'}:{lines}: expected '<symbol> <count>'")


def test_missing_subword_model(tmp_path):
    bundle = copy_bundle(tmp_path)
    missing = tmp_path / "nope.model"
    assert_fails(
        run("align", "--path", str(bundle), "--sentencepiece-model", str(missing), input="a ||| b\n"),
        f"{missing}: SentencePiece model not found",
    )


def test_mismatched_subword_model(tmp_path):
    bundle = copy_bundle(tmp_path)
    codes = FIXTURES["prenorm-bpe"] / "bpe.codes"
    assert_fails(
        run("align", "--path", str(bundle), "--bpe-codes", str(codes), input="a ||| b\n"),
        "are dictionary and subword model from the same training run?",
    )


def test_dictionary_of_another_model(tmp_path):
    bundle = copy_bundle(tmp_path)
    shutil.copy(FIXTURES["prenorm-bpe"] / "dict.en.txt", bundle / "dict.en.txt")
    assert_fails(run("align", "--path", str(bundle), input="a ||| b\n"), f"{bundle / 'dict.en.txt'}: only ")


def test_dictionary_of_the_wrong_size(tmp_path):
    bundle = copy_bundle(tmp_path)
    with open(bundle / "dict.en.txt", "a") as dictionary:
        dictionary.write("madeupword9999 0\n")
    assert_fails(run("align", "--path", str(bundle), input="a ||| b\n"), f"{bundle / 'dict.en.txt'}: target dictionary has")


def test_unsupported_architecture_option(tmp_path):
    bundle = copy_bundle(tmp_path)
    state = torch.load(bundle / "model.pt", weights_only=False)
    state["cfg"]["model"].cross_self_attention = True
    torch.save(state, bundle / "model.pt")
    assert_fails(
        run("align", "--path", str(bundle), input="a ||| b\n"),
        f"{bundle / 'model.pt'}: model option cross_self_attention=True is not supported",
    )


def test_layer_beyond_decoder(tmp_path):
    assert_fails(run("align", "--layer", "4", input="a ||| b\n"), "layer 4 does not exist: the decoder has 3 layers")


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.write_text("precious\n")
    assert_fails(run("align", "-o", str(out), input="a ||| b\n"), "refusing to overwrite")
    assert out.read_text() == "precious\n"


def test_sentence_longer_than_positions_names_line(tmp_path):
    bitext = tmp_path / "long"
    bitext.write_text("das haus ||| the house\n" + " ".join(["haus"] * 80) + " ||| the house\n")
    result = run("align", "--path", str(FIXTURES["prenorm-bpe"]), "-i", str(bitext), "-q")
    assert_fails(result, f"{bitext}:2: source sentence has")
    assert result.stdout.count("\n") == 1  # the pair before the bad line was written


def test_too_long_target_line_is_reported_against_the_target_file(tmp_path):
    src, tgt = tmp_path / "long.src", tmp_path / "long.tgt"
    src.write_text("das haus\ndas haus\n")
    tgt.write_text("the house\n" + " ".join(["house"] * 80) + "\n")
    result = run("align", "--path", str(FIXTURES["prenorm-bpe"]), "--src", str(src), "--tgt", str(tgt), "-q")
    assert_fails(result, f"{tgt}:2: target sentence has")


def test_layer_range_and_head_list_average_their_matrices():
    import numpy as np

    from aligner.config import AlignConfig
    from aligner.decisions import argmax_links
    from aligner.io import SentencePair
    from aligner.extraction import ScoreRequest
    from aligner.pipeline import Aligner

    pair = SentencePair(("Das", "Haus", "ist", "klein", "."), ("The", "house", "is", "small", "."))
    combined = Aligner(AlignConfig(device="cpu", layers=(1, 2, 3), heads=(2, 4), measure="weight"))
    assert str(combined.signature).split("|")[1:3] == ["layer:1-3/3", "head:2,4"]
    encoded = combined.encode(0, pair)
    requests = [ScoreRequest(layer, head, "weight", "awi") for layer in range(3) for head in (1, 3)]
    [matrices] = combined.word_scores([encoded], requests)
    expected = argmax_links(np.mean([matrices[r] for r in requests], axis=0))
    [result] = combined.align([pair])
    assert result.links == expected
    cli = run("align", "--layer", "1-3", "--head", "2,4", "--measure", "weight", "-q", "--scores", input="Das Haus ist klein . ||| The house is small .\n")
    assert cli.stdout.strip() == " ".join(f"{l.src}-{l.tgt}:{l.score:.4f}" for l in sorted(expected, key=lambda l: (l.src, l.tgt)))


def test_bad_layer_range_is_a_usage_error():
    result = run("align", "--layer", "2-x", input="a ||| b\n")
    assert result.exit_code == 2 and "expected N, A-B or A,B" in result.stderr


def test_reverse_model_links_are_symmetrized(tmp_path):
    from aligner.config import AlignConfig
    from aligner.io import read_parallel
    from aligner.pipeline import Aligner
    from aligner.symmetrize import symmetrize

    # The toy model's joint dictionary lets it stand in for an en->de model: the plumbing is what is tested.
    toy = FIXTURES["toy-deen"]
    pairs = list(read_parallel(SRC, TGT))
    forward = [r.links for r in Aligner(AlignConfig(device="cpu")).align(pairs)]
    reverse_aligner = Aligner(AlignConfig(path=toy, device="cpu", source_lang="en", target_lang="de"))
    swapped = [type(p)(p.tgt, p.src) for p in pairs]
    reverse = [r.links for r in reverse_aligner.align(swapped)]
    expected = [
        " ".join(f"{i}-{j}" for i, j in sorted(symmetrize({(l.src, l.tgt) for l in f}, {(l.tgt, l.src) for l in r}, "grow-diag-final-and")))
        for f, r in zip(forward, reverse)
    ]
    result = run("align", "--src", SRC, "--tgt", TGT, "--reverse-path", str(toy), "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == expected
    assert "symmetrize:grow-diag-final-and+toy-deen@" in result.stderr
    assert any(len(f) != len(line.split()) for f, line in zip(forward, expected))  # the reverse links did change something


@pytest.mark.parametrize("layers", ["2", "2-3", "1,3"])
def test_every_command_that_takes_layers_reads_one_grammar(tmp_path, layers):
    from aligner.config import parse_indices

    assert parse_indices("2") == (2,) and parse_indices("2-4") == (2, 3, 4) and parse_indices("2,4") == (2, 4)
    pair = "Das Haus ist klein . ||| The house is small .\n"
    for spelling in ("--layer", "--layers"):
        aligned = run("align", spelling, layers, "--device", "cpu", "-q", input=pair)
        assert aligned.exit_code == 0, aligned.output
        drawn = run("plot", spelling, layers, "--device", "cpu", "-o", str(tmp_path / f"{spelling}.svg"), "--overwrite", input=pair)
        assert drawn.exit_code == 0, drawn.output
        assert f"layer:{layers.replace('-', ',') if '-' in layers else layers}/3" in drawn.stderr
