"""How the command line shows results: the console text and the data files of each command.

Presentation only: these functions format what `workbench.cli`'s commands got back from
the core modules and print it; nothing here computes a score. Core modules never import
this module (tests/test_layering.py); the TUI has its own presentation.
"""

from .reports import format_table, pct

__all__ = [
    "comparison_dict",
    "format_comparison",
    "format_longform_comparison",
    "print_bench",
    "format_longform",
    "print_problems",
    "print_review",
    "print_train_event",
    "report_facts",
]


def print_problems(problems, show: int, title: str = "Problems") -> None:
    """The first `show` problems, one a line, under a heading that counts them all."""
    if not problems:
        return
    errors = sum(1 for p in problems if p.kind == "error")
    print(f"\n{title}: {len(problems)} ({errors} excluded rows or files, {len(problems) - errors} warnings)")
    for p in problems[:show]:
        print(f"  {p}")
    if len(problems) > show:
        print(f"  … and {len(problems) - show} more (all of them in --json)")


def report_facts(report: dict) -> list[tuple[str, str]]:
    """The (label, value) lines a Markdown report opens with."""
    data = report.get("data", {})
    facts = [("run", report.get("run_id", "")), ("held-out id", f"`{report.get('heldout_id', '')}`")]
    if data:
        facts.append(("data", ", ".join(data.get("sources", []))))
        facts.append(("utterances scored", f"{data.get('utterances_scored')} ({data.get('excluded')} rows excluded)"))
    if report.get("hypotheses"):
        facts.append(("hypotheses", report["hypotheses"]["source"]))
    if report.get("git_commit"):
        facts.append(("workbench commit", report["git_commit"]))
    return facts


def print_bench(result) -> None:
    """A bench run on the console: what was transcribed, the slice table, language ID,
    no-speech clips, failed clips and data problems."""
    stats = result.stats
    resumed = f", resumed with {stats.resumed} already done" if stats.resumed else ""
    rtf = f"{stats.audio_s / stats.wall_s:.1f}× real time" if stats.wall_s and stats.audio_s else "nothing left to transcribe"
    reused = " (an identical finished run, reused: --fresh decodes again)" if getattr(result, "claim", "") == "reused" else ""
    print(f"run {result.run_id}{reused}: {stats.total} utterances{resumed}; transcribed {stats.transcribed} ({stats.audio_s:.0f} s of audio, {rtf})")
    if getattr(result, "coverage", None) is not None:
        print(f"covered: {result.coverage.describe()}")
    for note in result.report.get("notes", ()):
        print(f"note: {note}")
    print()
    print(format_table(result.evaluation.normalized, result.evaluation.raw))
    lid = [s for s in result.language_id if s.utterances]
    if lid:
        print("\nLanguage ID (detected vs the language column):")
        for s in lid:
            label = "overall" if s.column == "overall" else f"{s.column}={s.value}"
            wrong = ", ".join(f"{lang} ×{n}" for lang, n in s.confusions)
            print(f"  {label:<36} {pct(s.accuracy, 1):>6}%  of {s.utterances}" + (f"   (wrong: {wrong})" if wrong else ""))
    h = result.hallucination
    if h.clips:
        print(f"\nNo-speech clips: {h.clips_with_output} of {h.clips} got text ({h.words} words)")
        for utt_id, text in h.examples:
            print(f"  {utt_id}: {text[:70]!r}")
    if result.report.get("longform"):
        print("\n" + format_longform(result.report["longform"]))
    print_problems(result.failed, 10, "Clips that could not be decoded (excluded from scores)")
    print_problems(result.data.problems, 5, "Data problems")


