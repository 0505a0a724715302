#!/usr/bin/env python3
"""Build the German-English training corpus for the fairseq models `aligner` is evaluated on.

Pipeline (each step is timed; timings go to stdout and to <out>/prep.json):

  1. load      read ALIGNER_DATA/train/deen: multi30k (train+val+test_2016_flickr), tatoeba50k,
               more/all.{de,en} with more/all.origin (plus any --extra PREFIX.{de,en} corpora)
  2. select    drop IWSLT TED lines (CC BY-NC-ND: a shipped model must be redistributable),
               hold out WMT newstest2014 as the BLEU test set
  3. tokenize  clean_text() (cp1252 mojibake, invisible characters), then sacremoses MosesTokenizer(lang).tokenize(escape=False), then lowercase: the same
               preprocessing as the gold alignment sets (Moses-tokenized, lowercased)
  4. filter    dedup pairs; drop pairs that share a side with a gold alignment set or with the
               held-out test set; drop empty / over-long / badly length-mismatched pairs
  5. split     1,500 validation pairs drawn with a fixed seed
  6. spm       one joint SentencePiece BPE model (8k) on the training text of both languages
               (--bundle DIR: the bundle's own SentencePiece model instead, never retrained)
  7. encode    SentencePiece pieces for train / valid / test
  8. binarize  fairseq-preprocess --joined-dictionary into <out>/bin (--bundle DIR: with the
               bundle's dict.{de,en}.txt, so a warm start sees exactly the vocabulary it was trained on)

Output layout under --out (default ~/.cache/aligner/train/deen):
  raw/test.{de,en}          newstest2014 as shipped (references for sacreBLEU)
  tok/{train,valid,test}.{de,en}   Moses-tokenized + lowercased text
  tok/{train,valid}.origin  which source file each pair came from (for the model card)
  spm/spm.model, spm.vocab  (spm/spm.{de,en}.model with --spm-separate)
  spm_enc/{train,valid,test}.{de,en}
  bin/                      fairseq binarized data + dict.{de,en}.txt
  prep.json                 settings, sizes and counts of this run
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

LANGS = ("de", "en")
EXCLUDE_PREFIXES = ("deen_iwslt14_ted",)       # CC BY-NC-ND 3.0: not redistributable in a model
TEST_ORIGIN = "deen_wmt_newstest/newstest2014"  # the customary WMT de-en test set
_WS = re.compile(r"\s+")

STEP_TIMES: dict[str, float] = {}


class timed:
    """Context manager that prints and records the wall time of one pipeline step."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        print(f"[{self.name}] ...", flush=True)
        self.t0 = time.time()
        return self

    def __exit__(self, *exc):
        STEP_TIMES[self.name] = round(time.time() - self.t0, 2)
        print(f"[{self.name}] done in {STEP_TIMES[self.name]:.1f} s", flush=True)


# ---------------------------------------------------------------- reading

