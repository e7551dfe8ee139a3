"""The regression report as Markdown: for pull requests, CI logs and terminals.

One table per candidate run (slice, utterances, baseline and candidate WER, the paired
change with its interval, p-values, CER, verdict), then language ID, hallucination and,
for lexicon runs, term figures. Rendered from the report dict alone, so a stored JSON
report can be re-rendered later.
"""

__all__ = ["render_markdown", "fmt_p", "render_review_markdown", "review_section_markdown"]

_MARK = {"improved": "✅ improved", "regressed": "❌ regressed", "unchanged": "unchanged", "too few": "too few"}


def _n(value, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.1f}"


def fmt_p(p, resamples: int | None = None) -> str:
    """A p-value as people read it: '<0.001' when the bootstrap saw no replicate across zero."""
    if p is None:
        return "—"
    if p == 0:
        return f"<{1 / resamples:.3g}" if resamples else "0"
    return f"{p:.3f}"


def _key(row: dict) -> str:
    return "overall" if row["column"] == "overall" else f"{row['column']}={row['value']}"


def render_markdown(report: dict) -> str:
    base = report["baseline"]
    lines = [
        f"# Regression report: against baseline {base['id']}",
        "",
        f"Baseline: {base['label']} — {base.get('model')} ({base.get('backend')}), {report['speech_utterances']} speech utterances; "
        f"normalizer {report['normalizer']}; paired {100 * report['confidence']:.0f}% bootstrap intervals ({report['resamples']} resamples, seed {report['seed']}); "
        f"a slice regresses when its change is significantly above 0 and above {report['tolerance_pp']:g} points; "
        f"slices under {report['min_utterances']} utterances are 'too few'."
        + (f" Only: {', '.join(report['only'])}." if report.get("only") else "")
        + (f" Resampled by {report['cluster']} (cluster bootstrap)." if report.get("cluster") else ""),
        "",
        f"Coverage: {report.get('coverage_rule', 'speech utterances with a hypothesis')}. "
        f"Baseline identity `{(base.get('identity') or '—')[:23]}`, commit {base.get('git_commit') or '—'}.",
        "",
    ]
    if report["regressed"]:
        named = "; ".join(f"{c['run']['label']} ({c['run']['id']}): {', '.join(c['regressions'])}" for c in report["comparisons"] if c["regressions"])
        lines += [f"**Regressions:** {named}", ""]
    else:
        lines += ["**No significant regression beyond the tolerance.**", ""]
    for comparison in report["comparisons"]:
        lines += _comparison(comparison, report)
    if report.get("review"):  # a review section (`workbench.review.review_report`) travels with the report
        lines += review_section_markdown(report["review"])
    return "\n".join(lines).rstrip() + "\n"


