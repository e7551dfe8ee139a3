"""What word confidence costs: faster-whisper decoding with and without it, side by side.

`DecodingOptions.word_confidence` (on by default) stores each word's probability with the
hypothesis (`extra["words"]`, the input of `workbench.confidence` and the review queue).
On faster-whisper it is one teacher-forced `model.align` pass per batch over the decoded
tokens, on the encoder output already computed (see workbench/backends/faster.py). This
script measures what that pass adds to decoding, in one run, on one fixed selection:

- two `FasterWhisperBackend`s of the same model with the workbench's default decoding
  options (greedy, temperature 0, language from the manifest, language ID on, batches
  capped at 2 on CPU), `threads=T`, one with `word_confidence=False` ("off") and one with
  it on ("on"), both loaded and warmed up on one clip before timing;
- per round, both decode every selected clip, taking turns batch by batch: the clips go
  in groups of the backend's batch size (2 on CPU, one batch per `transcribe` call),
  and each group is decoded by "off" and by "on" back to back, the order alternating
  from group to group and round to round, so a burst of load from other processes hits
  both alike (whole-selection turns, tried first, swung 0.8-1.6x on a loaded machine);
- the overhead ratio of a round is on / off, summed over its groups; the median over
  rounds is reported with the range (target: <= 1.10);
- inside the "on" runs, the time spent in the word pass itself (`_words`: the align
  call, the split into words, the punctuation merge) is timed too, so its share of the
  "on" decode is a second, less noise-prone, figure of the same cost;
- the transcripts of "on" and "off" are compared (they must be identical: confidence is
  read off the decode and never changes it), and the words are summarized (count, mean
  probability, share below 0.5).

Clips: `--clips` speech clips of at least `--min-clip-s` s from the embedded demo corpus
(else the mini example), spread evenly over (language, accent) groups with
bench_transcription.py's rule; English-only models (*.en) take English clips only, so
each model gets `--clips` clips it can decode.

    . .venv/bin/activate
    python benchmarks/bench_confidence.py                     # tiny.en and base, 20 clips, 3 rounds
    python benchmarks/bench_confidence.py --models base --rounds 5 --json /tmp/conf.json

A shared machine is noisy: compare the ratios measured in the same run. Exit status 0,
or 1 when a model fails or a transcript differs between on and off.
"""

import argparse
import json
import os
import statistics
import sys
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
TARGET_RATIO = 1.10


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="tiny.en,base", help="comma-separated model names (default tiny.en,base)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--clips", type=int, default=20, help="clips per model (default 20)")
    p.add_argument("--data", default=None, help="manifest (default: the embedded demo corpus, else the mini example)")
    p.add_argument("--min-clip-s", type=float, default=1.0, help="shortest clip selected, seconds (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, order alternated; the median is reported (default 3)")
    p.add_argument("--json", default=None, help="also write every figure as JSON to this path")
    args = p.parse_args(argv)
    if args.threads < 1 or args.rounds < 1 or args.clips < 1:
        p.error("--threads, --rounds and --clips must be >= 1")
    return args


def select(args, english_only: bool):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_transcription import _spread  # one selection rule for the transcription benchmarks

    from workbench.audio import load_audio
    from workbench.backends import AudioItem
    from workbench.bench import demo_manifest
    from workbench.manifest import LoadOptions, load_dataset

    manifest = args.data or demo_manifest()
    ds = load_dataset(manifest, LoadOptions(min_duration_s=args.min_clip_s))
    speech = [u for u in ds.utterances if not u.no_speech and (not english_only or (u.language or "en").startswith("en"))]
    chosen = _spread(speech, args.clips)
    items = [AudioItem(u.id, load_audio(u.audio), u.language) for u in chosen]
    return manifest, chosen, items


class Timed:
    """Wraps a backend's `_words` to add up the seconds spent in the word pass."""

    def __init__(self, backend):
        self.seconds = 0.0
        inner = backend._words

        def timed(*a, **k):
            started = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.seconds += time.perf_counter() - started

        backend._words = timed


def decode(backend, items):
    started = time.perf_counter()
    out = list(backend.transcribe(items))
    return time.perf_counter() - started, out


