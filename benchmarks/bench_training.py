#!/usr/bin/env python3
"""Benchmark: one training step of LoRA against full fine-tuning, same model, same batch.

What it measures
----------------
For each method (``lora``, ``full``, and ``full-frozen-encoder``), in a FRESH child
process (so peak memory is that method's alone):

* the start model resolved offline to a transformers folder (default ``tiny.en``);
* one fixed batch of real clips from the embedded demo corpus's TRAIN part (English,
  speech only; ``--batch`` clips), features and labels built exactly as
  `workbench.training` builds them (`SpeechCollator`);
* the model as `workbench.training` prepares it: peft LoRA with the default
  `LoraOptions` (r 32, alpha 64, q_proj + v_proj) or all weights trainable (optionally
  the encoder frozen); AdamW over the trainable parameters; gradient checkpointing off
  (``--checkpointing`` turns it on);
* ``--warmup`` untimed steps, then ``--steps`` timed steps (forward, backward,
  optimizer step, zero grad); the median step time is reported.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the child's peak
resident set (``ru_maxrss``), which includes the Python runtime, torch and the model
(the baseline for comparison is printed: the same child after loading, before training).

How to run (from the repository root, in the project's venv)::

    . .venv/bin/activate
    python benchmarks/bench_training.py                    # tiny.en, CPU, about 2 minutes
    python benchmarks/bench_training.py --model base --device cuda --batch 16

Options: --model tiny.en --device cpu|cuda --batch 4 --steps 5 --warmup 1 --threads 2
--checkpointing --methods lora,full,full-frozen-encoder
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(args) -> dict:
    import resource

    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    sys.path.insert(0, str(ROOT))
    from workbench.audio import load_audio
    from workbench.bench import demo_manifest
    from workbench.escalation_config import LoraOptions
    from workbench.models import resolve_model
    from workbench.service import DataSelection, select_data
    from workbench.training import SpeechCollator

    torch.manual_seed(0)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    path = resolve_model(args.model, "transformers").hf_dir
    processor = WhisperProcessor.from_pretrained(str(path))
    clips = [u for u in select_data(DataSelection(data=str(demo_manifest()), part="train")).utterances
             if u.language == "en" and not u.no_speech][: args.batch]
    features = processor.feature_extractor([load_audio(u.audio) for u in clips], sampling_rate=16000, return_tensors="np").input_features
    start = processor.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    batch = SpeechCollator(start)([{"input_features": f, "labels": processor.tokenizer(u.reference).input_ids} for f, u in zip(features, clips)])
    batch = {k: v.to(args.device) for k, v in batch.items()}

    model = WhisperForConditionalGeneration.from_pretrained(str(path))
    model.config.use_cache = False
    if args.method == "full-frozen-encoder":
        model.model.encoder.requires_grad_(False)
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        o = LoraOptions()
        model = get_peft_model(model, LoraConfig(r=o.r, lora_alpha=o.alpha, lora_dropout=o.dropout, target_modules=list(o.target_modules)))
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.to(args.device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def step() -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.steps)]
    peak = (torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        "method": args.method,
        "step_s": statistics.median(times),
        "steps_s": times,
        "samples_per_s": args.batch / statistics.median(times),
        "peak_mb": peak,
        "loaded_rss_mb": rss_loaded,
        "trainable": sum(p.numel() for p in params),
        "total": sum(p.numel() for p in model.parameters()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--methods", default="lora,full,full-frozen-encoder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.method = args.child
        print(json.dumps(child(args)))
        return 0

    results = []
    for method in args.methods.split(","):
        cmd = [sys.executable, __file__, "--child", method, "--model", args.model, "--device", args.device,
               "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--threads", str(args.threads)] + (["--checkpointing"] if args.checkpointing else [])
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    memory = "peak GPU memory allocated" if args.device.startswith("cuda") else "peak RSS of the process"
    print(f"{args.model} on {args.device}, batch {args.batch} real clips, gradient checkpointing "
          f"{'on' if args.checkpointing else 'off'}; median of {args.steps} steps after {args.warmup} warm-up\n")
    print(f"| method | trainable params | step s | samples/s | {memory} MB | RSS after load MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['method']} | {r['trainable']:,} of {r['total']:,} | {r['step_s']:.2f} | {r['samples_per_s']:.2f} "
              f"| {r['peak_mb']:.0f} | {r['loaded_rss_mb']:.0f} |")
    by = {r["method"]: r for r in results}
    if "lora" in by and "full" in by:
        print(f"\nratio full / lora: step time {by['full']['step_s'] / by['lora']['step_s']:.2f}x, "
              f"peak memory {by['full']['peak_mb'] / by['lora']['peak_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
