"""The Hugging Face backend against transformers' own forward pass, on tiny random models.

One tiny model per family (tests/hf_tiny.py) is built once per session. Reference values
come from transformers run on one unpadded pair at a time with ``output_attentions=True``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch

if importlib.util.find_spec("transformers") is None:
    pytest.skip("needs the hf extra (transformers)", allow_module_level=True)

from aligner.decisions import decide  # noqa: E402
from aligner.io import SentencePair  # noqa: E402
from aligner.errors import ConfigError  # noqa: E402
from aligner.backends.huggingface.backend import HFSeq2SeqBackend  # noqa: E402
from aligner.backends.huggingface.engine_backend import HuggingFaceBackend  # noqa: E402
from aligner.engine import EncodedPair, Engine  # noqa: E402
from aligner.extraction import ScoreRequest  # noqa: E402
from aligner.measures import norm_scores  # noqa: E402
from aligner.merge import merge_to_words, spans_from_counts  # noqa: E402

from .hf_tiny import CODES, FAMILY_NAMES, build, sample_lines  # noqa: E402

SENTENCEPIECE = ("marian", "m2m100", "nllb", "mbart", "mbart50")
# Measured here and asserted: max |diff| of the backend's batched weights vs one pair at a time.
WEIGHT_TOLERANCE = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """Every test here runs on one torch thread (conftest's one_torch_thread)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-models")
    return {family: build(family, root, seed=index) for index, family in enumerate(FAMILY_NAMES)}


@pytest.fixture(scope="module")
def backends(models, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf-cache") / "hashes.json"
    return {
        family: HFSeq2SeqBackend.load(path, src_lang_code=CODES[family][0], tgt_lang_code=CODES[family][1], hash_cache=cache)
        for family, path in models.items()
    }


def sample_pairs(count: int = 20) -> list[tuple[list[str], list[str]]]:
    return [(de.split(), en.split()) for de, en in zip(sample_lines("de")[:count], sample_lines("en")[:count])]


def reference(backend: HFSeq2SeqBackend, src_ids: list[int], decoder_ids: list[int]):
    """transformers' full model on one unpadded pair: (cross_attentions, encoder states)."""
    with torch.inference_mode():
        out = backend.model(
            input_ids=torch.tensor([src_ids]),
            decoder_input_ids=torch.tensor([decoder_ids]),
            output_attentions=True,
            return_dict=True,
            use_cache=False,
        )
    return out.cross_attentions, out.encoder_last_hidden_state


def encode_pairs(backend, pairs):
    return [
        EncodedPair(index, backend.encode_words(src, "source"), backend.encode_words(tgt, "target"))
        for index, (src, tgt) in enumerate(pairs)
    ]


def word_matrices(backend, pairs, layer, measure="weight", batch_size=8):
    """The engine's word matrices over the backend (0-based layer, AWO, layer level); None where a side is empty."""
    engine = Engine(HuggingFaceBackend(backend))
    request = ScoreRequest(layer, None, measure, "awo")
    encoded = [engine.encode(index, SentencePair(tuple(src), tuple(tgt))) for index, (src, tgt) in enumerate(pairs)]
    results = [None] * len(pairs)
    for batch in engine.batches([pair for pair in encoded if pair.runnable], batch_size):
        for pair, scores in zip(batch, engine.word_scores(batch, [request])):
            results[pair.index] = scores[request]
    return results


def piece_matrix(scores, backend, pair):
    """AWO rows and the source columns of one unpadded pair, read off the layout by hand.

    Decoder input ``prefix + Y``: the step whose input is the prefix's last token predicts
    y1. Source ``prefix + X + suffix``: the columns of X and the ``</s>`` after it.
    """
    first_row = len(backend.layout.decoder_prefix) - 1
    first_column = len(backend.layout.source_prefix)
    return scores[first_row : first_row + len(pair.tgt.ids), first_column : first_column + len(pair.src.ids) + 1]


def batches_of(backend, pairs, size):
    encoded = encode_pairs(backend, pairs)
    by_length = sorted(encoded, key=lambda p: len(p.src.ids) + len(p.tgt.ids))
    for start in range(0, len(by_length), size):
        group = by_length[start : start + size]
        yield group, backend.collate([(p.src, p.tgt) for p in group])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_batched_weights_match_one_pair_at_a_time(backends, family):
    backend = backends[family]
    worst = 0.0
    rows = 0
    for group, batch in batches_of(backend, sample_pairs(), 6):
        decoding = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, None, need_values=False)
        assert decoding.features is not None
        assert len(decoding.cross_attention) == backend.info.decoder_layers
        for row, pair in enumerate(group):
            src = backend.layout.source_ids(pair.src.ids)
            dec = backend.layout.decoder_ids(pair.tgt.ids)
            assert batch.src_ids[row, : len(src)].tolist() == src
            expected, _ = reference(backend, src, dec)
            for layer, internals in decoding.cross_attention.items():
                alpha = internals.alpha[row]
                assert alpha.dtype == torch.float32
                assert alpha.shape[0] == backend.info.heads
                diff = (alpha[:, : len(dec), : len(src)] - expected[layer][0].float()).abs().max().item()
                worst = max(worst, diff)
                # padding columns get no weight at all
                assert float(alpha[:, : len(dec), len(src) :].sum()) == 0.0
            rows += 1
    assert rows == 20
    assert worst <= WEIGHT_TOLERANCE, f"{family}: max |diff| {worst:.2e}"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_norms_match_float64_from_the_modules_own_weights(backends, family):
    backend = backends[family]
    layer = 1
    attention = backend.decoder_layers[layer].encoder_attn
    heads = backend.info.heads
    w_v = attention.v_proj.weight.detach().double()
    b_v = attention.v_proj.bias.detach().double()
    w_o = attention.out_proj.weight.detach().double()
    head_dim = w_v.shape[0] // heads
    for group, batch in batches_of(backend, sample_pairs(10), 4):
        decoding = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [layer], need_values=True)
        internals = decoding.cross_attention[layer]
        assert decoding.features is None
        layer_level = norm_scores(internals.alpha, internals.values.float())
        per_head = [norm_scores(internals.alpha, internals.values.float(), head) for head in range(heads)]
        for row, pair in enumerate(group):
            src = backend.layout.source_ids(pair.src.ids)
            dec = backend.layout.decoder_ids(pair.tgt.ids)
            _, encoder_states = reference(backend, src, dec)
            x = encoder_states[0].double()  # (source, dim): the cross-attention's keys and values
            alpha = internals.alpha[row, :, : len(dec), : len(src)].double()
            v = (x @ w_v.T + b_v).view(len(src), heads, head_dim)
            f = torch.stack([v[:, h] @ w_o[:, h * head_dim : (h + 1) * head_dim].T for h in range(heads)])  # (heads, source, dim)
            vectors = torch.einsum("hts,hsd->htsd", alpha, f)
            expected_layer = vectors.sum(0).norm(dim=-1)
            got = layer_level[row, : len(dec), : len(src)].double()
            np.testing.assert_allclose(got.numpy(), expected_layer.numpy(), rtol=1e-5, atol=1e-8)
            for head in range(heads):
                np.testing.assert_allclose(
                    per_head[head][row, : len(dec), : len(src)].double().numpy(),
                    vectors[head].norm(dim=-1).numpy(),
                    rtol=1e-5,
                    atol=1e-8,
                )


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_only_the_layers_asked_for_run(backends, family):
    backend = backends[family]
    calls = []
    handles = [
        layer.register_forward_pre_hook(lambda module, args, index=index: calls.append(index))
        for index, layer in enumerate(backend.decoder_layers)
    ]
    try:
        (group, batch), *_ = batches_of(backend, sample_pairs(4), 4)
        first = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [0], need_values=True)
        assert calls == [0]
        full = backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, None, need_values=True)
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(first.cross_attention[0].alpha, full.cross_attention[0].alpha)
    assert torch.equal(first.cross_attention[0].values, full.cross_attention[0].values)
    with pytest.raises(ValueError, match="0..2"):
        backend.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [3])