def read_lines(path: Path) -> list[str]:
    """Read a text file as lines. newline='' plus explicit stripping handles the CRLF of
    tatoeba.de and a UTF-8 BOM; splitting on '\\n' only (not str.splitlines) keeps U+2028 and
    friends inside a line so parallel files stay line-aligned."""
    text = path.read_text(encoding="utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def read_pair(prefix: Path, origin: str) -> list[tuple[str, str, str]]:
    """Read PREFIX.de / PREFIX.en as (de, en, origin) triples; refuse misaligned files."""
    de = read_lines(prefix.with_name(prefix.name + ".de"))
    en = read_lines(prefix.with_name(prefix.name + ".en"))
    if len(de) != len(en):
        sys.exit(f"error: {prefix}.de has {len(de)} lines but {prefix}.en has {len(en)}")
    return [(d, e, origin) for d, e in zip(de, en)]


def load_corpora(data: Path, extra: list[Path], use_default: bool) -> list[tuple[str, str, str]]:
    """All candidate pairs with their origin label."""
    pairs: list[tuple[str, str, str]] = []
    if use_default:
        root = data / "train" / "deen"
        for split in ("train", "val", "test_2016_flickr"):
            pairs += read_pair(root / "multi30k" / split, f"deen_multi30k/{split}")
        pairs += read_pair(root / "tatoeba50k" / "tatoeba", "deen_tatoeba50k/tatoeba")
        more = read_pair(root / "more" / "all", "")
        origins = read_lines(root / "more" / "all.origin")
        if len(origins) != len(more):
            sys.exit("error: more/all.origin is not line-aligned with more/all.{de,en}")
        pairs += [(d, e, o.strip()) for (d, e, _), o in zip(more, origins)]
    for prefix in extra:
        pairs += read_pair(prefix, f"extra/{prefix.name}")
    return pairs


# Invisible characters seen in the raw text (zero-width space/joiners, soft hyphen, BOM, word
# joiner, direction marks) and C0 controls: dropped, since they would become SentencePiece pieces
# that print as nothing and silently glue to or split words.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C1 = re.compile("[\x80-\x9f]")


def _cp1252(m: re.Match) -> str:
    try:
        return bytes([ord(m.group())]).decode("cp1252")
    except UnicodeDecodeError:
        return " "


def clean_text(s: str) -> str:
    """Repair cp1252 mojibake (news-test2008 has C1 controls U+0093/U+0084 where Windows quotes
    were meant: map them through cp1252) and drop invisible characters."""
    return _INVISIBLE.sub("", _C1.sub(_cp1252, s.replace("\t", " ")))


def normalize(s: str) -> str:
    """Comparison key used for overlap checks: lowercased, whitespace collapsed."""
    return _WS.sub(" ", s.strip().lower())


def squash(s: str) -> str:
    """Stricter key: lowercased with all whitespace removed, so that tokenized and raw forms of
    the same sentence compare equal (the gold sets are tokenized, most training text is not)."""
    return _WS.sub("", s.lower())


def load_gold_sentences(data: Path) -> set[str]:
    """Sentences of both de-en gold alignment sets, as normalize() and squash() keys."""
    files = [data / "gold/deen/deen.src", data / "gold/deen/deen.tgt",
             data / "gold/deen_bicici100/test.de", data / "gold/deen_bicici100/test.en"]
    keys: set[str] = set()
    for f in files:
        for ln in read_lines(f):  # read_lines drops the BOM of bicici100/test.de
            if ln.strip():
                keys.add(normalize(ln))
                keys.add("\0" + squash(ln))
    return keys


def hits(keys: set[str], *sentences: str) -> bool:
    return any(normalize(s) in keys or ("\0" + squash(s)) in keys for s in sentences)


# ---------------------------------------------------------------- tokenization

_TOK = {}


def _tok_init():
    from sacremoses import MosesTokenizer
    for lang in LANGS:
        _TOK[lang] = MosesTokenizer(lang=lang)


def _tok_pair(pair: tuple[str, str]) -> tuple[str, str]:
    de, en = pair
    return (_TOK["de"].tokenize(clean_text(de), escape=False, return_str=True).lower(),
            _TOK["en"].tokenize(clean_text(en), escape=False, return_str=True).lower())


def tokenize_pairs(pairs: list[tuple[str, str]], procs: int) -> list[tuple[str, str]]:
    """Moses-tokenize + lowercase in `procs` worker processes (sacremoses is pure Python)."""
    with mp.Pool(procs, initializer=_tok_init) as pool:
        return pool.map(_tok_pair, pairs, chunksize=2000)


# ---------------------------------------------------------------- filtering / splitting

def filter_train(pairs, tokd, gold_keys, test_keys, max_len, max_ratio, counts):
    """Dedup and clean the training candidates. Returns kept (tok_de, tok_en, origin)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for (de, en, origin), (tde, ten) in zip(pairs, tokd):
        if not tde.strip() or not ten.strip():
            counts["empty"] += 1
            continue
        key = (" ".join(tde.split()), " ".join(ten.split()))
        if key in seen:              # dedup on the preprocessed pair (raw and pre-tokenized
            counts["duplicate"] += 1  # copies of one sentence collapse here)
            continue
        seen.add(key)
        if hits(gold_keys, de, en, tde, ten):
            counts["gold_overlap"] += 1
            continue
        if hits(test_keys, de, en, tde, ten):   # keep newstest2014 sentences out of training
            counts["test_overlap"] += 1
            continue
        nd, ne = len(tde.split()), len(ten.split())
        if nd > max_len or ne > max_len or max(nd, ne) > max_ratio * min(nd, ne):
            counts["length_or_ratio"] += 1    # like Moses clean-corpus-n: misaligned/overlong
            continue
        kept.append((key[0], key[1], origin))
    return kept


def split_valid(kept, n_valid: int, seed: int):
    """Draw n_valid pairs with a fixed seed; keep the rest in corpus order."""
    idx = set(random.Random(seed).sample(range(len(kept)), n_valid))
    valid = [p for i, p in enumerate(kept) if i in idx]
    train = [p for i, p in enumerate(kept) if i not in idx]
    return train, valid


def write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for ln in lines:
            f.write(ln + "\n")


# ---------------------------------------------------------------- sentencepiece + fairseq

def train_spm(inputs: list[Path], prefix: Path, vocab: int, model_type: str) -> None:
    import sentencepiece as spm
    prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=[str(p) for p in inputs], model_prefix=str(prefix), vocab_size=vocab,
        model_type=model_type, character_coverage=1.0, num_threads=2,
        # the text is already Moses-tokenized and lowercased: no further normalization, so
        # pieces concatenate back to exactly the tokens the aligner sees
        normalization_rule_name="identity",
        input_sentence_size=2_000_000, shuffle_input_sentence=True,
        minloglevel=2)


def encode_file(model: Path, src: Path, dst: Path) -> None:
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(model))
    lines = read_lines(src)
    write_lines(dst, (" ".join(p) for p in sp.encode(lines, out_type=str)))


def binarize(enc: Path, out_bin: Path, fairseq_bin: Path, joined: bool, workers: int,
             dictionaries: dict[str, Path] | None = None, align_suffix: str | None = None,
             direction: tuple[str, str] = ("de", "en")) -> None:
    """fairseq-preprocess; ``dictionaries`` (per language) fixes the vocabulary instead of
    building it, ``align_suffix`` also binarizes <enc>/train.<suffix> piece alignments (indices
    source first, in ``direction``)."""
    src, tgt = direction
    cmd = [str(fairseq_bin / "fairseq-preprocess"), "--source-lang", src, "--target-lang", tgt,
           "--trainpref", str(enc / "train"), "--validpref", str(enc / "valid"),
           "--testpref", str(enc / "test"), "--destdir", str(out_bin), "--workers", str(workers)]
    if dictionaries is not None:
        cmd += ["--srcdict", str(dictionaries[src]), "--tgtdict", str(dictionaries[tgt])]
    elif joined:
        cmd.append("--joined-dictionary")
    if align_suffix is not None:
        cmd += ["--align-suffix", align_suffix]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def bundle_vocabulary(bundle: Path, out: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Copy a bundle's SentencePiece model(s) into <out>/spm; return them and its dictionaries.

    aligner.json names either one joint model or one per language ({"de": ..., "en": ...}).
    """
    info = json.loads((bundle / "aligner.json").read_text(encoding="utf-8"))
    named = info["subword_model"]
    per_lang = named if isinstance(named, dict) else {l: named for l in LANGS}
    models = {}
    (out / "spm").mkdir(parents=True, exist_ok=True)
    for l in LANGS:
        target = out / "spm" / ("spm.model" if isinstance(named, str) else f"spm.{l}.model")
        shutil.copy(bundle / per_lang[l], target)
        models[l] = target
    dictionaries = {l: bundle / f"dict.{l}.txt" for l in LANGS}
    missing = [str(p) for p in dictionaries.values() if not p.is_file()]
    if missing:
        sys.exit(f"error: bundle {bundle} has no {', '.join(missing)}")
    return models, dictionaries


def dict_size(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f) + 4  # + <s> <pad> </s> <unk>


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    here = Path(__file__).resolve()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("ALIGNER_DATA", "/work/shared/data")),
                    help="data root holding train/deen and gold/ (env ALIGNER_DATA)")
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache/aligner/train/deen",
                    help="state dir to write (default ~/.cache/aligner/train/deen)")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="extra parallel corpus PREFIX (reads PREFIX.de, PREFIX.en, raw text); "
                         "repeatable, e.g. europarl-v7.de-en for the paper's setting")
    ap.add_argument("--no-default-corpora", action="store_true",
                    help="train only on the --extra corpora (newstest2014 is still the test set)")
    ap.add_argument("--test-prefix", type=Path,
                    help="raw test PREFIX.{de,en} instead of newstest2014 from more/all")
    ap.add_argument("--valid-size", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=250, help="max tokens per side (train only)")
    ap.add_argument("--max-ratio", type=float, default=9.0, help="max token-length ratio (train only)")
    ap.add_argument("--spm-vocab", type=int, default=8000)
    ap.add_argument("--spm-type", default="bpe")
    ap.add_argument("--spm-separate", action="store_true",
                    help="one model and dictionary per language (the paper: 10k each) instead "
                         "of a joint model and --joined-dictionary")
    ap.add_argument("--bundle", type=Path,
                    help="an aligner bundle (e.g. data/models/deen-small) whose SentencePiece "
                         "model and dictionaries to reuse instead of training new ones: the "
                         "vocabulary a warm start from that bundle needs")
    ap.add_argument("--procs", type=int, default=2, help="tokenizer / fairseq worker processes")
    ap.add_argument("--fairseq-bin", type=Path, default=here.parents[2] / ".venv" / "bin")
    ap.add_argument("--force", action="store_true", help="overwrite an existing <out>/bin")
    ap.add_argument("--text-only", action="store_true",
                    help="stop after writing raw/ and tok/ (no SentencePiece, no binarizing): "
                         "the corpus itself, e.g. to check it against the gold sets")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    out = args.out.expanduser()
    if (out / "bin").exists() and not args.force:
        # a training run may be reading bin/ and its dictionary: never replace it silently
        sys.exit(f"error: {out}/bin exists (a model may be training on it); use --force")
    t_all = time.time()

    with timed("load"):
        # the default corpora are always read: newstest2014 (the test set) lives in more/all
        pairs = load_corpora(args.data, args.extra, True)
        gold_keys = load_gold_sentences(args.data)
    print(f"  {len(pairs)} candidate pairs, {len(gold_keys) // 2} gold sentence keys")

    counts = {"excluded_license": 0, "test_heldout": 0, "not_selected": 0, "empty": 0, "duplicate": 0,
              "gold_overlap": 0, "test_overlap": 0, "length_or_ratio": 0}
    with timed("select"):
        cand, test = [], []
        for de, en, origin in pairs:
            if origin.startswith(EXCLUDE_PREFIXES):
                counts["excluded_license"] += 1
            elif origin == TEST_ORIGIN and args.test_prefix is None:
                test.append((de, en))
            elif args.no_default_corpora and not origin.startswith("extra/"):
                counts["not_selected"] += 1
            else:
                cand.append((de, en, origin))
        counts["test_heldout"] = len(test)
        if args.test_prefix is not None:
            test = [(d, e) for d, e, _ in read_pair(args.test_prefix, "test")]
        if not test:
            sys.exit("error: no test set (newstest2014 not found; give --test-prefix)")
        test_keys = set()
        for de, en in test:
            for s in (de, en):
                test_keys.add(normalize(s))
                test_keys.add("\0" + squash(s))
    print(f"  {len(cand)} training candidates, {len(test)} test pairs")

    with timed("tokenize"):
        tok_cand = tokenize_pairs([(d, e) for d, e, _ in cand], args.procs)
        tok_test = tokenize_pairs(test, args.procs)

    with timed("filter_split"):
        kept = filter_train(cand, tok_cand, gold_keys, test_keys, args.max_len, args.max_ratio,
                            counts)
        train, valid = split_valid(kept, args.valid_size, args.seed)
        write_lines(out / "raw/test.de", (d for d, _ in test))
        write_lines(out / "raw/test.en", (e for _, e in test))
        for name, rows in (("train", train), ("valid", valid)):
            write_lines(out / f"tok/{name}.de", (r[0] for r in rows))
            write_lines(out / f"tok/{name}.en", (r[1] for r in rows))
            write_lines(out / f"tok/{name}.origin", (r[2] for r in rows))
        # " ".join(split()) as for train: any Unicode space (e.g. U+00A0) becomes a token break
        write_lines(out / "tok/test.de", (" ".join(d.split()) for d, _ in tok_test))
        write_lines(out / "tok/test.en", (" ".join(e.split()) for _, e in tok_test))
    print("  counts: " + json.dumps(counts))
    print(f"  gold overlap dropped: {counts['gold_overlap']} (expected 0)")
    print(f"  train {len(train)}  valid {len(valid)}  test {len(test)}")
    if args.text_only:
        return

    with timed("spm_train"):
        dictionaries = None
        if args.bundle is not None:
            models, dictionaries = bundle_vocabulary(args.bundle, out)
        elif args.spm_separate:
            models = {l: out / f"spm/spm.{l}.model" for l in LANGS}
            for l in LANGS:
                train_spm([out / f"tok/train.{l}"], out / f"spm/spm.{l}", args.spm_vocab,
                          args.spm_type)
        else:
            models = {l: out / "spm/spm.model" for l in LANGS}
            train_spm([out / f"tok/train.{l}" for l in LANGS], out / "spm/spm", args.spm_vocab,
                      args.spm_type)

    with timed("spm_encode"):
        for name in ("train", "valid", "test"):
            for l in LANGS:
                encode_file(models[l], out / f"tok/{name}.{l}", out / f"spm_enc/{name}.{l}")

    with timed("binarize"):
        if (out / "bin").exists():
            shutil.rmtree(out / "bin")
        binarize(out / "spm_enc", out / "bin", args.fairseq_bin, not args.spm_separate,
                 args.procs, dictionaries)

    total = round(time.time() - t_all, 2)
    info = {
        "lowercase": True,
        "moses_tokenizer": "sacremoses MosesTokenizer(lang).tokenize(escape=False)",
        "moses_escape": False,
        "text_cleaning": "clean_text(): C1 controls mapped through cp1252; U+00AD, U+200B-U+200F, "
                         "U+2060, U+FEFF, C0 controls removed; tab -> space; tokens separated by "
                         "single ASCII spaces",
        "vocabulary_from_bundle": str(args.bundle) if args.bundle else None,
        "spm": {"model_type": args.spm_type, "vocab_size": args.spm_vocab,
                "joint": not args.spm_separate, "character_coverage": 1.0,
                "normalization_rule_name": "identity",
                "models": {l: str(models[l].relative_to(out)) for l in LANGS}},
        "fairseq_dict_size": {l: dict_size(out / f"bin/dict.{l}.txt") for l in LANGS},
        "joined_dictionary": not args.spm_separate,
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "test_set": str(args.test_prefix) if args.test_prefix else TEST_ORIGIN,
        "excluded": counts,
        "excluded_origin_prefixes": list(EXCLUDE_PREFIXES),
        "train_origins": _origin_counts(train),
        "valid_seed": args.seed,
        "max_len": args.max_len, "max_ratio": args.max_ratio,
        "data": str(args.data), "extra": [str(p) for p in args.extra],
        "wall_time_s": {**STEP_TIMES, "total": total},
    }
    (out / "prep.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}/prep.json; total {total:.1f} s")


def _origin_counts(rows) -> dict[str, int]:
    c: dict[str, int] = {}
    for r in rows:
        c[r[2]] = c.get(r[2], 0) + 1
    return dict(sorted(c.items()))


if __name__ == "__main__":
    main()