def format_longform(longform: dict) -> str:
    """Long recordings per slice: whole-recording WER, time-constrained segment WER, and the
    long-form failures (words in reference silences, repetition loops, dropped segments,
    timestamp error)."""
    def p(x):
        return "—" if x is None else f"{100 * x:.1f}"

    def n(x, unit=""):
        return "—" if x is None else (f"{x:.2f}{unit}" if isinstance(x, float) else f"{x}{unit}")

    lines = ["Long recordings (whole-recording WER from one alignment; segments matched within 5 s):",
             f"  {'slice':<36} {'recs':>4} {'WER%':>6} {'segWER%':>8} {'silence words':>13} {'loops (words)':>13} "
             f"{'dropped segs':>12} {'timestamp err':>13}"]
    for s in longform["slices"]:
        label = "overall" if s["column"] == "overall" else f"{s['column']}={s['value']}"
        lines.append(f"  {label[:36]:<36} {s['recordings']:>4} {p(s['wer']):>6} {p(s.get('segment_wer')):>8} "
                     f"{n(s.get('silence_words')):>13} {n(s.get('loops')) + ' (' + n(s.get('loop_words')) + ')':>13} "
                     f"{n(s.get('dropped_segments')):>12} {n(s.get('timestamp_error_s'), ' s'):>13}")
    worst = []
    for r in longform.get("recordings", []):
        minutes = [m for m in r.get("minutes", []) if m.get("wer") is not None]
        if minutes:
            m = max(minutes, key=lambda m: m["wer"])
            worst.append(f"  {r['utterance_id']}: worst minute {m.get('minute', '?')} at {100 * m['wer']:.0f}% WER")
    if worst:
        lines += ["Per-minute WER (the worst minute of each recording; every minute in --json):", *worst]
    return "\n".join(lines)


def _cell(outcome, key) -> str:
    s = next((x for x in outcome.result.evaluation.normalized.slices if (x.column, x.value) == key), None) if key != ("overall", "all") else outcome.result.evaluation.normalized.overall
    d = next((x for x in outcome.deltas if (x.column, x.value) == key), None)
    if s is None or s.wer is None:
        return "—"
    if outcome.spec == "baseline" or d is None or d.delta_wer is None:
        return f"{100 * s.wer:.1f}"
    mark = " ▲" if d.significantly_worse else (" ▼" if d.significantly_better else "")
    return f"{100 * s.wer:.1f} ({100 * d.delta_wer:+.1f}){mark}"


