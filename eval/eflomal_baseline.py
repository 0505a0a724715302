#!/usr/bin/env python3
"""eflomal baseline on the German-English gold sets, scored with aligner's own tools.

eflomal (Östling & Tiedemann 2016; PyPI package `eflomal`) is trained on exactly the text our NMT
models are trained on -- the cleaned, Moses-tokenized, lowercased training corpus that
eval/recipe/prepare_data.py writes to <state>/tok/train.{de,en} -- plus the text of both gold sets
without their links (deen: 508 pairs, deen_bicici100: 100 pairs), as is customary for
unsupervised aligners. The forward (de->en) and reverse links of the gold lines are symmetrized
with `aligner symmetrize` and everything is scored with `aligner score`, so the baseline and the
attention alignments go through the same symmetrizer and the same scorer.

    .venv/bin/python eval/eflomal_baseline.py            # writes eval/results/eflomal.{md,json}

Big files (the combined corpus, the 154k-line link files) stay under --work
(default ~/.cache/aligner/eflomal); only the tables go into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIRECTIONAL = ("forward", "reverse")
SYMMETRIZATIONS = ("intersect", "grow-diag-final", "grow-diag-final-and")


@dataclass(frozen=True)
class GoldSet:
    """One gold set: its text files, its links, and how aligner score must read them."""

    name: str
    src: Path
    tgt: Path
    gold: Path
    zero_based: bool
    drop_invalid: bool  # deen_bicici100 line 63 has one out-of-range gold link

    def score_options(self) -> list[str]:
        options = ["--gold", str(self.gold), "--src", str(self.src), "--tgt", str(self.tgt)]
        if self.zero_based:
            options.append("--gold-zero-based")
        if self.drop_invalid:
            options.append("--drop-invalid")
        return options


def gold_sets(data: Path) -> list[GoldSet]:
    gold = data / "gold"
    return [
        GoldSet("deen", gold / "deen/deen.lc.src", gold / "deen/deen.lc.tgt", gold / "deen/deen.talp", False, False),
        GoldSet(
            "deen_bicici100",
            gold / "deen_bicici100/test.de",
            gold / "deen_bicici100/test.en",
            gold / "deen_bicici100/de-en.wa",
            True,
            True,
        ),
    ]


# ---------------------------------------------------------------- reading text


def read_lines(path: Path) -> list[str]:
    """Lines split on '\\n' only (str.splitlines would also split at U+2028 etc. and break the
    line alignment of parallel files); a BOM (bicici100/test.de has one) and '\\r' are dropped."""
    text = path.read_text(encoding="utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def eflomal_line(line: str) -> str:
    """One tokenized line as eflomal must see it: lowercased, tokens as aligner counts them.

    aligner splits on runs of ASCII space only; eflomal's reader uses str.split(), which also
    splits at other white space. A token with such a character inside would shift every later
    link index, so that character is replaced (by U+2423) to keep both tokenizations equal.
    """
    tokens = [token for token in line.lower().split(" ") if token]
    return " ".join("".join("\u2423" if ch.isspace() else ch for ch in token) for token in tokens)


def decode_pieces(line: str) -> str:
    """SentencePiece pieces back to the Moses tokens: exact because prepare_data.py trains the
    model with normalization_rule_name=identity and every token starts a new '▁' piece."""
    return "".join(line.split(" ")).replace("\u2581", " ").strip()


def training_text(state: Path, lang: str) -> list[str]:
    """The NMT training text of one language, checked against the pieces fairseq was trained on.

    tok/train.<lang> is prepare_data.py's own tokenized text; spm_enc/train.<lang> is what was
    binarized. Both must agree line for line, otherwise eflomal would not see the NMT corpus.
    Without tok/ (older runs kept only spm_enc/), the tokens are decoded from the pieces.
    """
    pieces = state / "spm_enc" / f"train.{lang}"
    tokens = state / "tok" / f"train.{lang}"
    decoded = [decode_pieces(line) for line in read_lines(pieces)]
    if not tokens.is_file():
        return decoded
    text = read_lines(tokens)
    if len(text) != len(decoded):
        sys.exit(f"error: {tokens} has {len(text)} lines but {pieces} has {len(decoded)}")
    mismatched = [number for number, (a, b) in enumerate(zip(text, decoded), start=1) if a != b]
    if mismatched:
        sys.exit(f"error: {tokens} and the decoded {pieces} differ on {len(mismatched)} lines, first {mismatched[0]}")
    return text


# ---------------------------------------------------------------- running eflomal


def write_corpus(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for line in lines:
            stream.write(line + "\n")


def run_eflomal(src: Path, tgt: Path, forward: Path, reverse: Path, options: dict, verbose: bool) -> float:
    """Train eflomal on the whole corpus and write both directions' links; returns seconds.

    eflomal.Aligner.align() ignores the exit status of the eflomal binary, so the link files are
    deleted first and their presence checked afterwards.
    """
    import eflomal

    for path in (forward, reverse):
        path.unlink(missing_ok=True)
    aligner = eflomal.Aligner(
        model=options["model"],
        n_samplers=options["n_samplers"],
        rel_iterations=options["rel_iterations"],
        null_prior=options["null_prior"],
    )
    start = time.time()
    with open(src, encoding="utf-8") as src_stream, open(tgt, encoding="utf-8") as tgt_stream:
        aligner.align(
            src_stream,
            tgt_stream,
            links_filename_fwd=str(forward),
            links_filename_rev=str(reverse),
            quiet=not verbose,
        )
    seconds = time.time() - start
    for path in (forward, reverse):
        if not path.is_file():
            sys.exit(f"error: eflomal wrote no {path} (see its messages above; --verbose shows more)")
    return seconds


def default_iterations(n_sentences: int, model: int, rel_iterations: float) -> tuple[int, int, int]:
    """The iteration counts eflomal 2.0 picks by itself (eflomal.pyx align()), for the report."""
    iters = max(2, int(round(rel_iterations * 5000 / n_sentences**0.5)))
    quarter = max(1, iters // 4)
    if model == 1:
        return (iters, 0, 0)
    if model == 2:
        return (max(2, quarter), iters, 0)
    return (max(2, quarter), quarter, iters)


def parse_links(line: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in token.split("-")) for token in line.split()]  # type: ignore[misc]


def check_orientation(src: list[str], tgt: list[str], links: list[str], direction: str) -> dict:
    """Verify that a directional file is source-first with the expected functional side.

    Forward (de->en) links each English word to at most one German word; reverse links each
    German word to at most one English word. Both must be written as 'de-en' with in-range
    indices. If eflomal wrote the reverse file target-first, this fails (out of range, or
    English indices repeated on the wrong side).
    """
    out_of_range = repeated = other_repeated = total = 0
    for s, t, line in zip(src, tgt, links):
        pairs = parse_links(line)
        total += len(pairs)
        n_src, n_tgt = len(s.split(" ")), len(t.split(" "))
        out_of_range += sum(1 for i, j in pairs if i >= n_src or j >= n_tgt)
        functional = [j for _, j in pairs] if direction == "forward" else [i for i, _ in pairs]
        other = [i for i, _ in pairs] if direction == "forward" else [j for _, j in pairs]
        repeated += len(functional) - len(set(functional))
        other_repeated += len(other) - len(set(other))
    if out_of_range or repeated:
        sys.exit(
            f"error: {direction} links are not source-first and functional: "
            f"{out_of_range} out of range, {repeated} repeated"
        )
    # other_repeated > 0 shows the check can tell the sides apart (many-to-one links exist).
    return {
        "links": total,
        "out_of_range": out_of_range,
        "repeated_functional_side": repeated,
        "repeated_other_side": other_repeated,
    }


# ---------------------------------------------------------------- symmetrizing and scoring


def this_command() -> str:
    return shlex.join([".venv/bin/python", "eval/eflomal_baseline.py", *sys.argv[1:]])


def aligner_command() -> str:
    """The aligner CLI of this interpreter's environment (.venv/bin/aligner)."""
    return str(Path(sys.executable).parent / "aligner")


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {shlex.join(command)} failed:\n{result.stderr}")
    return result.stdout