def run_model(model: str, args) -> dict:
    from workbench import backends
    from workbench.backends import DecodingOptions

    english_only = model.endswith(".en")
    manifest, chosen, items = select(args, english_only)
    seconds = sum(len(i.audio) for i in items) / 16_000
    languages = sorted({u.language or "?" for u in chosen})
    print(f"\nmodel {model}: {len(items)} clips from {manifest}, {seconds:.1f} s of audio, "
          f"languages {', '.join(f'{l} {sum(1 for u in chosen if u.language == l)}' for l in languages)}")
    started = time.perf_counter()
    files = backends.model_files("faster-whisper", model)
    off = backends.create_backend("faster-whisper", files, DecodingOptions(threads=args.threads, word_confidence=False))
    on = backends.create_backend("faster-whisper", files, DecodingOptions(threads=args.threads, word_confidence=True))
    load_s = time.perf_counter() - started
    decode(off, items[:1]), decode(on, items[:1])  # warm-up, not timed
    timer = Timed(on)
    applied = on.applied_options()
    print(f"  load (not timed): {load_s:.2f} s; batch size {applied['batch_size']}, compute type {applied['compute_type']}, "
          f"threads {args.threads}")
    size = applied["batch_size"]
    groups = [items[i : i + size] for i in range(0, len(items), size)]
    rounds = []
    last: dict = {}
    for r in range(args.rounds):
        timer.seconds = 0.0
        times = {"off": 0.0, "on": 0.0}
        last = {"off": [], "on": []}
        for g, group in enumerate(groups):
            order = [("off", off), ("on", on)] if (g + r) % 2 == 0 else [("on", on), ("off", off)]
            for label, backend in order:
                seconds, out = decode(backend, group)
                times[label] += seconds
                last[label].extend(out)
        rounds.append({"off_s": times["off"], "on_s": times["on"], "ratio": times["on"] / times["off"],
                       "word_pass_s": timer.seconds, "word_pass_share": timer.seconds / times["on"]})
    ratios = [r["ratio"] for r in rounds]
    shares = [r["word_pass_share"] for r in rounds]
    identical = sum(a.text == b.text for a, b in zip(last["on"], last["off"]))
    words = [p for t in last["on"] for _, p in (t.words or ())]
    joined = sum("".join(w for w, _ in t.words).split() == t.text.split() for t in last["on"])
    print(f"  {len(groups)} groups of <= {size} clips, off and on back to back per group, order alternating")
    print("  round   off s    on s   ratio  word pass s  share of on")
    for i, r in enumerate(rounds, 1):
        print(f"  {i:>5}  {r['off_s']:>6.2f}  {r['on_s']:>6.2f}  {r['ratio']:>6.3f}  "
              f"{r['word_pass_s']:>11.2f}  {r['word_pass_share']:>10.1%}")
    median = statistics.median(ratios)
    print(f"  overhead on/off: median {median:.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); "
          f"word pass {statistics.median(shares):.1%} of the 'on' decode (range {min(shares):.1%}-{max(shares):.1%})")
    print(f"  target <= {TARGET_RATIO:.2f}: {'MET' if median <= TARGET_RATIO else 'MISSED'}; transcripts identical on/off: "
          f"{identical}/{len(items)}; words joined = text: {joined}/{len(items)}")
    if words:
        print(f"  words: {len(words)}, mean probability {statistics.fmean(words):.3f}, "
              f"below 0.5: {sum(p < 0.5 for p in words) / len(words):.1%}")
    return {"model": model, "clips": len(items), "audio_s": seconds, "manifest": manifest, "rounds": rounds,
            "median_ratio": median, "ratio_range": [min(ratios), max(ratios)],
            "median_word_pass_share": statistics.median(shares), "identical": identical, "words": len(words),
            "target_met": median <= TARGET_RATIO}


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)
    import platform

    import ctranslate2
    import faster_whisper

    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"versions: faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results, status = [], 0
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            result = run_model(model, args)
        except Exception as exc:  # one model failing still reports the others
            print(f"\nmodel {model}: FAILED: {type(exc).__name__}: {exc}")
            status = 1
            continue
        if result["identical"] != result["clips"]:
            status = 1
        results.append(result)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total run time {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"threads": args.threads, "results": results}, f, indent=2)
    return status


if __name__ == "__main__":
    sys.exit(main())
