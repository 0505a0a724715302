"""Hugging Face models through the one engine: ``aligner align/sweep --path DIR``, the Python API, symmetrization.

Tiny random models (tests/hf_tiny.py) are built once for this module. Expected links are
computed here from transformers' full model run on one unpadded pair at a time
(``output_attentions=True``) and a float64 norm from the modules' own weights, so they do
not come from aligner's batching, cropping or measures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil

import pytest
import torch

if importlib.util.find_spec("transformers") is None:
    pytest.skip("needs the hf extra (transformers)", allow_module_level=True)

os.environ["HF_HUB_OFFLINE"] = "1"

from click.testing import CliRunner  # noqa: E402

from aligner.backends import model_kind  # noqa: E402
from aligner.choices import DTYPES  # noqa: E402
from aligner.backends.huggingface.backend import HFSeq2SeqBackend  # noqa: E402
from aligner.cli import main  # noqa: E402
from aligner.config import AlignConfig  # noqa: E402
from aligner.decisions import decide  # noqa: E402
from aligner.evaluation.sweep import run_sweep  # noqa: E402
from aligner.io import SentencePair, read_gold, read_parallel  # noqa: E402
from aligner.merge import merge_to_words, spans_from_counts  # noqa: E402
from aligner.pipeline import Aligner  # noqa: E402

from .conftest import FIXTURES, SAMPLE  # noqa: E402
from .hf_tiny import CODES, build, sample_lines  # noqa: E402

SRC, TGT, GOLD = (str(SAMPLE / f"sample.{suffix}") for suffix in ("de", "en", "talp"))
CPU = ["--device", "cpu", "--threads", "1"]
AGREEMENT_HALF = 0.95  # shared links / all links, bf16 or fp16 vs float32 on the peaked tiny Marian (measured here: 133/133 each)


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """Every test here runs on one torch thread (conftest's one_torch_thread)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-cli-models")
    return {family: build(family, root, seed=index) for index, family in enumerate(("marian", "nllb"))}


def code_options(family: str, reverse: bool = False) -> list[str]:
    src, tgt = CODES[family]
    if src is None:
        return []
    if reverse:
        src, tgt = tgt, src
    return ["--src-lang-code", src, "--tgt-lang-code", tgt]


def run(*args: str) -> "CliRunner.invoke":
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    return result


def expected_links(directory, family: str, src_lines, tgt_lines, layer: int, reverse: bool = False) -> list[str]:
    """AWI, layer-level norm, sum/mean merges, argmax with </s> as "no link": from transformers and float64."""
    src_code, tgt_code = CODES[family]
    if reverse:
        src_code, tgt_code = tgt_code, src_code
    backend = HFSeq2SeqBackend.load(directory, src_lang_code=src_code, tgt_lang_code=tgt_code)
    attention = backend.decoder_layers[layer].encoder_attn
    heads = backend.info.heads
    w_v, b_v = attention.v_proj.weight.double(), attention.v_proj.bias.double()
    w_o = attention.out_proj.weight.double()
    head_dim = w_v.shape[0] // heads
    layout = backend.layout
    lines = []
    for src_line, tgt_line in zip(src_lines, tgt_lines):
        src_words, tgt_words = src_line.split(), tgt_line.split()
        src, tgt = backend.encode_words(src_words, "source"), backend.encode_words(tgt_words, "target")
        with torch.inference_mode():
            out = backend.model(
                input_ids=torch.tensor([layout.source_ids(src.ids)]),
                decoder_input_ids=torch.tensor([layout.decoder_ids(tgt.ids)]),
                output_attentions=True, return_dict=True, use_cache=False,
            )
            alpha = out.cross_attentions[layer][0].double()  # heads, steps, source
            v = out.encoder_last_hidden_state[0].double() @ w_v.T + b_v  # source, heads*head_dim
            summed = sum(
                alpha[h].unsqueeze(-1) * (v[:, h * head_dim : (h + 1) * head_dim] @ w_o[:, h * head_dim : (h + 1) * head_dim].T)
                for h in range(heads)
            )
            norms = torch.linalg.vector_norm(summed, dim=-1).numpy()
        first_row, first_column = len(layout.decoder_prefix), len(layout.source_prefix)  # AWI: y1 is the input
        pieces = norms[first_row : first_row + len(tgt.ids), first_column : first_column + len(src.ids) + 1]
        matrix = merge_to_words(pieces, spans_from_counts(src.pieces_per_word), spans_from_counts(tgt.pieces_per_word))
        links = decide(matrix, "argmax", 0.0, True)
        lines.append(" ".join(f"{link.src}-{link.tgt}" for link in sorted(links, key=lambda link: (link.src, link.tgt))))
    return lines


def sorted_lines(path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        links = sorted((tuple(map(int, link.split("-"))) for link in line.split()))
        out.append(" ".join(f"{s}-{t}" for s, t in links))
    return out


def test_a_config_json_directory_is_a_hugging_face_model(models, tmp_path):
    assert model_kind(models["marian"]) == "huggingface"
    assert model_kind(FIXTURES["toy-deen"]) == "fairseq" and model_kind(None) == "fairseq"
    assert model_kind(tmp_path / "model.pt") == "fairseq"  # a missing checkpoint stays fairseq's error
    from pathlib import Path

    assert model_kind(Path("Helsinki-NLP/opus-mt-de-en")) == "huggingface"


@pytest.mark.parametrize("family", ("marian", "nllb"))
def test_align_cli_matches_transformers_one_pair_at_a_time(models, family, tmp_path):
    output = tmp_path / "out.align"
    result = run("align", "--path", models[family], *code_options(family), "--src", SRC, "--tgt", TGT, "-o", output,
                 "--batch-size", 6, "--layer", 2, *CPU)
    assert result.exit_code == 0, result.output
    assert f"model:hf-{'marian' if family == 'marian' else 'm2m_100'}:{family}" in result.output
    expected = expected_links(models[family], family, sample_lines("de"), sample_lines("en"), layer=1)
    assert len(expected) == 20 and sorted_lines(output) == expected


def test_sweep_cli_rows_agree_with_align_and_score(models, tmp_path):
    directory = models["nllb"]
    prefix = tmp_path / "sweep"
    result = run("sweep", "--path", directory, *code_options("nllb"), "--src", SRC, "--tgt", TGT, "--gold", GOLD,
                 "-o", prefix, *CPU)
    assert result.exit_code == 0, result.output
    rows = json.loads(prefix.with_suffix(".json").read_text(encoding="utf-8"))["rows"]
    # 3 layers x 2 steps x (4 heads x {weight, norm} + layer level: weight, norm and the four
    # residual measures, each scored with the residual dropped and as null)
    assert len(rows) == 3 * 2 * (4 * 2 + 2 + 4 * 2)
    [row] = [r for r in rows if r["layer"] == 3 and r["head"] == 2 and r["measure"] == "weight" and r["step"] == "awo"]
    output = tmp_path / "head.align"
    aligned = run("align", "--path", directory, *code_options("nllb"), "--src", SRC, "--tgt", TGT, "-o", output,
                  "--layer", 3, "--head", 2, "--measure", "weight", "--step", "awo", *CPU)
    assert aligned.exit_code == 0, aligned.output
    scored = run("score", "--gold", GOLD, "--hyp", output, "--json")
    assert json.loads(scored.stdout)["aer_percent"] == pytest.approx(100 * row["aer"], abs=1e-10)  # score states percent, the sweep file fractions


def test_sweep_select_writes_a_preset_that_align_applies(models, tmp_path):
    directory = models["marian"]
    prefix = tmp_path / "chosen"
    result = run("sweep", "--path", directory, "--src", SRC, "--tgt", TGT, "--gold", GOLD, "--select", "--dev", 8, "--measures", "weight,norm", "-o", prefix, *CPU)
    assert result.exit_code == 0, result.output
    preset_path = prefix.with_suffix(".preset.json")
    preset = json.loads(preset_path.read_text(encoding="utf-8"))
    aligned = run("align", "--path", directory, "--preset", preset_path, "--src", SRC, "--tgt", TGT, "-o", tmp_path / "p.align", *CPU)
    assert aligned.exit_code == 0, aligned.output
    assert "preset:chosen" in aligned.output
    settings = preset["settings"]
    assert f"measure:{settings['measure']}|step:{settings['step']}" in aligned.output


def test_plot_draws_a_hugging_face_model(models, tmp_path):
    image = tmp_path / "pair.png"
    result = run("plot", "--path", models["nllb"], *code_options("nllb"), "--src", SRC, "--tgt", TGT, "--lines", 2, "-o", image, "--layer", "1,3", *CPU)
    assert result.exit_code == 0, result.output
    assert image.stat().st_size > 0 and "model:hf-m2m_100:nllb[deu_Latn>eng_Latn]@" in result.output


def test_one_forward_pass_per_batch_for_align_and_sweep(models):
    aligner = Aligner(AlignConfig(path=models["nllb"], src_lang_code="deu_Latn", tgt_lang_code="eng_Latn",
                                  batch_size=6, device="cpu", layers=(1, 3), measure="norm"))
    backend = aligner.engine.backend
    pairs = [SentencePair(tuple(de.split()), tuple(en.split())) for de, en in zip(sample_lines("de"), sample_lines("en"))]
    batches = len(aligner.batches([aligner.encode(index, pair) for index, pair in enumerate(pairs)]))
    assert batches == 4
    list(aligner.align(pairs))
    assert backend.forward_calls == batches
    run_sweep(aligner, read_parallel(SRC, TGT), read_gold(GOLD, True, False), per_head=True)  # 60 requests
    assert backend.forward_calls == 2 * batches


def test_a_multilingual_model_without_codes_is_refused_with_the_codes_it_knows(models, tmp_path):
    result = run("align", "--path", models["nllb"], "--src", SRC, "--tgt", TGT, *CPU)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "needs the source and target language code(s)" in result.output
    assert "known: deu_Latn, eng_Latn, fra_Latn" in result.output and "config.json" in result.output
    result = run("align", "--path", models["marian"], "--tgt-lang-code", "fr", "--src", SRC, "--tgt", TGT, *CPU)
    assert result.exit_code == 1 and "takes no language codes" in result.output


def test_a_sentence_longer_than_the_positions_is_refused_with_its_file_and_line(models, tmp_path):
    directory = tmp_path / "nllb-short"
    shutil.copytree(models["nllb"], directory)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["max_position_embeddings"] = 10  # the sinusoidal positions are not stored: the model still loads
    config_path.write_text(json.dumps(config), encoding="utf-8")
    tokenizer = HFSeq2SeqBackend.load(models["nllb"], src_lang_code="deu_Latn", tgt_lang_code="eng_Latn").tokenizer
    # The tokenizer's own rows: [deu_Latn] X </s> and [eng_Latn] Y </s> (the decoder gets </s> [eng_Latn] Y).
    too_long = [
        (number, side)
        for number, (de, en) in enumerate(zip(sample_lines("de"), sample_lines("en")), start=1)
        for side, length in (("de", len(tokenizer(de)["input_ids"])), ("en", len(tokenizer(text_target=en)["input_ids"])))
        if length > 10
    ]
    assert too_long
    number, side = too_long[0]
    result = run("align", "--path", directory, *code_options("nllb"), "--src", SRC, "--tgt", TGT, *CPU)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"sample.{side}:{number}: " in result.output and "plus 2 special tokens, more than the model's 10 positions" in result.output
    skipped = run("align", "--path", directory, *code_options("nllb"), "--src", SRC, "--tgt", TGT, "--skip-long", "-q", *CPU)
    assert skipped.exit_code == 0 and skipped.stdout.splitlines()[number - 1] == ""


def transposed(lines: list[str]) -> str:
    """Reverse-direction links (source = the forward target) in forward order, one line each."""
    out = []
    for line in lines:
        out.append(" ".join(f"{t}-{s}" for s, t in (map(int, link.split("-")) for link in line.split())))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("forward,reverse", [("nllb", "nllb"), ("fairseq", "nllb"), ("nllb", "fairseq")])
def test_symmetrized_with_hugging_face_models_equals_two_runs_and_symmetrize(models, forward, reverse, tmp_path):
    """--reverse-path with an HF model on either side (or both) = forward run + reverse run + `aligner symmetrize`."""
    paths = {"nllb": models["nllb"], "fairseq": FIXTURES["toy-deen"]}
    common = ["--no-preset", "--layer", "2", *CPU]
    both = tmp_path / "both.align"
    result = run("align", "--path", paths[forward], "--reverse-path", paths[reverse], *code_options("nllb"), "--src", SRC, "--tgt", TGT,
                 "-o", both, "--symmetrize", "grow-diag-final-and", *common)
    assert result.exit_code == 0, result.output
    reverse_name = "hf-m2m_100:nllb[eng_Latn>deu_Latn]@" if reverse == "nllb" else "+toy-deen@"
    assert "symmetrize:grow-diag-final-and" in result.output and reverse_name in result.output
    forward_out, reverse_out = tmp_path / "forward.align", tmp_path / "reverse.align"
    assert run("align", "--path", paths[forward], *code_options("nllb"), "--src", SRC, "--tgt", TGT, "-o", forward_out, *common).exit_code == 0
    reverse_languages = code_options("nllb", reverse=True) if reverse == "nllb" else ["-s", "en", "-t", "de"]
    reverse_run = run("align", "--path", paths[reverse], *reverse_languages, "--src", TGT, "--tgt", SRC, "-o", reverse_out, *common)
    assert reverse_run.exit_code == 0, reverse_run.output
    flipped = tmp_path / "reverse.flipped"
    flipped.write_text(transposed(reverse_out.read_text(encoding="utf-8").splitlines()), encoding="utf-8")
    combined = run("symmetrize", "--forward", forward_out, "--reverse", flipped, "--method", "grow-diag-final-and")
    assert combined.exit_code == 0
    expected = [" ".join(sorted(line.split())) for line in combined.stdout.splitlines()]
    assert [" ".join(sorted(line.split())) for line in both.read_text(encoding="utf-8").splitlines()] == expected
    assert any(expected)


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_half_precision_run_is_named_and_mostly_agrees_with_float32(models, tmp_path, half):
    outputs = {}
    for dtype in ("float32", half):
        outputs[dtype] = tmp_path / f"{dtype}.align"
        result = run("align", "--path", models["marian"], "--src", SRC, "--tgt", TGT, "-o", outputs[dtype], "--dtype", dtype, *CPU)
        assert result.exit_code == 0, result.output
        assert f"dtype:{DTYPES[dtype]}" in result.output
    links = {dtype: [set(line.split()) for line in path.read_text(encoding="utf-8").splitlines()] for dtype, path in outputs.items()}
    assert len(links[half]) == 20
    same = sum(len(a & b) for a, b in zip(links["float32"], links[half]))
    total = sum(len(a | b) for a, b in zip(links["float32"], links[half]))
    assert same / total >= AGREEMENT_HALF, same / total


def test_an_interrupted_run_resumes_to_the_same_bytes(models, tmp_path):
    from aligner.runner.corpus import align_corpus

    config = AlignConfig(path=models["nllb"], src_lang_code="deu_Latn", tgt_lang_code="eng_Latn", device="cpu", chunk_size=6, batch_size=4)
    reference, cut = tmp_path / "reference.align", tmp_path / "cut.align"
    align_corpus(config, [SRC, TGT], str(reference), scores=True)
    lines = reference.read_text(encoding="utf-8").splitlines(keepends=True)
    # As a killed run leaves it: two whole chunks and part of a line of the third.
    cut.write_text("".join(lines[:12]) + lines[12][:3], encoding="utf-8")
    shutil.copy(tmp_path / "reference.align.manifest.json", tmp_path / "cut.align.manifest.json")
    resumed = align_corpus(config, [SRC, TGT], str(cut), resume=True, scores=True)
    assert resumed.resumed_at == 12 and cut.read_bytes() == reference.read_bytes()


def test_two_torchrun_processes_equal_one_process(models, tmp_path):
    import subprocess
    import sys

    from aligner.runner.corpus import align_corpus

    from .conftest import ROOT

    align_corpus(AlignConfig(path=models["marian"], device="cpu", chunk_size=5), [SRC, TGT], str(tmp_path / "one"), scores=True)
    command = ["-m", "aligner", "align", "--path", str(models["marian"]), "--src", SRC, "--tgt", TGT, "--chunk-size", "5",
               "--device", "cpu", "--scores", "-q", "-o", str(tmp_path / "two")]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", *command],
                         cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "two").read_bytes() == (tmp_path / "one").read_bytes()