def symmetrize(forward: Path, reverse: Path, method: str, output: Path) -> list[str]:
    command = [aligner_command(), "symmetrize", "--forward", str(forward), "--reverse", str(reverse)]
    command += ["--method", method, "-o", str(output), "--overwrite"]
    run(command)
    return command


def score(gold: GoldSet, hyp: Path) -> tuple[dict, list[str]]:
    command = [aligner_command(), "score", *gold.score_options(), "--hyp", str(hyp), "--json"]
    record = json.loads(run(command))
    # The report keeps its fractions (deen_report.py and deen_best.py read them); score --json gives percent.
    rates = {name: record[f"{name}_percent"] / 100 for name in ("aer", "precision", "recall", "f1")}
    return {**rates, "counts": record["counts"], "sentences": record["sentences"], "dropped_links": record["dropped_links"],
            "signature": record["signature"]}, command


# ---------------------------------------------------------------- report


def display(text: str) -> str:
    """A command as a reader can rerun it from the repository root: no machine-specific prefixes."""
    return text.replace(str(Path(sys.executable).parent) + "/", ".venv/bin/").replace(str(Path.home()), "~")


def percent(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(report: dict) -> str:
    o = report["eflomal"]
    lines = [
        "# eflomal baseline (German-English)",
        "",
        f"eflomal {o['version']} was trained on the NMT training corpus ({report['corpus']['train_pairs']:,} pairs of "
        "`prepare_data.py`'s cleaned, Moses-tokenized, lowercased `tok/train.{de,en}`, checked line by line "
        "against the SentencePiece text fairseq was trained on) plus the text of both gold sets without "
        f"their links ({report['corpus']['gold_pairs']} pairs), {report['corpus']['total_pairs']:,} pairs in all. "
        "Links of the gold lines were symmetrized with `aligner symmetrize` and scored with `aligner score` "
        "(corpus-level AER, precision, recall; lower AER is better).",
        "",
        "| set | links | AER % | P % | R % |",
        "|---|---|---|---|---|",
    ]
    for name, rows in report["scores"].items():
        for method, result in rows.items():
            cells = [name, method, percent(result["aer"]), percent(result["precision"]), percent(result["recall"])]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Options: model {o['model']} (IBM1+HMM+fertility), {o['n_samplers']} samplers, null prior {o['null_prior']}, "
        f"relative iterations {o['rel_iterations']} -> iterations (IBM1, HMM, fertility) = {tuple(o['iterations'])} "
        f"(eflomal's default for {report['corpus']['total_pairs']:,} pairs), OMP_NUM_THREADS={o['threads']}, "
        "no priors, no stemming. eflomal seeds its sampler from /dev/urandom, so reruns differ slightly.",
        "",
        f"Wall time: eflomal {o['wall_time_s']:.0f} s on one thread (both directions), reading, checking, "
        f"symmetrizing and scoring {report['wall_time_s']:.0f} s ({report['machine']}).",
        "",
        "For context: /work/shared/PROTOCOL.md lists a published eflomal AER of 22.6 on the deen set (its training text "
        "is not stated there; published de-en baselines are customarily trained on Europarl, about 1.9M in-domain pairs). "
        "The corpus here is about 12 times smaller and mostly out of domain.",
        "",
        "Reverse links were checked to come source-first (German index first), as `aligner symmetrize` expects: "
        "every link in range and each German word in at most one reverse link (forward: each English word in at "
        "most one link).",
        "",
        "deen: RWTH gold, 1-based talp, sure+possible links. deen_bicici100: 0-based, sure only; one out-of-range gold "
        "link (line 63) dropped by `--drop-invalid`.",
        "",
        "Commands:",
        "",
        "```",
        report["links_command"] + "   # trains eflomal, writes the links",
    ]
    if report["command"] != report["links_command"]:
        lines.append(report["command"] + "   # symmetrizes and scores those links again")
    lines += [display(shlex.join(c)) for c in report["commands"]]
    lines += ["```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("ALIGNER_DATA", "/work/shared/data"))
    parser.add_argument("--data", type=Path, default=data, help="data root (ALIGNER_DATA)")
    parser.add_argument("--state", type=Path, default=Path.home() / ".cache/aligner/train/deen", help="prepare_data.py --out")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/aligner/eflomal", help="corpus and link files")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "eflomal", help="writes OUT.md and OUT.json")
    parser.add_argument("--model", type=int, default=3, help="1 IBM1, 2 +HMM, 3 +fertility")
    parser.add_argument("--n-samplers", type=int, default=3)
    parser.add_argument("--rel-iterations", type=float, default=1.0)
    parser.add_argument("--null-prior", type=float, default=0.2)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="OMP_NUM_THREADS for the eflomal binary (otherwise it runs both directions and all samplers in parallel)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep existing link files in --work; only symmetrize and score")
    parser.add_argument("--verbose", action="store_true", help="let eflomal print its progress")
    parser.add_argument("--train-limit", type=int, help="use only the first N training pairs (smoke tests; not a baseline)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.time()
    # Set before the binary starts: it inherits the environment. eflomal uses OpenMP sections
    # for the two directions and the samplers, which would take both cores from the training job.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import eflomal  # noqa: F401  (fail early if missing)
    from importlib.metadata import version

    golds = gold_sets(args.data)
    work = args.work / "deen"
    train = {lang: training_text(args.state, lang)[: args.train_limit] for lang in ("de", "en")}
    gold_text = {g.name: ([eflomal_line(x) for x in read_lines(g.src)], [eflomal_line(x) for x in read_lines(g.tgt)])
                 for g in golds}
    src_lines = [eflomal_line(x) for x in train["de"]]
    tgt_lines = [eflomal_line(x) for x in train["en"]]
    offsets = {}
    for g in golds:
        offsets[g.name] = len(src_lines)
        src_lines += gold_text[g.name][0]
        tgt_lines += gold_text[g.name][1]

    corpus_src, corpus_tgt = work / "corpus.de", work / "corpus.en"
    forward_all, reverse_all = work / "all.forward.align", work / "all.reverse.align"
    options = {"model": args.model, "n_samplers": args.n_samplers, "rel_iterations": args.rel_iterations,
               "null_prior": args.null_prior}
    reused = args.reuse and forward_all.is_file() and reverse_all.is_file()
    if reused:
        previous = json.loads((work / "eflomal_run.json").read_text())
        eflomal_seconds, links_command = previous["wall_time_s"], previous.get("command", "?")
    else:
        write_corpus(corpus_src, src_lines)
        write_corpus(corpus_tgt, tgt_lines)
        print(f"eflomal on {len(src_lines):,} pairs ...", file=sys.stderr, flush=True)
        eflomal_seconds = run_eflomal(corpus_src, corpus_tgt, forward_all, reverse_all, options, args.verbose)
        links_command = this_command()
        (work / "eflomal_run.json").write_text(json.dumps({"wall_time_s": eflomal_seconds, "command": links_command}) + "\n")
        print(f"eflomal done in {eflomal_seconds:.0f} s", file=sys.stderr, flush=True)

    links = {d: read_lines(p) for d, p in zip(DIRECTIONAL, (forward_all, reverse_all))}
    if any(len(v) != len(src_lines) for v in links.values()):
        sys.exit("error: eflomal's link files do not have one line per corpus pair")

    commands: list[list[str]] = []
    scores: dict[str, dict] = {}
    checks: dict[str, dict] = {}
    for g in golds:
        begin, end = offsets[g.name], offsets[g.name] + len(gold_text[g.name][0])
        hyps = {}
        for direction in DIRECTIONAL:
            part = links[direction][begin:end]
            checks[f"{g.name}.{direction}"] = check_orientation(*gold_text[g.name], part, direction)
            hyps[direction] = work / f"{g.name}.{direction}.align"
            write_corpus(hyps[direction], part)
        for method in SYMMETRIZATIONS:
            hyps[method] = work / f"{g.name}.{method}.align"
            commands.append(symmetrize(hyps["forward"], hyps["reverse"], method, hyps[method]))
        scores[g.name] = {}
        for method, hyp in hyps.items():
            result, command = score(g, hyp)
            commands.append(command)
            scores[g.name][method] = result

    report = {
        "description": "eflomal trained on the NMT training corpus (prepare_data.py tok/train) plus the gold sets' text "
                       "without links; symmetrized and scored with aligner",
        "command": this_command(),
        "links_command": links_command,  # the run that trained eflomal (differs with --reuse)
        "eflomal": {
            "version": version("eflomal"),
            **options,
            "iterations": list(default_iterations(len(src_lines), args.model, args.rel_iterations)),
            "threads": args.threads,
            "wall_time_s": round(eflomal_seconds, 1),
        },
        "corpus": {
            "train_pairs": len(train["de"]),
            "gold_pairs": len(src_lines) - len(train["de"]),
            "total_pairs": len(src_lines),
            "order": ["train"] + [g.name for g in golds],
            "files": {"train": str(args.state / "tok/train.{de,en}"), "work": str(work)},
        },
        "orientation_checks": checks,
        "scores": scores,
        "commands": commands,
        "wall_time_s": round(time.time() - started - (0 if reused else eflomal_seconds), 1),  # without eflomal
        "reused_links": reused,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, shared with a niced fairseq training job",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    for name, rows in scores.items():
        for method, result in rows.items():
            scores_text = f"AER {percent(result['aer'])}  P {percent(result['precision'])}  R {percent(result['recall'])}"
            print(f"{name:15s} {method:20s} {scores_text}")


if __name__ == "__main__":
    main()
