"""Separate source and target subword models: per-language bundles, --target-sentencepiece-model, export."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import sentencepiece

from aligner.backends.fairseq.checkpoint import CheckpointInfo
from aligner.config import AlignConfig
from aligner.errors import ConfigError
from aligner.io import SentencePair
from aligner.pipeline import Aligner, reverse_config
from aligner.backends.fairseq.resources import find_bundle, resolve_resources

from .conftest import FIXTURES, ROOT, SAMPLE
from .test_cli import SRC, TGT, run

TOY = FIXTURES["toy-deen"]
PAIR = SentencePair(("Das", "Haus", "ist", "klein", "."), ("The", "house", "is", "small", "."))


def train_sentencepiece(texts: list[Path], prefix: Path, vocab_size: int) -> Path:
    # The settings the toy model's spm.model was trained with (tests/fixtures/make_fixtures.py).
    sentencepiece.SentencePieceTrainer.train(
        input=",".join(map(str, texts)), model_prefix=str(prefix), vocab_size=vocab_size, model_type="bpe",
        character_coverage=1.0, bos_id=-1, eos_id=-1, num_threads=1, minloglevel=2,
    )
    return Path(f"{prefix}.model")


def split(model: Path, words: tuple[str, ...]) -> list[str]:
    """The pieces of lowercased words, each word segmented on its own as aligner does."""
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    return [piece for word in words for piece in processor.encode(word.lower(), out_type=str)]


def pieces(encoded, dictionary) -> list[str]:
    return [dictionary.symbols[index] for index in encoded.ids]


@pytest.fixture(scope="module")
def lowercased_sample(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("text")
    texts = {}
    for lang in ("de", "en"):
        texts[lang] = directory / f"text.{lang}"
        texts[lang].write_text((SAMPLE / f"sample.{lang}").read_text(encoding="utf-8").lower(), encoding="utf-8")
    return texts


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, lowercased_sample) -> Path:
    """A bundle directory with a German and an English model, each with its own dictionary.

    It has no checkpoint: resolving resources never opens one.
    """
    bundle = tmp_path_factory.mktemp("tiny")
    for lang, text in lowercased_sample.items():
        model = train_sentencepiece([text], bundle / f"spm.{lang}", vocab_size=60)
        counts = Counter(split(model, tuple(text.read_text(encoding="utf-8").split())))
        (bundle / f"dict.{lang}.txt").write_text("".join(f"{piece} {n}\n" for piece, n in counts.most_common()), encoding="utf-8")
    description = {"source_lang": "de", "target_lang": "en", "lowercase": True, "subword": "sentencepiece",
                   "subword_model": {"de": "spm.de.model", "en": "spm.en.model"}}
    (bundle / "aligner.json").write_text(json.dumps(description), encoding="utf-8")
    return bundle


def tiny_resources(bundle: Path, **options):
    checkpoint, description = find_bundle(bundle)
    info = CheckpointInfo(checkpoint, "0" * 64, "transformer", None, None, None)
    return resolve_resources(checkpoint, description, info, **options)


def test_each_side_is_segmented_by_its_language_model(tiny_bundle):
    resources = tiny_resources(tiny_bundle)
    src = resources.source_preprocessor.encode(PAIR.src, resources.source_dictionary)
    tgt = resources.target_preprocessor.encode(PAIR.tgt, resources.target_dictionary)
    assert pieces(src, resources.source_dictionary) == split(tiny_bundle / "spm.de.model", PAIR.src)
    assert pieces(tgt, resources.target_dictionary) == split(tiny_bundle / "spm.en.model", PAIR.tgt)
    assert src.unknown_pieces == tgt.unknown_pieces == 0  # each dictionary was made by its own model
    # The models really split differently: the joint model, and each other's.
    joint = TOY / "spm.model"
    assert split(tiny_bundle / "spm.de.model", PAIR.src) != split(joint, PAIR.src)
    assert split(tiny_bundle / "spm.en.model", PAIR.tgt) != split(joint, PAIR.tgt)
    assert split(tiny_bundle / "spm.en.model", PAIR.src) != split(tiny_bundle / "spm.de.model", PAIR.src)
    assert resources.subword == "sentencepiece-separate"


def test_swapped_languages_take_each_language_model(tiny_bundle):
    # As the reverse model of a symmetrized run sees the bundle: source en, target de.
    resources = tiny_resources(tiny_bundle, source_lang="en", target_lang="de")
    assert resources.source_preprocessor.segmenter.path == tiny_bundle / "spm.en.model"
    assert resources.target_preprocessor.segmenter.path == tiny_bundle / "spm.de.model"


def test_explicit_models_override_the_bundle_per_side(tiny_bundle):
    de, en = tiny_bundle / "spm.de.model", tiny_bundle / "spm.en.model"
    swapped = tiny_resources(tiny_bundle, data_dir=tiny_bundle, source_lang="en", target_lang="de",
                             sentencepiece_model=en, target_sentencepiece_model=de)
    assert (swapped.source_preprocessor.segmenter.path, swapped.target_preprocessor.segmenter.path) == (en, de)
    assert swapped.subword == "sentencepiece-separate"
    # One explicit model serves both sides and is loaded once: a joint setup, as before.
    english = tiny_resources(tiny_bundle, source_lang="en", target_lang="en", sentencepiece_model=en)
    assert english.source_preprocessor.segmenter is english.target_preprocessor.segmenter
    assert english.subword == "sentencepiece"


def test_reverse_config_swaps_explicit_models():
    config = AlignConfig(path=Path("fwd"), reverse_path=Path("rev"), source_lang="de", target_lang="en",
                         sentencepiece_model=Path("spm.de.model"), target_sentencepiece_model=Path("spm.en.model"))
    reverse = reverse_config(config)
    assert (reverse.path, reverse.source_lang, reverse.target_lang) == (Path("rev"), "en", "de")
    assert (reverse.sentencepiece_model, reverse.target_sentencepiece_model) == (Path("spm.en.model"), Path("spm.de.model"))
    joint = reverse_config(config.replace(target_sentencepiece_model=None))
    assert joint.sentencepiece_model == joint.target_sentencepiece_model == Path("spm.de.model")
    mixed = reverse_config(config.replace(sentencepiece_model=None, bpe_codes=Path("bpe.codes")))
    assert (mixed.sentencepiece_model, mixed.bpe_codes) == (Path("spm.en.model"), None)
    assert (mixed.target_sentencepiece_model, mixed.target_bpe_codes) == (None, Path("bpe.codes"))
    # The reverse model could not tell its target's model from the bundle's.
    with pytest.raises(ConfigError, match="give the source side's subword model"):
        reverse_config(config.replace(sentencepiece_model=None))


# --- the toy model with its joint spm.model given per language --------------------------


def per_language_toy(tmp_path: Path, english_model: Path | None = None, subword_model: dict | None = None) -> Path:
    """The toy bundle with aligner.json in the per-language form; the joint spm.model is gone."""
    bundle = tmp_path / "per-language"
    shutil.copytree(TOY, bundle)
    shutil.copy(bundle / "spm.model", bundle / "spm.de.model")
    shutil.copy(english_model or bundle / "spm.model", bundle / "spm.en.model")
    (bundle / "spm.model").unlink()
    description = json.loads((bundle / "aligner.json").read_text(encoding="utf-8"))
    description["subword_model"] = subword_model or {"de": "spm.de.model", "en": "spm.en.model"}
    (bundle / "aligner.json").write_text(json.dumps(description), encoding="utf-8")
    return bundle


def signature_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("model:"))


def test_copies_of_the_joint_model_align_identically_but_sign_as_separate(tmp_path):
    bundle = per_language_toy(tmp_path)
    joint = run("align", "--src", SRC, "--tgt", TGT, "--scores", "--device", "cpu")
    separate = run("align", "--path", str(bundle), "--src", SRC, "--tgt", TGT, "--scores", "--device", "cpu")
    assert joint.exit_code == separate.exit_code == 0, separate.stderr
    assert separate.stdout == joint.stdout and separate.stdout.count("\n") == 20
    assert "|subword:sentencepiece|" in signature_line(joint.stderr)  # the joint signature is unchanged
    expected = signature_line(joint.stderr).replace("|subword:sentencepiece|", "|subword:sentencepiece-separate|")
    assert signature_line(separate.stderr) == expected


def test_symmetrized_run_with_a_per_language_reverse_bundle(tmp_path):
    bundle = per_language_toy(tmp_path)
    joint = run("align", "--src", SRC, "--tgt", TGT, "--reverse-path", str(TOY), "-q", "--device", "cpu")
    separate = run("align", "--path", str(bundle), "--reverse-path", str(bundle), "--src", SRC, "--tgt", TGT, "-q",
                   "--device", "cpu")
    assert joint.exit_code == separate.exit_code == 0, separate.stderr
    assert separate.stdout == joint.stdout


@pytest.fixture(scope="module")
def finer_joint_model(tmp_path_factory, lowercased_sample) -> Path:
    """A BPE model with more merges than the toy's spm.model on the same text.

    Its units include all of the toy's (BPE merges only add), so it passes the check against
    the toy dictionary, yet it splits some words into pieces that dictionary lacks.
    """
    directory = tmp_path_factory.mktemp("finer")
    return train_sentencepiece(list(lowercased_sample.values()), directory / "spm300", vocab_size=300)


def test_a_different_target_model_changes_only_the_target_pieces(tmp_path, finer_joint_model):
    assert split(finer_joint_model, PAIR.tgt) != split(TOY / "spm.model", PAIR.tgt)  # e.g. house: h|ouse, not h|ou|se
    separate = Aligner(AlignConfig(path=per_language_toy(tmp_path, english_model=finer_joint_model), device="cpu"))
    joint = Aligner(AlignConfig(device="cpu"))
    by_separate, by_joint = separate.encode(0, PAIR), joint.encode(0, PAIR)
    dictionary = separate.engine.backend.resources.target_dictionary
    assert list(by_separate.src.ids) == list(by_joint.src.ids)
    assert list(by_separate.tgt.ids) == [dictionary.index(piece) for piece in split(finer_joint_model, PAIR.tgt)]
    assert list(by_separate.tgt.pieces_per_word) != list(by_joint.tgt.pieces_per_word)
    assert by_joint.tgt.unknown_pieces == 0
    assert by_separate.tgt.unknown_pieces > 0  # the finer model's longer pieces are not in the toy dictionary


def test_target_sentencepiece_model_option(tmp_path, finer_joint_model):
    result = run("align", "--src", SRC, "--tgt", TGT, "--device", "cpu", "--sentencepiece-model", str(TOY / "spm.model"),
                 "--target-sentencepiece-model", str(finer_joint_model))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 20
    assert "|subword:sentencepiece-separate|" in signature_line(result.stderr)


EXACTLY_DE_EN = "subword_model must name a model for exactly the bundle's languages de and en"


@pytest.mark.parametrize(
    "subword_model, message",
    [
        ({"de": "spm.de.model"}, f"{EXACTLY_DE_EN}: no model for en"),
        ({"de": "spm.de.model", "en": "spm.en.model", "fr": "spm.en.model"}, f"{EXACTLY_DE_EN}: unexpected fr"),
        ({"de": "spm.de.model", "en": "spm.xx.model"}, "subword_model for en: spm.xx.model not found"),
        ({"de": "spm.de.model", "en": 3}, "subword_model for en must be a file name, got 3"),
    ],
)
def test_bad_per_language_map_names_aligner_json(tmp_path, subword_model, message):
    bundle = per_language_toy(tmp_path, subword_model=subword_model)
    result = run("align", "--path", str(bundle), input="das ||| the\n")
    assert result.exit_code == 1
    assert f"aligner: error: {bundle / 'aligner.json'}: {message}" in result.stderr, result.stderr


def test_language_outside_the_map_names_aligner_json(tmp_path):
    bundle = per_language_toy(tmp_path)
    shutil.copy(bundle / "dict.en.txt", bundle / "dict.fr.txt")
    result = run("align", "--path", str(bundle), "-s", "de", "-t", "fr", input="das ||| the\n")
    assert result.exit_code == 1
    assert f"{bundle / 'aligner.json'}: subword_model has no model for language 'fr' (it has de, en)" in result.stderr, result.stderr


# --- eval/export_bundle.py -----------------------------------------------------------------


def export_bundle(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["export_bundle.py", *args])
    runpy.run_path(str(ROOT / "eval" / "export_bundle.py"), run_name="__main__")


def test_export_bundle_with_one_model_per_language(tmp_path, monkeypatch, finer_joint_model):
    out = tmp_path / "exported"
    export_bundle(monkeypatch, str(TOY / "model.pt"), str(out), "--data-dir", str(TOY), "--name", "toy-separate", "--fp32",
                  "--spm-src", str(TOY / "spm.model"), "--spm-tgt", str(finer_joint_model))
    description = json.loads((out / "aligner.json").read_text(encoding="utf-8"))
    assert description["subword_model"] == {"de": "spm.de.model", "en": "spm.en.model"}
    assert (out / "spm.de.model").read_bytes() == (TOY / "spm.model").read_bytes()
    assert (out / "spm.en.model").read_bytes() == finer_joint_model.read_bytes()
    assert not (out / "spm.model").exists()
    aligner = Aligner(AlignConfig(path=out, device="cpu"))
    assert aligner.engine.backend.resources.target_preprocessor.segmenter.path == out / "spm.en.model"
    assert "|subword:sentencepiece-separate|" in str(aligner.signature)


def test_export_bundle_takes_joint_or_separate_models_not_both(tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as refused:
        export_bundle(monkeypatch, str(TOY / "model.pt"), str(tmp_path / "out"), "--data-dir", str(TOY), "--name", "x",
                      "--spm", str(TOY / "spm.model"), "--spm-tgt", str(TOY / "spm.model"))
    assert refused.value.code == 2 and not (tmp_path / "out").exists()


def toy_preset(signature: str) -> dict:
    return {"format": "aligner-preset/1", "name": "dev.forward", "settings": {"layers": [2], "measure": "norm", "step": "awo"},
            "chosen_on": "deen_bicici100 (100 pairs)", "dev_aer": 0.5, "model_signature": signature, "version": "0.1.0"}


@pytest.fixture
def exported_with_preset(tmp_path, monkeypatch):
    """TOY exported from its model.pt (standing in for the float32 checkpoint) with a first preset."""
    preset = tmp_path / "first.preset.json"
    preset.write_text(json.dumps(toy_preset(str(Aligner(AlignConfig(path=TOY, device="cpu")).signature))))
    out = tmp_path / "toy-x"
    export_bundle(monkeypatch, str(TOY / "model.pt"), str(out), "--data-dir", str(TOY), "--name", "toy-x",
                  "--spm", str(TOY / "spm.model"), "--preset", str(preset))
    return out


def test_export_bundle_copies_a_preset_chosen_on_this_checkpoint(exported_with_preset):
    out = exported_with_preset
    copied = json.loads((out / "dev-preset.json").read_text(encoding="utf-8"))
    assert copied["name"] == "toy-x-dev" and copied["settings"] == toy_preset("")["settings"]
    assert copied["chosen_on"].startswith("deen_bicici100 (100 pairs), by eval/deen_best.py on model.pt")
    result = run("align", "--path", str(out), "--preset", str(out / "dev-preset.json"), "--device", "cpu", input="das haus ||| the house\n")
    assert result.exit_code == 0, result.output
    assert "|preset:toy-x-dev|" in result.stderr


def test_export_bundle_refuses_a_preset_of_another_checkpoint(tmp_path, monkeypatch):
    preset = tmp_path / "stale.preset.json"
    preset.write_text(json.dumps(toy_preset("model:checkpoint_3_2500@1ec81af3|layer:2/3")))
    with pytest.raises(SystemExit) as refused:
        export_bundle(monkeypatch, str(TOY / "model.pt"), str(tmp_path / "out"), "--data-dir", str(TOY), "--name", "x",
                      "--spm", str(TOY / "spm.model"), "--preset", str(preset))
    assert "chosen on model:checkpoint_3_2500@1ec81af3, not on" in str(refused.value.code)
    assert not (tmp_path / "out").exists()


# --- eval/restamp_preset.py --preset: a newly chosen preset into a bundle, weights untouched ---


def restamp_preset(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["restamp_preset.py", *args])
    runpy.run_path(str(ROOT / "eval" / "restamp_preset.py"), run_name="__main__")


def chosen_again(tmp_path, signature: str) -> Path:
    preset = toy_preset(signature)
    preset["settings"] = {**preset["settings"], "decision": "argmax-grow-diag", "final_punct": True}
    path = tmp_path / "again.preset.json"
    path.write_text(json.dumps(preset))
    return path


def test_restamp_installs_a_preset_chosen_again_on_the_source_checkpoint(tmp_path, monkeypatch, exported_with_preset):
    weights = (exported_with_preset / "model.pt").read_bytes()
    first = json.loads((exported_with_preset / "dev-preset.json").read_text(encoding="utf-8"))
    again = chosen_again(tmp_path, str(Aligner(AlignConfig(path=TOY, device="cpu")).signature))
    restamp_preset(monkeypatch, str(exported_with_preset), "--preset", str(again), "--checkpoint", str(TOY / "model.pt"))
    installed = json.loads((exported_with_preset / "dev-preset.json").read_text(encoding="utf-8"))
    assert installed["settings"]["decision"] == "argmax-grow-diag" and installed["name"] == "toy-x-dev"
    assert installed["model_sha256"] == first["model_sha256"] and installed["source_checkpoint"] == first["source_checkpoint"]
    assert (exported_with_preset / "model.pt").read_bytes() == weights
    result = run("align", "--path", str(exported_with_preset), "--device", "cpu", input="das haus . ||| the house .\n")
    assert result.exit_code == 0, result.output
    assert "|decision:argmax-grow-diag|" in result.stderr and "|preset:toy-x-dev|" in result.stderr


def test_restamp_installs_a_preset_chosen_on_the_bundle_itself(tmp_path, monkeypatch, exported_with_preset):
    again = chosen_again(tmp_path, str(Aligner(AlignConfig(path=exported_with_preset, device="cpu")).signature))
    restamp_preset(monkeypatch, str(exported_with_preset), "--preset", str(again))
    installed = json.loads((exported_with_preset / "dev-preset.json").read_text(encoding="utf-8"))
    assert installed["settings"]["decision"] == "argmax-grow-diag"
    assert installed["chosen_on"].endswith("on this bundle's own weights")


def test_restamp_refuses_a_preset_chosen_on_other_weights(tmp_path, monkeypatch, exported_with_preset):
    before = (exported_with_preset / "dev-preset.json").read_bytes()
    again = chosen_again(tmp_path, "model:checkpoint_3_2500@1ec81af3|layer:2/3")
    with pytest.raises(SystemExit) as refused:
        restamp_preset(monkeypatch, str(exported_with_preset), "--preset", str(again), "--checkpoint", str(TOY / "model.pt"))
    assert "chosen on model:checkpoint_3_2500@1ec81af3, not on" in str(refused.value.code)
    with pytest.raises(SystemExit) as refused:
        restamp_preset(monkeypatch, str(exported_with_preset), "--preset", str(again))
    assert "not on" in str(refused.value.code)
    assert (exported_with_preset / "dev-preset.json").read_bytes() == before
