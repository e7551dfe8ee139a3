"""Transcription throughput of the three backends, and the workbench's overhead over faster-whisper.

What it measures, in one run, on one fixed selection of clips:

1. Overhead of the workbench over calling faster-whisper directly (faster-whisper only,
   every model in `--models`). Per clip, "direct" is

       WhisperModel(ct2_dir, device="cpu", compute_type="int8", cpu_threads=T).transcribe(
           audio, language=<manifest language>, beam_size=1, temperature=0,
           condition_on_previous_text=False, without_timestamps=True, vad_filter=False)

   with the segments consumed. Against it, on the same in-memory audio:
     (a) `FasterWhisperBackend.transcribe` with `detect_language=False`;
     (b) the same with language ID on (the default; it reads the same encoder output);
     (c) `run_bench` end to end on a temporary manifest of the same clips, with a fresh
         temporary workspace each time: manifest loading and header checks, audio
         decoding, transcription, each hypothesis stored in SQLite, scoring (auto
         normalizer, accent and language slices, 1,000 bootstrap resamples), report.
   Each is given as a ratio to direct (target: <= 1.10). The four are run in rounds, the
   order rotated each round (D a b c, a b c D, b c D a, ...), and each round's ratio is
   taken against that round's direct time; the median of the per-round ratios is
   reported, with their range. Decoding the clips' audio alone (`load_audio`) is timed
   in every round too, so (c) can also be compared with direct + audio decoding.
   Transcripts: how many of (a), (b), (c) are identical (exact string) to direct's.

2. Throughput (audio seconds per wall second) of faster-whisper, openai-whisper and
   transformers through `create_backend(...).transcribe(...)`, with the workbench's
   default decoding options (greedy, temperature 0, language forced from the manifest,
   language ID on) except `threads=T`. openai-whisper and transformers are slow on CPU,
   so this comparison uses the first `--slow-clips` clips of the selection (a balanced
   prefix: the selection is interleaved across sources and slices) for all three
   backends. The backends take turns clip by clip (one clip per `transcribe` call, the
   order rotated from clip to clip), so a burst of load from other processes hits them
   alike; `--slow-rounds` repeats the pass (median reported). One clip per call means
   faster-whisper does not batch here: its batched figure is (b) above. For
   multilingual models each backend is also run with `detect_language=False` ("LID
   off"; `--no-lid-rows` skips these), which shows what recording the detected
   language costs each backend. Each row also says how many of its transcripts are
   identical to direct faster-whisper's on the same clips.

Model resolution (and conversion, when not cached), model loading and a warm-up on one
clip are timed separately and never counted in the figures above. `run_bench` would
load the model on every call, so for (c) `workbench.bench.create_backend` is swapped
for a function that returns the already loaded, warmed-up (b) backend (same decoding
options); everything else in `run_bench` runs as is.

Clips (fixed selection, every clip >= `--min-clip-s` s, speech only): `--demo-clips`
from the embedded demo corpus (`workbench/examples/demo/manifest.csv`, else
`workbench/examples/mini/manifest.csv`) and `--real-clips` from realspeech-dev when
present (`--real-data`). Within a manifest, clips are spread evenly over its
(language, accent) groups, at evenly spaced positions of each group sorted by id.
English-only models (tiny.en) get only the English clips of the selection.

Threads: OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS (and a few more) are set
to `--threads` before numpy is imported, and the same count is passed to every backend
(`DecodingOptions(threads=T)`: CTranslate2's `cpu_threads`, `torch.set_num_threads`) and
to the direct `WhisperModel`.

How to run, from the repository root, in the project's venv:

    . .venv/bin/activate
    python benchmarks/bench_transcription.py                      # defaults, ~10 min on 2 cores
    python benchmarks/bench_transcription.py --models tiny.en --rounds 5
    python benchmarks/bench_transcription.py --skip-throughput --json /tmp/bench.json

The machine it runs on is usually shared and noisy: compare ratios measured in the same
run, not absolute seconds from different runs. Exit status 0, or 1 if something failed
(missing target ratios do not change it).
"""