@pytest.mark.parametrize("family", SENTENCEPIECE)
def test_word_pieces_equal_the_sentence_level_encoding(backends, family):
    backend = backends[family]
    tokenizer = backend.tokenizer
    for src, tgt in sample_pairs():
        source = backend.encode_words(src, "source")
        target = backend.encode_words(tgt, "target")
        assert list(source.ids) == tokenizer(" ".join(src), add_special_tokens=False)["input_ids"]
        assert list(target.ids) == tokenizer(text_target=" ".join(tgt), add_special_tokens=False)["input_ids"]
        assert len(source.pieces_per_word) == len(src) and min(source.pieces_per_word) > 0
        # The whole source row is what the tokenizer itself builds, special tokens included.
        assert backend.layout.source_ids(source.ids) == tokenizer(" ".join(src))["input_ids"]


def test_fsmt_words_use_moses_and_bpe_per_word(backends):
    """FSMT: per word equals the sentence on this text; Moses context can differ (docs/huggingface.md)."""
    backend = backends["fsmt"]
    tokenizer = backend.tokenizer
    for src, tgt in sample_pairs():
        assert list(backend.encode_words(src, "source").ids) == tokenizer(" ".join(src), add_special_tokens=False)["input_ids"]
        target = backend.encode_words(tgt, "target")
        pieces = [tokenizer.decoder[i] for i in target.ids]  # the target vocabulary, not the source one
        assert "".join(pieces).replace("</w>", "") == "".join(tgt).replace("&", "&amp;")
    # The documented difference: English Moses keeps "etc." whole mid-sentence but splits
    # off the period of a lone (so: final) "etc.". A "word" with spaces shows the sentence.
    alone = [tokenizer.decoder[i] for i in backend.words.word_ids(["etc."], "target")[0]]
    sentence = [tokenizer.decoder[i] for i in backend.words.word_ids(["see etc. and"], "target")[0]]
    assert alone[-2:] == ["c</w>", ".</w>"] and "c</w>" not in sentence


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_words_emptied_by_normalization_get_no_pieces(backends, family):
    backend = backends[family]
    tokenizer = backend.tokenizer
    words = ["Das", "\u200b", "Haus", "\x07", "klein"]
    encoded = backend.encode_words(words, "source")
    if family == "mbart":
        # This tiny mBART-cc25 tokenizer (converted from a bare SentencePiece model) has no
        # normalizer: nothing is emptied, the characters become pieces as in the sentence.
        assert encoded.empty_words == 0
    else:
        assert list(encoded.pieces_per_word)[1::2] == [0, 0] and encoded.empty_words == 2
    # (A sentence ending in such a word differs: the tokenizers ports keep a final lone "▁".)
    assert min(list(encoded.pieces_per_word)[::2]) > 0
    if family != "fsmt":  # FSMT's Moses handles whitespace itself
        assert list(encoded.ids) == tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    assert list(backend.encode_words([], "target").ids) == []


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_word_matrices_and_argmax_links_match_the_reference(backends, family):
    backend = backends[family]
    pairs = sample_pairs(10) + [(["Das", "\u200b"], [])]  # an empty target: no matrix
    by_measure = {
        measure: word_matrices(backend, pairs, layer=2, measure=measure, batch_size=4) for measure in ("weight", "norm")
    }
    attention = backend.decoder_layers[2].encoder_attn
    for index, pair in enumerate(encode_pairs(backend, pairs)):
        if pair.empty:
            assert by_measure["weight"][index] is None and by_measure["norm"][index] is None
            continue
        alpha, states = reference(backend, backend.layout.source_ids(pair.src.ids), backend.layout.decoder_ids(pair.tgt.ids))
        with torch.inference_mode():
            values = backend._value_vectors(attention, attention.v_proj(states)).float()
            scores = {"weight": alpha[2][0].float().mean(0).numpy(), "norm": norm_scores(alpha[2].float(), values)[0].numpy()}
        for measure, matrices in by_measure.items():
            matrix = matrices[index]
            # language tags are never words: target words x (source words + </s>)
            assert matrix.shape == (len(pairs[index][1]), len(pairs[index][0]) + 1)
            expected = merge_to_words(
                piece_matrix(scores[measure], backend, pair),
                spans_from_counts(pair.src.pieces_per_word),
                spans_from_counts(pair.tgt.pieces_per_word),
            )
            np.testing.assert_allclose(matrix, expected, rtol=1e-4, atol=1e-6)
            # Peaked attention: each row's best column beats the runner-up by far more than
            # rounding (the measured relative differences are below 1e-6).
            ordered = np.sort(expected[:, np.isfinite(expected).all(axis=0)], axis=1)
            assert ((ordered[:, -1] - ordered[:, -2]) / ordered[:, -1]).min() > 1e-4
            ours = [(link.src, link.tgt) for link in decide(matrix, "argmax", 0.0, True)]
            theirs = [(link.src, link.tgt) for link in decide(expected, "argmax", 0.0, True)]
            assert ours == theirs