def format_comparison(comparison) -> str:
    """The strategy comparison as text: WER per slice with the change against the baseline,
    then the term figures of every strategy."""
    outcomes = comparison.outcomes
    base = outcomes[0].result.evaluation.normalized
    keys = [("overall", "all")] + [(s.column, s.value) for s in base.slices if s.column != "speaker"]
    header = ["slice"] + [o.spec for o in outcomes]
    rows = [["overall" if k[0] == "overall" else f"{k[0]}={k[1]}"] + [_cell(o, k) for o in outcomes] for k in keys]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    lines = [
        "Normalized WER % per slice; (change vs baseline), ▲/▼ = significantly worse/better (paired 95% bootstrap).",
        "",
        fmt(header),
        fmt(["-" * w for w in widths]),
    ] + [fmt(r) for r in rows]
    lines += ["", ("broken: reference words right before and wrong after (share of the words touched: the word edit "
                   "distance before -> after); invented: words written that occur nowhere in the reference; decode s: "
                   "decoding (a two-pass strategy's first pass included) plus post-processing, as measured when each run "
                   "was made; RTF: decoding seconds per second of audio; again: utterances a two-pass strategy decoded "
                   "again; post s/utt, LM tok/utt: what the post-processing steps cost per utterance."), ""]
    table = [["strategy", "term recall", "term prec.", "broken", "fixed", "touched", "invented", "replaced", "no-speech words",
              "decode s", "RTF", "again", "post s/utt", "LM tok/utt", "run"]]
    for o in outcomes:
        t = o.terms[0] if o.terms else None
        over = o.over[0]
        base = o.spec == "baseline"
        cost = o.cost or {}
        again = cost.get("decoded_again")
        share = f" ({pct(over.broken_share, 1)}%)" if over.broken_share is not None and not base else ""
        table.append([
            o.spec, pct(t.recall, 1) if t else "—", pct(t.precision, 1) if t else "—",
            "—" if base else f"{over.broken}{share}", "—" if base else str(over.fixed), "—" if base else str(over.touched),
            "—" if base else str(over.invented), str(o.replacements), str(o.result.hallucination.words),
            _seconds(cost.get("decode_s", 0.0) + cost.get("post_s", 0.0)) if "decode_s" in cost else "—",
            str(cost["real_time_factor"]) if cost.get("real_time_factor") is not None else "—",
            str(again) if again is not None else "—",
            f"{cost['post_seconds_per_utterance']:.3f}" if "post_seconds_per_utterance" in cost else "—",
            f"{cost['post_lm_tokens_per_utterance']:.0f}" if "post_lm_tokens_per_utterance" in cost else "—",
            o.result.run_id,
        ])
    lines += _columns(table)
    terms = [o for o in outcomes if len(o.terms) > 1]
    if terms:
        lines += ["", *format_term_slices(outcomes)]
    versus = [o for o in outcomes if getattr(o, "versus", None)]
    if versus:
        lines += ["", f"Against the {versus[0].versus} layer alone: WER change (paired 95% bootstrap), words broken / fixed / invented.", ""]
        grid = [["slice"] + [o.spec for o in versus]]
        for key in keys:
            cells = []
            for o in versus:
                d = next((x for x in o.versus_deltas if (x.column, x.value) == key), None)
                if d is None or d.delta_wer is None:
                    cells.append("—")
                    continue
                mark = " ▲" if d.significantly_worse else (" ▼" if d.significantly_better else "")
                span = f" [{100 * d.interval.low:+.1f}, {100 * d.interval.high:+.1f}]" if d.interval is not None else ""
                cells.append(f"{100 * d.delta_wer:+.1f}{span}{mark}")
            grid.append(["overall" if key[0] == "overall" else f"{key[0]}={key[1]}"] + cells)
        over_row = ["words broken/fixed/invented"] + [f"{o.versus_over[0].broken}/{o.versus_over[0].fixed}/{o.versus_over[0].invented}"
                                                     if o.versus_over else "—" for o in versus]
        lines += _columns(grid + [over_row])
    from .strategy_runs import longform_side_by_side

    longform = longform_side_by_side(comparison)
    if longform:
        lines += ["", *format_longform_comparison(longform)]
    if comparison.mined:
        learned = sum(len(v) for v in comparison.mined.values())
        lines.append(f"\nLearned {learned} misrecognitions of {len(comparison.mined)} terms from the train part (run {comparison.train_run}).")
        by_accent = getattr(comparison, "mined_by_accent", ())
        if by_accent:
            lines.append("Learned from each accent's train utterances alone: " + ", ".join(f"{a} {n}" for a, n in by_accent) + ".")
    if comparison.suggestions:
        lines.append("Words the model keeps getting wrong that are not in the lexicon: " + ", ".join(f"{w} ×{n}" for w, n in comparison.suggestions[:15]))
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.1f}"


def format_term_slices(outcomes) -> list[str]:
    """Term recall / precision per slice (accent, language, ...) of every strategy side by
    side: whom the lexicon layer serves."""
    keys = [(t.column, t.value) for t in outcomes[0].terms if t.column != "overall" and t.column != "speaker"]
    if not keys:
        return []
    by = [{(t.column, t.value): t for t in o.terms} for o in outcomes]
    table = [["slice", "terms"] + [o.spec for o in outcomes]]
    for key in keys:
        first = by[0].get(key)
        if first is None or not first.in_reference:
            continue
        cells = []
        for terms in by:
            t = terms.get(key)
            cells.append("—" if t is None else f"{pct(t.recall, 0)}/{pct(t.precision, 0)}")
        table.append([f"{key[0]}={key[1]}", str(first.in_reference)] + cells)
    return ["Term recall / precision % per slice (terms: lexicon terms in the references):", ""] + _columns(table)


