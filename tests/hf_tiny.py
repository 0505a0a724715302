"""Tiny Hugging Face translation models with random weights, for the backend's tests.

Tokenizers are trained on data/sample (20 German-English pairs) and every model is written
with ``save_pretrained``, as a real model directory would be, then loaded back by the
backend. Cross-attention q/k weights are scaled up so that attention is peaked: argmax
links then do not hinge on rounding.
"""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import torch

from aligner.backends.huggingface.backend import import_transformers

from .conftest import SAMPLE

import_transformers()  # before any transformers import here (it hides a broken torchaudio)

FAMILY_NAMES = ("marian", "fsmt", "m2m100", "nllb", "mbart", "mbart50")
# Language codes each tiny model is loaded with (None: the model takes none).
CODES = {
    "marian": (None, None),
    "fsmt": (None, None),
    "m2m100": ("de", "en"),
    "nllb": ("deu_Latn", "eng_Latn"),
    "mbart": ("de_DE", "en_XX"),
    "mbart50": ("de_DE", "en_XX"),
}
SIZES = dict(d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128, dropout=0.0, attention_dropout=0.0)


def sample_lines(lang: str) -> list[str]:
    return (SAMPLE / f"sample.{lang}").read_text(encoding="utf-8").splitlines()


def train_sentencepiece(prefix: Path, lines: list[str], vocab_size: int = 150, model_type: str = "bpe") -> Path:
    import sentencepiece

    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(prefix), vocab_size=vocab_size, model_type=model_type,
        hard_vocab_limit=False, bos_id=0, pad_id=1, eos_id=2, unk_id=3, minloglevel=2,
    )
    return prefix.with_suffix(".model")


def learn_bpe(lines: list[str], merges: int = 80) -> list[tuple[str, str]]:
    """A few BPE merges in FSMT's (XLM) format: the last symbol of a word ends in ``</w>``."""
    words = collections.Counter(word for line in lines for word in line.split())
    vocab = {tuple(word[:-1]) + (word[-1] + "</w>",): count for word, count in words.items()}
    learned = []
    for _ in range(merges):
        pairs: collections.Counter = collections.Counter()
        for symbols, count in vocab.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda pair: (pairs[pair], pair))
        learned.append(best)
        merged = {}
        for symbols, count in vocab.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = count
        vocab = merged
    return learned