@pytest.mark.parametrize("family", ("m2m100", "nllb", "mbart", "mbart50"))
def test_decoder_prefix_is_what_the_model_is_fed(backends, family):
    backend = backends[family]
    tokenizer = backend.tokenizer
    prefix = tokenizer.convert_ids_to_tokens(list(backend.layout.decoder_prefix))
    target = CODES[family][1]
    code = f"__{target}__" if family == "m2m100" else target
    assert prefix == ([code] if family == "mbart" else ["</s>", code])
    source = tokenizer.convert_ids_to_tokens([*backend.layout.source_prefix, *backend.layout.source_suffix])
    source_code = f"__{CODES[family][0]}__" if family == "m2m100" else CODES[family][0]
    assert source == (["</s>", source_code] if family == "mbart" else [source_code, "</s>"])
    if family == "nllb":  # transformers 5 keeps the forced token in generation_config.json
        assert backend.model.generation_config.forced_bos_token_id == backend.layout.decoder_prefix[1]


def test_multilingual_models_need_known_codes(models):
    with pytest.raises(ConfigError, match="eng_Latn") as caught:
        HFSeq2SeqBackend.load(models["nllb"], src_lang_code="deu_Latn")
    assert "target language code" in str(caught.value) and "known: deu_Latn, eng_Latn, fra_Latn" in str(caught.value)
    with pytest.raises(ConfigError, match="'xx_Yyyy' is not one"):
        HFSeq2SeqBackend.load(models["nllb"], src_lang_code="xx_Yyyy", tgt_lang_code="eng_Latn")
    with pytest.raises(ConfigError, match="takes no language codes"):
        HFSeq2SeqBackend.load(models["fsmt"], tgt_lang_code="en")
    with pytest.raises(ConfigError, match="__de__"):
        HFSeq2SeqBackend.load(models["m2m100"])


