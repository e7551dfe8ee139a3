"""The in-process engine against the Ray engine on one machine, with the same total threads.

What it measures, in one run, on the held-out part of the embedded demo corpus (or its
first `--clips`):

- **in-process**: `run_bench` with `EngineOptions()` and `DecodingOptions(threads=T)`:
  one process, one model, CTranslate2 with T threads.
- **ray**: `run_bench` with `EngineOptions("ray", workers=T)` and
  `DecodingOptions(threads=1)`: a local Ray cluster of T CPUs (started once, before
  anything is timed; its start-up is reported on its own), T actors of one thread each,
  one model each.

T is `--threads` (default: the machine's core count), so both use the same CPUs. Each
run is a fresh workspace (nothing reused or resumed), timed end to end (`run_bench`:
data loading, model loading, for Ray the probe and the actors' start, transcription,
storing, scoring) and for transcription alone (`TranscriptionStats.wall_s`, which for
Ray includes starting the actors and loading their models, as a user waits for it).
Throughput is clips per second of transcription. The engines take turns, `--rounds`
times, the order swapped each round, so a burst of load from other processes hits both;
medians are reported, with the range. The transcripts of the two engines are compared
(they differ only where the thread count would make them differ: it does not, measured
on tiny.en, so any difference is reported as a failure).

Target: Ray at most 10% slower than in-process in transcription throughput.

    python benchmarks/bench_engines.py                       # tiny.en, all 109 held-out clips
    python benchmarks/bench_engines.py --model base --clips 40 --rounds 3

Exit status 1 when the transcripts differ, else 0 (a missed target does not change it).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--clips", type=int, default=None, help="the first N held-out clips (default: all)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="total threads, both engines (default: the core count)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import ray

    from workbench.backends import DecodingOptions
    from workbench.bench import BenchRequest, demo_manifest, run_bench
    from workbench.bootstrap import BootstrapOptions
    from workbench.engine import EngineOptions
    from workbench.environment import cpu_info
    from workbench.evaluation import EvaluationOptions
    from workbench.runstore import RunStore
    from workbench.service import DataSelection

    started = time.perf_counter()
    ray.init(num_cpus=args.threads, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - started
    load_before = os.getloadavg()

    engines = {
        "in-process": (EngineOptions(), DecodingOptions(threads=args.threads)),
        "ray": (EngineOptions("ray", workers=args.threads), DecodingOptions(threads=1)),
    }
    figures: dict[str, dict[str, list[float]]] = {name: {"end_to_end_s": [], "transcribe_s": []} for name in engines}
    texts: dict[str, dict[str, str]] = {}
    clips = audio_s = None
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
            for name in order:
                engine, decoding = engines[name]
                workspace = Path(tmp) / f"{name}-{round_}"
                request = BenchRequest(DataSelection(demo_manifest(), part="heldout"), model=args.model, decoding=decoding,
                                       engine=engine, workspace=str(workspace), resume=False, limit=args.clips,
                                       evaluation=EvaluationOptions(bootstrap=BootstrapOptions(resamples=1000)))
                t0 = time.perf_counter()
                result = run_bench(request)
                figures[name]["end_to_end_s"].append(time.perf_counter() - t0)
                figures[name]["transcribe_s"].append(result.stats.wall_s)
                clips, audio_s = result.stats.total, result.stats.audio_s
                with RunStore(workspace) as store:
                    texts[name] = {h.utterance_id: h.hypothesis for h in store.hypotheses(result.run_id)}
                print(f"round {round_ + 1} {name:<10} end to end {figures[name]['end_to_end_s'][-1]:6.1f} s, "
                      f"transcription {result.stats.wall_s:6.1f} s", flush=True)
    same = sum(1 for k, v in texts["in-process"].items() if texts["ray"].get(k) == v)
    load_after = os.getloadavg()

    def med(name, key):
        return statistics.median(figures[name][key])

    print()
    print(f"machine: {os.cpu_count()} cores, {cpu_info().get('model', '?')}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    print(f"{clips} clips, {audio_s:.1f} s of audio, {args.model}, {args.threads} threads in total; "
          f"ray {ray.__version__} local cluster started in {ray_start_s:.1f} s (not counted below)")
    print(f"{'engine':<12}{'threads':<20}{'end to end s':>14}{'transcribe s':>14}{'clips/s':>10}{'range (transcribe)':>22}")
    for name in engines:
        threads = f"1 x {args.threads}" if name == "in-process" else f"{args.threads} x 1"
        t = med(name, "transcribe_s")
        spread = f"{min(figures[name]['transcribe_s']):.1f}-{max(figures[name]['transcribe_s']):.1f}"
        print(f"{name:<12}{threads:<20}{med(name, 'end_to_end_s'):>14.1f}{t:>14.1f}{clips / t:>10.2f}{spread:>22}")
    slower = med("ray", "transcribe_s") / med("in-process", "transcribe_s") - 1
    print(f"ray vs in-process, transcription: {slower * 100:+.1f}% time (target: at most +10%) -> "
          f"{'met' if slower <= 0.10 else 'NOT met'}")
    print(f"identical transcripts: {same} of {len(texts['in-process'])}")
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "clips": clips, "audio_s": audio_s, "threads": args.threads,
                                               "ray_start_s": ray_start_s, "identical": same, "cores": os.cpu_count(),
                                               "load": [load_before, load_after]}, indent=2))
    ray.shutdown()
    return 0 if same == len(texts["in-process"]) else 1


if __name__ == "__main__":
    sys.exit(main())