def format_longform_comparison(rows: list[dict]) -> list[str]:
    """The long recordings' measures of each strategy side by side
    (`strategy_runs.longform_side_by_side`): overall, then the WER per slice."""
    def p(x, digits=1):
        return "—" if x is None else f"{100 * x:.{digits}f}"

    def n(x, unit=""):
        return "—" if x is None else (f"{x:.2f}{unit}" if isinstance(x, float) else f"{x}{unit}")

    first = next(r["overall"] for r in rows if r["overall"])
    minutes = next((r["per_minute"]["minutes"] for r in rows if r["per_minute"]), 0)
    header = ["strategy", "WER%", "segWER%", "minute WER% med/p90/max", "worst minute", ">=50% min",
              "silence words", "loops (words)", "dropped segs", "deleted segs", "timestamp err"]
    table = [header]
    for r in rows:
        o, m = r["overall"] or {}, r["per_minute"] or {}
        worst = m.get("worst")
        table.append([
            r["strategy"], p(o.get("wer")), p(o.get("segment_wer")),
            f"{p(m.get('median_wer'), 0)} / {p(m.get('p90_wer'), 0)} / {p(m.get('worst_wer'), 0)}",
            f"{worst['utterance_id']} {worst['minute']}:00-{worst['minute'] + 1}:00" if worst else "—", n(m.get("minutes_over_half")),
            n(o.get("silence_words")), f"{n(o.get('loops'))} ({n(o.get('loop_words'))})", n(o.get("dropped_segments")),
            n(o.get("deleted_segments")), n(o.get("timestamp_error_s"), " s"),
        ])
    count = first["recordings"]
    lines = [f"Long recordings, strategy by strategy ({count} recording{'s' if count != 1 else ''}, {minutes} minutes with speech):",
             "WER% from one alignment of each whole recording; segWER%: words matched within 5 s of their segment; minute "
             "WER%: median, 90th percentile and worst minute; silence words: written in reference silences; dropped: "
             "reference segments no word is near; deleted: every word of a segment missed.", ""]
    lines += _columns(table)
    keys = list(dict.fromkeys((x["column"], x["value"]) for r in rows for x in r["slices"]))
    if keys:
        by = [{(x["column"], x["value"]): x for x in r["slices"]} for r in rows]
        grid = [["slice"] + [r["strategy"] for r in rows]]
        for key in keys:
            cells = []
            for slices in by:
                x = slices.get(key)
                cells.append("—" if x is None else f"{p(x.get('wer'))} (d{n(x.get('dropped_segments'))} s{n(x.get('silence_words'))})")
            grid.append([f"{key[0]}={key[1]}"] + cells)
        lines += ["", "Long-recording WER % per slice (d: dropped segments, s: words in silences):", ""] + _columns(grid)
    return lines