import argparse
import os
import sys
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
REALSPEECH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "realspeech-dev", "manifest.csv")
TARGET_RATIO = 1.10
BACKEND_NAMES = ("faster-whisper", "openai-whisper", "transformers")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="tiny.en,base", help="comma-separated model names (default tiny.en,base)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for every backend (default 2)")
    p.add_argument("--demo-clips", type=int, default=20, help="clips from the demo corpus (default 20)")
    p.add_argument("--demo-data", default=None, help="demo manifest (default: the embedded demo corpus, else the mini example)")
    p.add_argument("--real-clips", type=int, default=20, help="clips from realspeech-dev when present (default 20)")
    p.add_argument("--real-data", default=os.path.normpath(REALSPEECH), help="realspeech-dev manifest (default ../shared/realspeech-dev/manifest.csv)")
    p.add_argument("--min-clip-s", type=float, default=1.0, help="shortest clip selected, seconds (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="overhead rounds, order rotated; the median is reported (default 3)")
    p.add_argument("--slow-clips", type=int, default=8, help="clips for the three-backend throughput comparison (default 8)")
    p.add_argument("--slow-rounds", type=int, default=1, help="rounds of the three-backend comparison (default 1)")
    p.add_argument("--no-lid-rows", action="store_true", help="skip the language-ID-off rows of the throughput comparison")
    p.add_argument("--backends", default=",".join(BACKEND_NAMES), help="backends for the throughput comparison (default all three)")
    p.add_argument("--skip-overhead", action="store_true", help="only the throughput comparison")
    p.add_argument("--skip-throughput", action="store_true", help="only the faster-whisper overhead comparison")
    p.add_argument("--json", default=None, help="also write every figure as JSON to this path")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.rounds < 1 or args.slow_rounds < 1:
        p.error("--rounds and --slow-rounds must be >= 1")
    return args


# --------------------------------------------------------------------------- clips

class Clip:
    __slots__ = ("accent", "audio", "id", "language", "seconds", "source", "utterance")

    def __init__(self, id, source, utterance, audio):
        self.id = id
        self.source = source
        self.utterance = utterance
        self.language = utterance.language
        self.accent = utterance.slices.get("accent", "")
        self.audio = audio
        self.seconds = len(audio) / 16_000


def _spread(utterances, n: int) -> list:
    """n utterances spread evenly over (language, accent) groups, interleaved across groups."""
    groups: dict = {}
    for u in sorted(utterances, key=lambda u: u.id):
        groups.setdefault((u.language or "", u.slices.get("accent", "")), []).append(u)
    keys = sorted(groups)
    quotas = dict.fromkeys(keys, 0)
    left = min(n, len(utterances))
    while left:
        progressed = False
        for k in keys:
            if left and quotas[k] < len(groups[k]):
                quotas[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    picked = {k: [groups[k][int((i + 0.5) * len(groups[k]) / quotas[k])] for i in range(quotas[k])] for k in keys if quotas[k]}
    out = []
    for i in range(max((len(v) for v in picked.values()), default=0)):
        out.extend(v[i] for v in picked.values() if i < len(v))
    return out


def select_clips(args) -> tuple[list[Clip], list[str]]:
    from workbench.audio import load_audio
    from workbench.bench import demo_manifest
    from workbench.manifest import LoadOptions, load_dataset

    sources = [("demo", args.demo_data or demo_manifest(), args.demo_clips)]
    notes = []
    if args.real_clips:
        if os.path.isfile(args.real_data):
            sources.append(("realspeech-dev", args.real_data, args.real_clips))
        else:
            notes.append(f"realspeech-dev not found at {args.real_data}: demo clips only")
    per_source = []
    for label, manifest, n in sources:
        if not n:
            continue
        ds = load_dataset(manifest, LoadOptions(min_duration_s=args.min_clip_s))
        chosen = _spread([u for u in ds.utterances if not u.no_speech], n)
        if len(chosen) < n:
            notes.append(f"{label}: only {len(chosen)} speech clips >= {args.min_clip_s:g} s (asked for {n})")
        per_source.append([Clip(f"{label}:{u.id}", label, u, load_audio(u.audio)) for u in chosen])
        notes.append(f"{label}: {manifest}")
    clips = []  # interleave sources so any prefix is balanced
    for i in range(max((len(c) for c in per_source), default=0)):
        clips.extend(c[i] for c in per_source if i < len(c))
    return clips, notes


def describe(clips) -> str:
    from collections import Counter

    by_source = Counter(c.source for c in clips)
    langs = Counter(c.language for c in clips)
    return (f"{len(clips)} clips ({', '.join(f'{n} {s}' for s, n in by_source.items())}), {sum(c.seconds for c in clips):.1f} s of audio, "
            f"{min(c.seconds for c in clips):.2f}-{max(c.seconds for c in clips):.2f} s each; languages "
            + ", ".join(f"{k} {v}" for k, v in sorted(langs.items())))


# --------------------------------------------------------------------------- timed paths

def run_direct(model, clips):
    from workbench.backends import language_code

    texts = {}
    started = time.perf_counter()
    for c in clips:
        segments, _ = model.transcribe(
            c.audio,
            language=language_code(c.language),
            beam_size=1,
            temperature=0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        texts[c.id] = "".join(s.text for s in segments).strip()
    return time.perf_counter() - started, texts


def run_backend(backend, clips):
    from workbench.backends import AudioItem

    started = time.perf_counter()
    texts = {t.utterance_id: t.text for t in backend.transcribe(AudioItem(c.id, c.audio, c.language) for c in clips)}
    return time.perf_counter() - started, texts


def run_decode(clips):
    from workbench.audio import load_audio

    started = time.perf_counter()
    for c in clips:
        load_audio(c.utterance.audio)
    return time.perf_counter() - started, None


def write_manifest(clips, path: str) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "audio", "transcription", "language", "accent"])
        for c in clips:
            w.writerow([c.id, c.utterance.audio.path, c.utterance.reference, c.language or "", c.accent])


class BenchPath:
    """`run_bench` end to end on a manifest of the clips; a fresh workspace per call."""

    def __init__(self, model_name: str, manifest: str, decoding, tmp: str):
        self.model_name, self.manifest, self.decoding, self.tmp = model_name, manifest, decoding, tmp
        self.calls = 0

    def request(self, manifest: str, workspace: str):
        from workbench.bench import BenchRequest
        from workbench.evaluation import EvaluationOptions
        from workbench.manifest import LoadOptions
        from workbench.service import DataSelection

        return BenchRequest(
            selection=DataSelection(data=manifest, part="all", load=LoadOptions(min_duration_s=0.0)),
            model=self.model_name,
            backend="faster-whisper",
            decoding=self.decoding,
            evaluation=EvaluationOptions(slice_columns=("accent", "language")),
            workspace=workspace,
            resume=False,
        )

    def __call__(self, clips, manifest: str | None = None):
        from workbench.bench import run_bench
        from workbench.runstore import RunStore

        self.calls += 1
        workspace = os.path.join(self.tmp, f"ws-{self.calls}")
        request = self.request(manifest or self.manifest, workspace)
        started = time.perf_counter()
        result = run_bench(request)
        elapsed = time.perf_counter() - started
        with RunStore(workspace) as store:
            texts = {h.utterance_id: h.hypothesis for h in store.hypotheses(result.run_id)}
        return elapsed, texts


def install_backend_cache(prebuilt: dict):
    """Make run_bench reuse loaded backends: {(backend, model name, DecodingOptions): instance}."""
    import workbench.bench as wb

    original = wb.create_backend

    def cached(name, model, options):
        hit = prebuilt.get((name, model.name, options))
        if hit is None:
            print(f"  note: run_bench loads {name} {model.name} itself (no preloaded backend matches)", file=sys.stderr)
            return original(name, model, options)
        return hit

    wb.create_backend = cached


# --------------------------------------------------------------------------- helpers

def median(values):
    import statistics

    return statistics.median(values)


def same(texts, reference, ids) -> int:
    return sum(1 for i in ids if texts.get(i) == reference.get(i))


def fmt_s(x: float) -> str:
    return f"{x:.2f}"


def loaded(fn, *args, **kwargs):
    """fn(*args, **kwargs) and the wall seconds it took."""
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


# --------------------------------------------------------------------------- sections

def overhead(model_name: str, clips, args, tmp: str, prebuilt: dict, report: dict) -> list[str]:
    """Direct faster-whisper vs the workbench's (a), (b), (c) on the same clips, in rounds."""
    from dataclasses import replace

    from faster_whisper import WhisperModel

    from workbench.backends import DecodingOptions, create_backend
    from workbench.models import resolve_model

    lines = []
    files, resolve_s = loaded(resolve_model, model_name, "faster-whisper")
    base_opts = DecodingOptions(threads=args.threads)
    direct, load_direct = loaded(WhisperModel, str(files.ct2_dir), device="cpu", compute_type="int8", cpu_threads=args.threads)
    backend_b, load_b = loaded(create_backend, "faster-whisper", files, base_opts)
    backend_a, load_a = loaded(create_backend, "faster-whisper", files, replace(base_opts, detect_language=False))
    prebuilt[("faster-whisper", model_name, base_opts)] = backend_b
    prebuilt[("faster-whisper", model_name, replace(base_opts, detect_language=False))] = backend_a
    manifest = os.path.join(tmp, f"clips-{model_name}.csv")
    write_manifest(clips, manifest)
    warm_manifest = os.path.join(tmp, f"warm-{model_name}.csv")
    write_manifest(clips[:1], warm_manifest)
    bench_path = BenchPath(model_name, manifest, base_opts, tmp)

    paths = {
        "direct": lambda: run_direct(direct, clips),
        "a": lambda: run_backend(backend_a, clips),
        "b": lambda: run_backend(backend_b, clips),
        "c": lambda: bench_path(clips),
    }
    warm = {
        "direct": loaded(run_direct, direct, clips[:1])[1],
        "a": loaded(run_backend, backend_a, clips[:1])[1],
        "b": loaded(run_backend, backend_b, clips[:1])[1],
        "c": loaded(bench_path, clips[:1], warm_manifest)[1],
    }
    run_decode(clips[:1])

    order = ["direct", "a", "b", "c"]
    times = {k: [] for k in order + ["decode"]}
    texts: dict[str, list[dict]] = {k: [] for k in order}
    for r in range(args.rounds):
        times["decode"].append(run_decode(clips)[0])
        rotated = order[r % len(order):] + order[: r % len(order)]
        for key in rotated:
            elapsed, out = paths[key]()
            times[key].append(elapsed)
            texts[key].append(out)
        print(f"  {model_name} round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in order + ["decode"]), file=sys.stderr)

    ids = [c.id for c in clips]
    audio_s = sum(c.seconds for c in clips)
    ref = texts["direct"][0]
    ratios = {k: [times[k][r] / times["direct"][r] for r in range(args.rounds)] for k in order}
    ratios["c+"] = [times["c"][r] / (times["direct"][r] + times["decode"][r]) for r in range(args.rounds)]
    unstable = {k: sum(1 for i in ids if len({t.get(i) for t in texts[k]}) > 1) for k in order}
    labels = {
        "direct": "direct faster-whisper (WhisperModel.transcribe, per clip)",
        "a": "(a) FasterWhisperBackend.transcribe, detect_language=False",
        "b": "(b) FasterWhisperBackend.transcribe, language ID on (default)",
        "c": "(c) run_bench end to end (decode audio, store, score)",
    }
    lines.append(f"model {model_name}: {describe(clips)}")
    lines.append(f"  load (not timed below): resolve_model {resolve_s:.2f} s; WhisperModel {load_direct:.2f} s; "
                 f"backend (a) {load_a:.2f} s, (b) {load_b:.2f} s; warm-up on 1 clip: "
                 + ", ".join(f"{k} {v:.2f} s" for k, v in warm.items()))
    lines.append(f"  {args.rounds} rounds, order rotated each round; seconds per round, median; ratio = this path / direct in the same round")
    head = f"  {'path':<62} {'rounds (s)':<22} {'median s':>8} {'audio s/s':>9} {'ratio':>6} {'ratio range':>12} {'identical':>9}"
    lines.append(head)
    for k in order:
        med = median(times[k])
        ratio = median(ratios[k])
        rng = f"{min(ratios[k]):.3f}-{max(ratios[k]):.3f}"
        ident = "-" if k == "direct" else f"{same(texts[k][0], ref, ids)}/{len(ids)}"
        lines.append(f"  {labels[k]:<62} {' '.join(fmt_s(t) for t in times[k]):<22} {med:>8.2f} {audio_s / med:>9.2f} "
                     f"{ratio:>6.3f} {rng if k != 'direct' else '':>12} {ident:>9}")
    dec = median(times["decode"])
    lines.append(f"  {'audio decoding alone (load_audio, all clips)':<62} {' '.join(fmt_s(t) for t in times['decode']):<22} {dec:>8.2f}")
    lines.append(f"  (c) / (direct + audio decoding): {median(ratios['c+']):.3f} (range {min(ratios['c+']):.3f}-{max(ratios['c+']):.3f})")
    verdict = ", ".join(f"({k}) {median(ratios[k]):.3f} {'MET' if median(ratios[k]) <= TARGET_RATIO else 'MISSED'}" for k in ("a", "b", "c"))
    lines.append(f"  target ratio <= {TARGET_RATIO:.2f}: {verdict}")
    if any(unstable.values()):
        lines.append("  transcripts that changed between rounds: " + ", ".join(f"{k} {v}" for k, v in unstable.items()))
    diffs = [(i, ref.get(i), texts[k][0].get(i), k) for k in ("a", "b", "c") for i in ids if texts[k][0].get(i) != ref.get(i)]
    for i, d, w, k in diffs[:6]:
        lines.append(f"  differs ({k}) {i}: direct {d!r} vs workbench {w!r}")
    report["overhead"][model_name] = {
        "clips": ids,
        "audio_s": audio_s,
        "times_s": times,
        "ratios": ratios,
        "median_ratio": {k: median(v) for k, v in ratios.items()},
        "identical": {k: same(texts[k][0], ref, ids) for k in ("a", "b", "c")},
        "changed_between_rounds": unstable,
        "load_s": {"resolve_model": resolve_s, "direct": load_direct, "a": load_a, "b": load_b},
        "warmup_s": warm,
        "direct_texts": ref,
    }
    report["_fw_direct"][model_name] = (direct, ref)
    return lines


def throughput(model_name: str, clips, args, prebuilt: dict, report: dict) -> list[str]:
    from dataclasses import replace

    from workbench.backends import DecodingOptions, create_backend
    from workbench.models import resolve_model

    opts = DecodingOptions(threads=args.threads)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    multilingual = resolve_model(model_name, "faster-whisper").multilingual
    # (row label, backend, options): the defaults (LID on), then LID off where it changes anything
    rows = [(name, name, opts) for name in names]
    if multilingual and not args.no_lid_rows:
        rows += [(f"{name}, LID off", name, replace(opts, detect_language=False)) for name in names]
    backends, load = {}, {}
    for label, name, o in rows:
        files, resolve_s = loaded(resolve_model, model_name, name)
        hit = prebuilt.get((name, model_name, o))
        if hit is not None:
            backends[label], load[label] = hit, None
            continue
        backend, create_s = loaded(create_backend, name, files, o)
        _, warm_s = loaded(run_backend, backend, clips[:1])
        backends[label], load[label] = backend, (resolve_s, create_s, warm_s)
        prebuilt[(name, model_name, o)] = backend

    labels = [label for label, _, _ in rows]
    times = {label: [] for label in labels}
    texts = {label: None for label in labels}
    for r in range(args.slow_rounds):
        # Clip by clip, every backend in turn (order rotated per clip): a burst of load
        # from other processes hits all backends alike instead of whichever ran then.
        for label in labels:
            times[label].append(0.0)
        for i, clip in enumerate(clips):
            shift = (i + r) % len(labels)
            for label in labels[shift:] + labels[:shift]:
                elapsed, out = run_backend(backends[label], [clip])
                times[label][-1] += elapsed
                if r == 0:
                    texts[label] = {**(texts[label] or {}), **out}
        print(f"  {model_name} throughput round {r + 1}/{args.slow_rounds}: " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in labels), file=sys.stderr)
    ids = [c.id for c in clips]
    audio_s = sum(c.seconds for c in clips)
    direct = report["_fw_direct"].get(model_name)
    direct_texts = run_direct(direct[0], clips)[1] if direct is not None else None  # untimed: transcripts only
    fw = median(times["faster-whisper"]) if "faster-whisper" in times else None
    ratio = {k: median([t / f for t, f in zip(times[k], times["faster-whisper"])]) for k in labels} if fw else {}
    lines = [(f"model {model_name}: first {len(clips)} clips of the selection, {audio_s:.1f} s of audio, one clip per call, backends "
              f"interleaved clip by clip; {args.slow_rounds} round(s), median; greedy, language from the manifest, threads {args.threads}")]
    lines.append(f"  {'backend (LID on = workbench default)':<36} {'resolve s':>9} {'load s':>7} {'warm-up s':>9} {'wall s':>8} {'audio s/s':>9} {'RTF':>6} {'vs fw':>6} {'= direct fw':>11}")
    for label in labels:
        med = median(times[label])
        loads = ("(preloaded)", "", "") if load[label] is None else tuple(f"{x:.2f}" for x in load[label])
        vs = f"{ratio[label]:.2f}x" if fw else "-"
        ident = f"{same(texts[label], direct_texts, ids)}/{len(ids)}" if direct_texts else "-"
        lines.append(f"  {label:<36} {loads[0]:>9} {loads[1]:>7} {loads[2]:>9} {med:>8.2f} {audio_s / med:>9.2f} {med / audio_s:>6.3f} {vs:>6} {ident:>11}")
    report["throughput"][model_name] = {
        "clips": ids,
        "audio_s": audio_s,
        "times_s": times,
        "load_s": {k: (dict(zip(("resolve_model", "create_backend", "warmup"), v)) if v else "preloaded") for k, v in load.items()},
        "identical_to_direct_fw": {k: same(texts[k], direct_texts, ids) for k in labels} if direct_texts else None,
    }
    return lines


def machine() -> list[str]:
    import platform

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = []
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("faster-whisper", "ctranslate2", "openai-whisper", "torch", "transformers", "numpy"):
        try:
            versions.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}",
            "versions: " + ", ".join(versions), f"load average at start: {load}"]


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import json
    import tempfile

    from workbench.backends.base import language_code

    started = time.perf_counter()
    out = machine()
    out.append(f"threads: {args.threads} (env {', '.join(THREAD_VARIABLES)}; DecodingOptions(threads) / cpu_threads)")
    clips, notes = select_clips(args)
    if not clips:
        print("no clips selected", file=sys.stderr)
        return 1
    out.extend(notes)
    out.append(f"selection: {describe(clips)}")
    report = {"args": vars(args), "overhead": {}, "throughput": {}, "_fw_direct": {}}
    prebuilt: dict = {}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench-transcription-") as tmp:
        from workbench.models import resolve_model

        install_backend_cache(prebuilt)
        per_model = {}
        for name in models:
            english_only = not resolve_model(name, "faster-whisper").multilingual
            per_model[name] = [c for c in clips if language_code(c.language) == "en"] if english_only else clips
        for name in models:
            if args.skip_overhead:
                break
            print(f"overhead: {name}", file=sys.stderr)
            try:
                out.append("")
                out.extend(overhead(name, per_model[name], args, tmp, prebuilt, report))
            except Exception as exc:  # noqa: BLE001 -- report and go on with the other models
                out.append(f"model {name}: overhead FAILED: {type(exc).__name__}: {exc}")
                status = 1
        if not args.skip_throughput:
            out.append("")
            out.append("throughput, the same clips through each backend (create_backend(...).transcribe)")
            for name in models:
                print(f"throughput: {name}", file=sys.stderr)
                try:
                    out.extend(throughput(name, per_model[name][: args.slow_clips], args, prebuilt, report))
                except Exception as exc:  # noqa: BLE001 -- report and go on
                    out.append(f"model {name}: throughput FAILED: {type(exc).__name__}: {exc}")
                    status = 1
    out.append("")
    out.append(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total run time {time.perf_counter() - started:.0f} s")
    out.append("note: a shared, noisy machine; compare ratios measured in the same run, not absolute seconds across runs")
    print("\n".join(out))
    if args.json:
        report.pop("_fw_direct")
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, default=str)
    return status


if __name__ == "__main__":
    sys.exit(main())