def peaked(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.base_model.decoder.layers:
            for projection in (layer.encoder_attn.q_proj, layer.encoder_attn.k_proj):
                projection.weight.copy_(torch.randn(projection.weight.shape, generator=generator) * 0.4)


def _tokenizer(family: str, work: Path, target_codes: tuple[str, ...] = ()):
    from transformers import M2M100Tokenizer, MarianTokenizer, MBart50Tokenizer, MBartTokenizer, NllbTokenizer, FSMTTokenizer

    de, en = sample_lines("de"), sample_lines("en")
    if family == "marian":
        source = train_sentencepiece(work / "source", de, 90)
        target = train_sentencepiece(work / "target", en, 90)
        import sentencepiece

        pieces = ["</s>", "<unk>"]
        for path in (source, target):
            processor = sentencepiece.SentencePieceProcessor(model_file=str(path))
            pieces += [processor.id_to_piece(i) for i in range(4, processor.get_piece_size())]
        # A multi-target model's vocabulary holds its >>xx<< target-language tokens.
        pieces += [f">>{code}<<" for code in target_codes] + ["<pad>"]
        vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
        (work / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        return MarianTokenizer(str(source), str(target), str(work / "vocab.json"), source_lang="de", target_lang="en")
    if family == "fsmt":
        merges = learn_bpe(de + en)
        symbols = {c for line in de + en for word in line.split() for c in word[:-1]}
        symbols |= {word[-1] + "</w>" for line in de + en for word in line.split()}
        symbols |= {c + "</w>" for c in list(symbols) if not c.endswith("</w>")}
        symbols |= {a + b for a, b in merges}
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        ordered = sorted(symbols)
        src_vocab = {piece: index for index, piece in enumerate(specials + ordered)}
        # The target vocabulary in another order, so that mixing up the two shows.
        tgt_vocab = {piece: index for index, piece in enumerate(specials + ordered[::-1])}
        (work / "vocab-src.json").write_text(json.dumps(src_vocab), encoding="utf-8")
        (work / "vocab-tgt.json").write_text(json.dumps(tgt_vocab), encoding="utf-8")
        (work / "merges.txt").write_text("".join(f"{a} {b} 1\n" for a, b in merges), encoding="utf-8")
        return FSMTTokenizer(["de", "en"], str(work / "vocab-src.json"), str(work / "vocab-tgt.json"), str(work / "merges.txt"))
    # NLLB's and M2M100's models are BPE; mBART's "sentencepiece.bpe.model" is in fact a unigram model.
    spm = train_sentencepiece(work / "spm", de + en, model_type="unigram" if family.startswith("mbart") else "bpe")
    if family == "m2m100":
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor(model_file=str(spm))
        for i in range(4, processor.get_piece_size()):
            vocab[processor.id_to_piece(i)] = len(vocab)
        (work / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        return M2M100Tokenizer(str(work / "vocab.json"), str(spm), language_codes="wmt21", src_lang="de", tgt_lang="en")
    shutil.copy(spm, work / "sentencepiece.bpe.model")
    if family == "nllb":
        return NllbTokenizer.from_pretrained(
            str(work), src_lang="deu_Latn", tgt_lang="eng_Latn", extra_special_tokens=["deu_Latn", "eng_Latn", "fra_Latn"]
        )
    if family == "mbart":
        return MBartTokenizer.from_pretrained(str(work), src_lang="de_DE", tgt_lang="en_XX")
    return MBart50Tokenizer.from_pretrained(str(work), src_lang="de_DE", tgt_lang="en_XX")


def build(family: str, root: Path, seed: int = 0, target_codes: tuple[str, ...] = ()) -> Path:
    """Write a tiny ``family`` model directory under ``root`` and return it.

    ``target_codes`` (Marian only) makes a multi-target model with those ``>>xx<<`` tokens.
    """
    from transformers import (FSMTConfig, FSMTForConditionalGeneration, M2M100Config, M2M100ForConditionalGeneration,
                              MarianConfig, MarianMTModel, MBartConfig, MBartForConditionalGeneration)

    name = "-".join((family, *target_codes))
    work = root / f"{name}-work"
    out = root / name
    work.mkdir(parents=True)
    tokenizer = _tokenizer(family, work, target_codes)
    # M2M100's language tokens (and its 8 "madeup" words) lie past len(tokenizer).
    size = max([len(tokenizer), *(i + 9 for i in getattr(tokenizer, "lang_token_to_id", {}).values())])
    torch.manual_seed(seed)
    if family == "marian":
        pad = tokenizer.pad_token_id
        config = MarianConfig(vocab_size=size, decoder_vocab_size=size, pad_token_id=pad, eos_token_id=0,
                              decoder_start_token_id=pad, forced_eos_token_id=0, **SIZES)
        model = MarianMTModel(config)
    elif family == "fsmt":
        sizes = {k: v for k, v in SIZES.items() if k != "dropout"}
        config = FSMTConfig(langs=["de", "en"], src_vocab_size=len(tokenizer.encoder), tgt_vocab_size=len(tokenizer.decoder),
                            dropout=0.0, **sizes)
        model = FSMTForConditionalGeneration(config)
    elif family in ("m2m100", "nllb"):
        config = M2M100Config(vocab_size=size, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, **SIZES)
        model = M2M100ForConditionalGeneration(config)
        if family == "nllb":  # as transformers 5 writes it: the forced token lives in generation_config.json
            model.generation_config.forced_bos_token_id = tokenizer.convert_tokens_to_ids("eng_Latn")
    else:
        start = 2 if family == "mbart50" else None
        config = MBartConfig(
            vocab_size=size, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=start, **SIZES
        )
        model = MBartForConditionalGeneration(config)
    peaked(model, seed + 1)
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