def _columns(table: list[list[str]]) -> list[str]:
    """Rows of cells as aligned text columns, a rule under the header."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return [fmt(table[0]), fmt(["-" * w for w in widths])] + [fmt(row) for row in table[1:]]


def comparison_dict(comparison) -> dict:
    """The strategy comparison as JSON-able data (what `bench --strategies --json` writes)."""
    import dataclasses

    from .strategy_runs import longform_side_by_side

    return {
        "strategies": [
            {
                "strategy": o.spec,
                "run_id": o.result.run_id,
                "report": o.result.report,
                "terms": [dataclasses.asdict(t) | {"recall": t.recall, "precision": t.precision} for t in o.terms],
                "deltas": [dataclasses.asdict(d) | {"significantly_worse": d.significantly_worse, "significantly_better": d.significantly_better} for d in o.deltas],
                "over_correction": [dataclasses.asdict(x) for x in o.over],
                "replacements": o.replacements,
                "cost": o.cost or {},
                "versus": o.versus,
                "versus_deltas": [dataclasses.asdict(d) | {"significantly_worse": d.significantly_worse,
                                                           "significantly_better": d.significantly_better} for d in o.versus_deltas],
                "versus_over_correction": [dataclasses.asdict(x) for x in o.versus_over],
            }
            for o in comparison.outcomes
        ],
        "data_problems": [str(p) for p in getattr(comparison, "data_problems", ())],
        "lexicon_problems": [str(p) for p in getattr(comparison, "lexicon_problems", ())],
        "mined_misrecognitions": comparison.mined,
        "mined_by_accent": dict(getattr(comparison, "mined_by_accent", ())),
        "suggested_terms": [list(s) for s in comparison.suggestions],
        "train_run": comparison.train_run,
        # long recordings: each strategy's whole-recording WER, WER per minute and failures side by side
        "longform": longform_side_by_side(comparison),
    }


def print_train_event(event) -> None:
    """One line per training progress event."""
    parts = [f"step {event.step}/{event.total_steps}", f"epoch {event.epoch:.2f}"]
    if event.loss is not None:
        parts.append(f"loss {event.loss:.3f}")
    if event.validation_wer is not None:
        parts.append(f"validation WER {event.validation_wer:.1f}%")
    if event.eta_s is not None:
        parts.append(f"ETA {event.eta_s:.0f}s")
    print("  " + ", ".join(parts), flush=True)


def print_review(a, show: int) -> None:
    """`workbench review`: the queue head, the simulated WER at the budget (queue, random,
    oracle), per-slice capture and calibration, and the suspect references."""
    queue = a.queue
    excluded = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in queue.excluded.items() if n)
    print(f"run {a.run_id}: {len(queue.items)} speech utterances with a hypothesis queued"
          + (f" ({excluded} not queued: the coverage rule)" if excluded else "") + f"; normalizer {a.normalizer}")
    cal = queue.calibrator
    if cal.calibrated:
        print(f"confidence: P(correct), {cal.method} calibration on train-part run {cal.fitted_on} ({cal.utterances} utterances)")
    else:
        print(f"confidence: uncalibrated ({f'train-part run {cal.fitted_on}: ' if cal.fitted_on else ''}{cal.reason})")
    for note in queue.notes:
        print(f"note: {note}")
    minutes = f", {a.reviewed_minutes:.1f} min of audio" if a.reviewed_minutes is not None else ""
    print(f"budget: {a.budget.describe()} = {a.reviewed} utterances{minutes}\n")
    print(f"{'rank':>4}  {'conf':>5}  {'utterance':<28}  hypothesis")
    for item in queue.items[:show]:
        label = item.utterance_id if len(item.utterance_id) <= 28 else "…" + item.utterance_id[-27:]
        print(f"{item.rank:>4}  {item.confidence:>5.3f}  {label:<28}  {item.hypothesis}")
        if item.low_confidence_words:
            print(f"{'':>43}low confidence: " + ", ".join(f"{w} ({p:.2f})" for _, w, p in item.low_confidence_words[:8]))
    ratio = a.ratio_vs_random
    print(f"\nWER at the budget (SIMULATED: each reviewed hypothesis replaced by its reference):")
    print(f"  before review  {a.wer_before:6.2f}%")
    print(f"  queue          {a.wer_queue:6.2f}%" + (f"  (removes {ratio:.2f}x the errors a random order does)" if ratio else ""))
    print(f"  random order   {a.wer_random:6.2f}%  (mean of {a.curve.shuffles} seeded shuffles)")
    print(f"  oracle order   {a.wer_oracle:6.2f}%  (most word errors first)")
    share = a.curve.share_of_oracle
    print(f"area between the queue's and random's curves: {a.curve.area_vs_random:.2f} WER points"
          + (f" ({100 * share:.0f}% of the oracle's)" if share is not None else ""))
    print(f"\n{'slice':<28} {'utts':>5} {'reviewed':>8} {'errors':>6} {'caught':>7} {'random':>7} {'oracle':>7} "
          f"{'WER':>6} {'after':>6} {'ECE':>5} {'suspects':>8}")

    def share_of(s, caught):
        value = s.share(caught)
        return "—" if value is None else f"{100 * value:.0f}%"

    for s in a.slices:
        key = s.key if len(s.key) <= 28 else s.key[:27] + "…"
        print(f"{key:<28} {s.utterances:>5} {s.reviewed:>8} {s.errors:>6} {share_of(s, s.caught_queue):>7} "
              f"{share_of(s, s.caught_random):>7} {share_of(s, s.caught_oracle):>7} {pct(s.wer_before / 100 if s.wer_before is not None else None, 1):>6} "
              f"{pct(s.wer_after / 100 if s.wer_after is not None else None, 1):>6} {s.ece:>5.3f} {s.suspects:>8}")
    print("caught: the share of the slice's word errors the budget removes (queue, random order, oracle); "
          "ECE: the slice's calibration error")
    if a.suspects:
        print(f"\nSuspect references: {len(a.suspects)} transcripts with confidence >= {a.suspect_confidence:g} still disagree "
              f"with the reference (the reference may be wrong):")
        for s in a.suspects[:show]:
            print(f"  {s.utterance_id} ({s.confidence:.3f}, {s.errors} word errors)\n    ref: {s.reference}\n    hyp: {s.hypothesis}")
    else:
        print(f"\nSuspect references: none (no transcript with confidence >= {a.suspect_confidence:g} disagrees with its reference)")