def test_signature_fields_and_dtype(models, backends, tmp_path):
    info = backends["nllb"].info
    fields = info.signature_fields()
    assert fields["backend"] == "hf" and fields["model_type"] == "m2m_100" and fields["family"] == "nllb"
    assert fields["langs"] == "deu_Latn:eng_Latn" and len(fields["weights"]) == 12
    assert info.pre_norm and not backends["marian"].info.pre_norm and info.decoder_layers == 3 and info.heads == 4
    half = HFSeq2SeqBackend.load(models["marian"], dtype="bfloat16", hash_cache=tmp_path / "h.json")
    assert half.info.weights_sha256 == backends["marian"].info.weights_sha256
    (group, batch), *_ = batches_of(half, sample_pairs(3), 3)
    decoding = half.forced_decode(batch.src_ids, batch.src_mask, batch.decoder_input_ids, [1])
    assert decoding.cross_attention[1].alpha.dtype == torch.float32
    assert decoding.cross_attention[1].values.dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="dtype"):
        HFSeq2SeqBackend.load(models["marian"], dtype="int8")


def test_multi_target_marian_puts_the_target_code_first_in_the_source(tmp_path):
    directory = build("marian", tmp_path, target_codes=("en", "fr"))
    with pytest.raises(ConfigError, match="multi-target.*known: >>en<<, >>fr<<"):
        HFSeq2SeqBackend.load(directory, hash_cache=tmp_path / "h.json")
    with pytest.raises(ConfigError, match="target language code only"):
        HFSeq2SeqBackend.load(directory, src_lang_code="de", tgt_lang_code="fr", hash_cache=tmp_path / "h.json")
    backend = HFSeq2SeqBackend.load(directory, tgt_lang_code="fr", hash_cache=tmp_path / "h.json")
    assert backend.tokenizer.convert_ids_to_tokens(list(backend.layout.source_prefix)) == [">>fr<<"]
    words = "Das Haus ist klein .".split()
    source = backend.encode_words(words, "source")
    assert backend.layout.source_ids(source.ids) == backend.tokenizer(">>fr<< " + " ".join(words))["input_ids"]
    [matrix] = word_matrices(backend, [(words, "The house is small .".split())], layer=0)
    assert matrix.shape == (5, 6)  # the code's column is dropped


def test_legacy_nllb_layout_puts_the_code_after_eos(models, tmp_path):
    directory = tmp_path / "nllb-legacy"
    shutil.copytree(models["nllb"], directory)
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["legacy_behaviour"] = True
    config_path.write_text(json.dumps(config), encoding="utf-8")
    backend = HFSeq2SeqBackend.load(directory, src_lang_code="deu_Latn", tgt_lang_code="eng_Latn", hash_cache=tmp_path / "h.json")
    tokens = backend.tokenizer.convert_ids_to_tokens
    assert backend.layout.source_prefix == ()
    assert tokens(list(backend.layout.source_suffix)) == ["</s>", "deu_Latn"]
    assert tokens(list(backend.layout.decoder_prefix)) == ["</s>", "eng_Latn"]