def _comparison(c: dict, report: dict) -> list[str]:
    run = c["run"]
    pairing = c.get("pairing") or {}
    left_out = [f"{pairing[k]} {k.replace('_', ' ')}" for k in ("baseline_only", "candidate_only", "failed_or_missing") if pairing.get(k)]
    out = [
        f"## {run['label']} ({run['id']}; {run.get('model')}, {run.get('backend')})",
        "",
        f"Identity `{(run.get('identity') or '—')[:23]}`; paired on {pairing.get('paired', '—')} utterances"
        + (f"; left out: {', '.join(left_out)} (e.g. {', '.join(pairing.get('examples', [])[:3])})" if left_out else "")
        + (f"; training data overlapping the held-out part: {run['training_overlap']}" if run.get("training_overlap") is not None else "")
        + ".",
        "",
        "| slice | utts | base WER | WER | change | 95% interval | p (bootstrap) | p (sign) | base CER | CER | CER change | verdict |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    cer_primary = False
    for s in c["slices"]:
        interval = "—" if s["change_low"] is None else f"[{s['change_low']:+.1f}, {s['change_high']:+.1f}]"
        verdict = _MARK[s["verdict"]] + (" (within tolerance)" if s.get("within_tolerance") else "")
        star = ""
        if s["primary"] == "cer":
            star, cer_primary = " *", True
        out.append(
            f"| {_key(s)}{star} | {s['utterances']} | {_n(s['baseline_wer'])} | {_n(s['wer'])} | {_signed(s['change'])} | {interval} "
            f"| {fmt_p(s['p_value'], report['resamples'])} | {fmt_p(s['sign_test_p'])} | {_n(s['baseline_cer'])} | {_n(s['cer'])} "
            f"| {_signed(s['cer_change'])} | {verdict} |"
        )
    if cer_primary:
        out += ["", "\\* a language written without spaces: CER is the primary figure and the verdict is taken on it."]
    lid = [r for r in c["language_id"] if r["baseline_accuracy"] is not None or r["accuracy"] is not None]
    if lid:
        out += ["", "Language ID accuracy %:", "", "| slice | utts | baseline | candidate |", "|---|---:|---:|---:|"]
        out += [f"| {_key(r)} | {r['utterances']} | {_n(r['baseline_accuracy'])} | {_n(r['accuracy'])} |" for r in lid]
    h0, h1 = c["hallucination"]["baseline"], c["hallucination"]["candidate"]
    out += [
        "",
        "Hallucination:",
        "",
        "| | no-speech clips | with output | words | repetition loops | compression ratio > 2.4 % |",
        "|---|---:|---:|---:|---:|---:|",
        f"| baseline | {h0['no_speech_clips']} | {h0['clips_with_output']} | {h0['words']} | {h0['repetition_loops']} | {_n(h0['high_compression_share'])} |",
        f"| candidate | {h1['no_speech_clips']} | {h1['clips_with_output']} | {h1['words']} | {h1['repetition_loops']} | {_n(h1['high_compression_share'])} |",
    ]
    longform = c.get("longform")
    if longform:
        out += ["", "Long recordings (whole-recording WER, time-matched segment WER and the long-form failures):", "",
                "| slice | run | recordings | WER % | segment WER % | words in silence | loops (words) | dropped segments | timestamp error s |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for label, rows in (("baseline", longform["baseline"]), ("candidate", longform["candidate"])):
            for r in rows:
                key = "overall" if r["column"] == "overall" else f"{r['column']}={r['value']}"
                out.append(f"| {key} | {label} | {r['recordings']} | {_n(None if r['wer'] is None else 100 * r['wer'])} | "
                           f"{_n(None if r.get('segment_wer') is None else 100 * r['segment_wer'])} | {r.get('silence_words', '—')} | "
                           f"{r.get('loops', '—')} ({r.get('loop_words', '—')}) | {r.get('dropped_segments', '—')} | "
                           f"{_n(r.get('timestamp_error_s'), 2)} |")
        per_minute = longform.get("per_minute") or {}
        if per_minute.get("baseline"):
            out += ["", "WER per minute of each recording (baseline → candidate, %):", ""]
            candidate = {r["utterance_id"]: r["minutes"] for r in per_minute.get("candidate", [])}
            for r in per_minute["baseline"]:
                after = {m["minute"]: m["wer"] for m in candidate.get(r["utterance_id"], [])}
                cells = [f"{m['minute']}: {_n(None if m['wer'] is None else 100 * m['wer'], 0)} → "
                         f"{_n(None if after.get(m['minute']) is None else 100 * after[m['minute']], 0)}" for m in r["minutes"]]
                out.append(f"- {r['utterance_id']}: " + "; ".join(cells))
    terms = c.get("terms")
    if terms:
        overall = {r["run"]: r for r in terms["terms"] if r["column"] == "overall"}
        over = next((o for o in terms["over_correction"] if o["column"] == "overall"), None)
        b, k = overall.get("baseline", {}), overall.get("candidate", {})
        out += [
            "",
            f"Lexicon terms ({terms['lexicon']}): recall {_n(b.get('recall'))} → {_n(k.get('recall'))} %, "
            f"precision {_n(b.get('precision'))} → {_n(k.get('precision'))} %"
            + (f"; words broken / fixed: {over['broken']} / {over['fixed']}" if over else "")
            + (f"; words touched / invented: {over['touched']} / {over['invented']}" if over and "touched" in over else ""),
        ]
    out.append("")
    return out


# ----------------------------------------------------------------------------- review


def _pct_share(value) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def render_review_markdown(review: dict) -> str:
    """The review report of one run (`workbench.review.review_report`) as a Markdown document."""
    return "\n".join([f"# Review queue of run {review['run']}", ""] + review_section_markdown(review, level=2)).rstrip() + "\n"


def review_section_markdown(review: dict, level: int = 2) -> list[str]:
    """The review section: settings, the WER table at 10/20/30/50% and at the budget (queue,
    random, oracle; SIMULATED), per-slice capture and calibration, suspect references."""
    h = "#" * level
    cal = review["calibration"]
    calibration = (f"{cal['method']} calibration on train-part run {cal['run']} ({cal['utterances']} utterances)"
                   if cal["method"] != "uncalibrated" else
                   "uncalibrated (" + (f"train-part run {cal['run']}: " if cal.get("run") else "")
                   + f"{cal.get('reason') or 'no train-part run'})")
    budget, at, curve = review["budget"], review["at_budget"], review["curve"]
    excluded = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in review["excluded"].items() if n)
    ratio = f"; the queue removes {at['ratio_vs_random']:.2f}× the word errors a random order does" if at.get("ratio_vs_random") else ""
    out = [
        f"{h} Human review: what reviewing the least confident transcripts is worth (simulated)",
        "",
        f"Run {review['run']}: {review['queued']} speech utterances with a hypothesis queued, least likely correct first"
        + (f" ({excluded} not queued)" if excluded else "") + f"; normalizer {review['normalizer']}. "
        f"Confidence: {calibration}. Simulated review: each reviewed hypothesis is replaced by its reference; "
        f"random = mean of {curve['shuffles']} seeded shuffles (seed {curve['seed']}); oracle = most word errors first.",
        "",
        f"At the budget, {budget['description']} = {budget['utterances']} utterances"
        + (f" ({budget['minutes']:.1f} min of audio)" if budget.get("minutes") is not None else "")
        + f": WER {_n(at['before'])}% → queue {_n(at['queue'])}%, random {_n(at['random'])}%, oracle {_n(at['oracle'])}%{ratio}. "
        f"Area between the queue's and random's curves: {curve['area_vs_random']:.2f} WER points"
        + (f" ({100 * curve['share_of_oracle']:.0f}% of the oracle's)." if curve.get("share_of_oracle") is not None else "."),
        "",
        "| reviewed | utterances | WER queue % | WER random % | WER oracle % |",
        "|---:|---:|---:|---:|---:|",
        f"| 0% | 0 | {_n(curve['queue'][0])} | {_n(curve['random'][0])} | {_n(curve['oracle'][0])} |",
    ]
    out += [f"| {r['k']}% | {r['utterances']} | {_n(r['queue'])} | {_n(r['random'])} | {_n(r['oracle'])} |" for r in review["table"]]
    out += [
        "",
        f"Per slice at the budget: the share of the slice's word errors the review catches (queue, random, oracle), "
        "its WER before and after (queue), and its calibration error (ECE, 0 = calibrated):",
        "",
        "| slice | utts | reviewed | word errors | caught (queue) | caught (random) | caught (oracle) | WER | after | ECE | suspects |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in review["slices"]:
        out.append(f"| {_key(s)} | {s['utterances']} | {s['reviewed']} | {s['errors']} | {_pct_share(s['share_queue'])} "
                   f"| {_pct_share(s['share_random'])} | {_pct_share(s['share_oracle'])} | {_n(s['wer_before'])} "
                   f"| {_n(s['wer_after'])} | {s['ece']:.3f} | {s['suspects']} |")
    suspects = review["suspects"]
    out += ["", f"Suspect references (confidence ≥ {suspects['threshold']:g} and still disagreeing with the reference; "
                f"the reference may be wrong): {suspects['count']}."]
    if suspects["items"]:
        out += ["", "| utterance | confidence | word errors | reference | hypothesis |", "|---|---:|---:|---|---|"]
        out += [f"| {_cell(s['utterance_id'])} | {s['confidence']:.3f} | {s['errors']} | {_cell(s['reference'])} | {_cell(s['hypothesis'])} |"
                for s in suspects["items"][:20]]
    if review.get("notes"):
        out += [""] + [f"Note: {n}" for n in review["notes"]]
    out.append("")
    return out


def _cell(text) -> str:
    """A table cell: pipes escaped, newlines flattened (transcripts are user data)."""
    return str(text).replace("|", "\\|").replace("\n", " ")
