"""The regression report (schema v1, `regression.build_report`) as ONE self-contained HTML file.

The file opens offline and can be mailed or attached to a CI run: the CSS is inline, there
is no script, no font and no URL, and the two charts are inline SVG drawn by matplotlib.
Every string that came from a run (ids, slice values, transcripts, paths) is HTML-escaped.

Layout: a header with the settings the verdicts depend on and a green/red banner; two
charts over all strategies (WER per slice; a forest plot of the paired changes); then per
candidate run its per-slice table, language-ID accuracy, hallucination and, for lexicon
runs, term recall/precision and over-correction.

matplotlib is imported inside the chart functions, so importing this module costs nothing,
and only through `matplotlib.figure.Figure`: no pyplot, so no GUI backend is chosen, no
global figure registry fills up, and a host process's own backend is left alone.
"""

import html
import io
import re

__all__ = ["render_html", "render_review_html", "review_section_html"]

DASH = "—"
VERDICT_CLASS = {"improved": "v-improved", "regressed": "v-regressed", "unchanged": "v-unchanged", "too few": "v-too-few"}
BASELINE_COLOUR = "#9e9e9e"
# Okabe-Ito: tells strategies apart for colour-blind readers too; red is kept for "regressed".
STRATEGY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
REGRESSED_EDGE = "#d32f2f"
CHART_LABEL_CHARS = 40  # longer slice labels are cut in the charts (the tables show them whole)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#202124;margin:0;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:16px 20px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:36px 0 6px;border-bottom:2px solid #dadce0;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:2px 18px;margin:8px 0 12px;padding:0}
.facts div{overflow-wrap:break-word}.facts b{color:#5f6368;font-weight:600}
.banner{padding:10px 14px;border-radius:6px;font-weight:600;margin:10px 0}
.banner.ok{background:#e6f4ea;color:#0d652d;border:1px solid #a8dab5}
.banner.bad{background:#fce8e6;color:#a50e0e;border:1px solid #f4b6b0}
.banner.warn{background:#fef7e0;color:#8a4b00;border:1px solid #f9d889;font-weight:500}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:4px 0 8px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e0e0e0;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f1f3f4;font-weight:600;vertical-align:bottom;white-space:normal;min-width:3em}
td.label,th.label{text-align:left;white-space:normal;overflow-wrap:break-word;min-width:10em;max-width:20em}
th[colspan]{text-align:center}
tr.overall td{font-weight:600;border-bottom:2px solid #bdc1c6}
tr.group-start td{border-top:2px solid #bdc1c6}
td.primary{font-weight:700;background:#f3f0ff}
td.verdict,th.verdict{text-align:left}
.v-improved{background:#e6f4ea;color:#0d652d;font-weight:600}
.v-regressed{background:#fce8e6;color:#a50e0e;font-weight:700}
.v-unchanged{background:#f1f3f4;color:#5f6368}
.v-too-few{background:#fff;color:#9aa0a6;font-style:italic}
.amber{display:inline-block;margin-left:6px;padding:0 5px;border-radius:3px;background:#fef7e0;color:#8a4b00;border:1px solid #f9d889;font-size:11px;font-style:normal}
.note{color:#5f6368;font-size:12.5px;margin:2px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.chart{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px;margin:8px 0 16px}
.chart svg{display:block;max-width:100%;height:auto;margin:0 auto}
ul.examples{margin:4px 0;padding-left:20px;font-size:12.5px;max-width:560px}
code{font-size:12.5px;overflow-wrap:break-word}
"""


# ----------------------------------------------------------------------------- formatting


def _e(value) -> str:
    return DASH if value is None else html.escape(str(value))


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    if round(value, 1) == 0:
        return "0.0"  # not "+0.0" or "-0.0": there is no direction to show
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _interval(low: float | None, high: float | None) -> str:
    return DASH if low is None or high is None else f"[{_num(low)}, {_num(high)}]"


def _p(value: float | None, resamples: int | None = None) -> str:
    """A p-value to 3 decimals. A bootstrap p of 0 means "none of the resamples", which is
    only worth writing as <0.001 when there were at least 1000 of them; an exact p (the
    sign test: resamples None) below 0.0005 would otherwise read as 0.000."""
    if value is None:
        return DASH
    if resamples is not None:
        return "&lt;0.001" if value == 0 and resamples >= 1000 else f"{value:.3f}"
    return "&lt;0.001" if value < 0.0005 else f"{value:.3f}"


def _slice_key(row: dict) -> tuple[str, str]:
    return row["column"], row["value"]


def _slice_label(row: dict) -> str:
    if row["column"] == "overall":
        return "overall"
    return f"{row['column']}={row['value'] or '(empty)'}"


def _row_class(row: dict) -> str:
    return ' class="overall"' if row["column"] == "overall" else ""


def _run_names(report: dict) -> list[str]:
    """A display name per comparison: its strategy label, plus the run id where two share one."""
    labels = [str(c["run"].get("label") or c["run"]["id"]) for c in report["comparisons"]]
    return [f"{label} ({c['run']['id']})" if labels.count(label) > 1 else label for label, c in zip(labels, report["comparisons"])]


def _slice_order(report: dict) -> list[dict]:
    """One row per slice, in the tables' order (overall first), the first comparison's row
    standing for the slice; comparisons normally share the same slices."""
    seen: dict[tuple[str, str], dict] = {}
    for comparison in report["comparisons"]:
        for row in comparison["slices"]:
            seen.setdefault(_slice_key(row), row)
    return sorted(seen.values(), key=lambda r: r["column"] != "overall")  # stable: keeps the rest in order


# ----------------------------------------------------------------------------- header


def _header(report: dict, names: list[str]) -> str:
    base = report.get("baseline") or {}
    facts = [
        ("baseline run", base.get("id")),
        ("model", base.get("model")),
        ("backend", base.get("backend")),
        ("normalizer", report.get("normalizer")),
        ("tolerance", f"{report.get('tolerance_pp', 0):g} pp"),
        ("confidence", f"{report.get('confidence', 0):.0%}"),
        ("bootstrap resamples", f"{report.get('resamples')} (seed {report.get('seed')})"),
        ("min utterances per slice", report.get("min_utterances")),
        ("speech utterances", report.get("speech_utterances")),
        ("coverage", report.get("coverage_rule")),
        ("baseline identity", (base.get("identity") or "")[:23] or None),
        ("slice columns", ", ".join(report.get("slice_columns") or []) or None),
        ("created", report.get("created")),
    ]
    if report.get("only"):
        facts.insert(8, ("only", ", ".join(report["only"])))
    if report.get("cluster"):
        facts.append(("bootstrap resamples whole", str(report["cluster"])))
    items = "".join(f"<div><b>{_e(k)}:</b> {_e(v)}</div>" for k, v in facts)
    return f"<h1>Regression report</h1>\n<div class=\"facts\">{items}</div>\n{_banner(report, names)}"


def _banner(report: dict, names: list[str]) -> str:
    found = [(name, c["regressions"]) for name, c in zip(names, report["comparisons"]) if c.get("regressions")]
    if report.get("regressed") or found:
        parts = "; ".join(f"{_e(name)}: {_e(', '.join(keys))}" for name, keys in found) or "see the tables below"
        out = f'<div class="banner bad">Regressions: {parts}</div>'
    else:
        out = f'<div class="banner ok">No significant regression beyond the tolerance ({report.get("tolerance_pp", 0):g} pp)</div>'
    # A significant rise inside the tolerance is not a regression, but nobody should miss it.
    rises = [(name, [_slice_label(r) for r in c["slices"] if r.get("within_tolerance")]) for name, c in zip(names, report["comparisons"])]
    rises = [(name, keys) for name, keys in rises if keys]
    if rises:
        text = "; ".join(f"{_e(name)}: {_e(', '.join(keys))}" for name, keys in rises)
        out += f'\n<div class="banner warn">Significant rises within the tolerance: {text}</div>'
    return out


# ----------------------------------------------------------------------------- tables


def _verdict_cell(row: dict) -> str:
    verdict = row.get("verdict") or "too few"
    note = '<span class="amber" title="significant rise, but within the tolerance">within tolerance</span>' if row.get("within_tolerance") else ""
    return f'<td class="verdict {VERDICT_CLASS.get(verdict, "v-unchanged")}">{_e(verdict)}{note}</td>'


def _slice_table(comparison: dict, report: dict) -> str:
    resamples = report.get("resamples") or 0
    level = f"{report.get('confidence', 0.95):.0%}"
    head = (
        "<tr><th class=\"label\">slice</th><th>utter&shy;ances</th><th>baseline WER</th><th>WER</th><th>change (pp)</th>"
        f"<th>{level} interval of the paired change</th><th>p (paired boot&shy;strap)</th><th>sign-test p</th>"
        "<th>baseline CER</th><th>CER</th><th>CER change (pp)</th><th class=\"verdict\">verdict</th></tr>"
    )
    body, any_cer, previous = [], False, None
    for row in comparison["slices"]:
        cer = row.get("primary") == "cer"
        any_cer |= cer
        cer_cls = ' class="primary"' if cer else ""  # bold only where CER, not WER, carries the verdict
        # A rule between slice columns; the overall row already has one under it.
        starts_group = row["column"] not in (previous, "overall") and previous not in (None, "overall")
        row_class = "overall" if row["column"] == "overall" else "group-start" if starts_group else ""
        previous = row["column"]
        cer_change = _num(row.get("cer_change"), signed=True)
        if cer:  # the verdict and p are on CER here: show the interval they rest on
            cer_change += f" {_interval(row.get('cer_change_low'), row.get('cer_change_high'))}"
        sign_title = f"{row.get('utterances_better', 0)} utterances better, {row.get('utterances_worse', 0)} worse"
        body.append(
            f'<tr class="{row_class}"><td class="label">{_e(_slice_label(row))}{" †" if cer else ""}</td>'
            f"<td>{_e(row.get('utterances'))}</td>"
            f"<td>{_num(row.get('baseline_wer'))}</td><td>{_num(row.get('wer'))}</td>"
            f"<td>{_num(row.get('change'), signed=True)}</td>"
            f"<td>{_interval(row.get('change_low'), row.get('change_high'))}</td>"
            f"<td>{_p(row.get('p_value'), resamples)}</td>"
            f'<td title="{_e(sign_title)}">{_p(row.get("sign_test_p"))}</td>'
            f"<td{cer_cls}>{_num(row.get('baseline_cer'))}</td><td{cer_cls}>{_num(row.get('cer'))}</td>"
            f"<td{cer_cls}>{cer_change}</td>{_verdict_cell(row)}</tr>"
        )
    notes = [(
        "WER and CER in %; changes in percentage points (candidate − baseline), negative is better. "
        f"Interval and p: paired bootstrap over utterances ({_e(resamples)} resamples). "
        "Sign test: among utterances whose error count differs, how many got worse (hover for counts). "
        f"“too few”: under {_e(report.get('min_utterances'))} utterances."
    )]
    if any_cer:
        notes.append(
            "† CER is the primary figure for this slice (a language written without spaces between words): "
            "its p-value and verdict are on CER, and the CER change shows its own interval."
        )
    table = f'<div class="scroll"><table>\n{head}\n' + "\n".join(body) + "\n</table></div>"
    return table + "".join(f'<p class="note">{n}</p>' for n in notes)


def _language_table(rows: list[dict]) -> str:
    if not rows:
        return '<p class="note">No language-ID results stored for these runs.</p>'
    body = "".join(
        f"<tr{_row_class(r)}><td class=\"label\">{_e(_slice_label(r))}</td><td>{_e(r.get('utterances'))}</td>"
        f"<td>{_num(r.get('baseline_accuracy'))}</td><td>{_num(r.get('accuracy'))}</td>"
        f"<td>{_num(_diff(r.get('accuracy'), r.get('baseline_accuracy')), signed=True)}</td></tr>"
        for r in rows
    )
    return (
        '<table><tr><th class="label">slice</th><th>utter&shy;ances</th><th>baseline %</th><th>candidate %</th><th>change (pp)</th></tr>'
        f"{body}</table>"
    )


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


HALLUCINATION_FIELDS = (
    ("no_speech_clips", "no-speech clips", "{}"),
    ("clips_with_output", "… with output", "{}"),
    ("words", "words on no-speech clips", "{}"),
    ("repetition_loops", "repetition loops", "{}"),
    ("high_compression_share", "compression ratio > 2.4 (%)", "{:.1f}"),
)


def _hallucination(block: dict) -> str:
    base, cand = block.get("baseline") or {}, block.get("candidate") or {}

    def cell(run: dict, key: str, fmt: str) -> str:
        value = run.get(key)
        return DASH if value is None else _e(fmt.format(value))

    rows = "".join(
        f'<tr><td class="label">{_e(title)}</td><td>{cell(base, key, fmt)}</td><td>{cell(cand, key, fmt)}</td></tr>'
        for key, title, fmt in HALLUCINATION_FIELDS
    )
    out = f'<table><tr><th class="label"></th><th>baseline</th><th>candidate</th></tr>{rows}</table>'
    for name, run in (("baseline", base), ("candidate", cand)):
        items = [f"<li><code>{_e(uid)}</code>: “{_e(text)}”</li>" for uid, text in (run.get("examples") or [])]
        items += [f"<li><code>{_e(uid)}</code>: repetition loop</li>" for uid in (run.get("loop_examples") or [])]
        if items:
            out += f'<p class="note">{name}, examples:</p><ul class="examples">{"".join(items)}</ul>'
    return out


def _terms(terms: dict) -> str:
    by_key: dict[tuple[str, str], dict] = {}
    for t in terms.get("terms") or []:
        entry = by_key.setdefault(_slice_key(t), {"column": t["column"], "value": t["value"]})
        entry[f"{t['run']}_recall"], entry[f"{t['run']}_precision"] = t.get("recall"), t.get("precision")
    for o in terms.get("over_correction") or []:
        entry = by_key.setdefault(_slice_key(o), {"column": o["column"], "value": o["value"]})
        entry["broken"], entry["fixed"] = o.get("broken"), o.get("fixed")
    rows = sorted(by_key.values(), key=lambda r: r["column"] != "overall")
    body = "".join(
        f"<tr{_row_class(r)}><td class=\"label\">{_e(_slice_label(r))}</td>"
        f"<td>{_num(r.get('baseline_recall'))}</td><td>{_num(r.get('candidate_recall'))}</td>"
        f"<td>{_num(r.get('baseline_precision'))}</td><td>{_num(r.get('candidate_precision'))}</td>"
        f"<td>{_e(r.get('broken'))}</td><td>{_e(r.get('fixed'))}</td></tr>"
        for r in rows
    )
    return (
        f'<p class="note">Lexicon <code>{_e(terms.get("lexicon"))}</code>. Recall and precision of its terms in %; '
        "over-correction: words the candidate broke / fixed against the baseline.</p>"
        '<table><tr><th class="label" rowspan="2">slice</th><th colspan="2">term recall</th><th colspan="2">term precision</th>'
        '<th colspan="2">over-correction</th></tr>'
        "<tr><th>baseline</th><th>candidate</th><th>baseline</th><th>candidate</th><th>broken</th><th>fixed</th></tr>"
        f"{body}</table>"
    )


def _comparison(comparison: dict, name: str, report: dict) -> str:
    run = comparison["run"]
    facts = f"run <code>{_e(run.get('id'))}</code> · model {_e(run.get('model'))} · {_e(run.get('backend'))} · created {_e(run.get('created'))} · {_e(run.get('utterances'))} utterances"
    pairing = comparison.get("pairing") or {}
    facts += f" · identity <code>{_e((run.get('identity') or '—')[:23])}</code> · paired on {_e(pairing.get('paired', '—'))}"
    left_out = [f"{pairing[k]} {k.replace('_', ' ')}" for k in ("baseline_only", "candidate_only", "failed_or_missing") if pairing.get(k)]
    if left_out:
        facts += f" · left out: {_e(', '.join(left_out))}"
    if run.get("training_overlap") is not None:
        facts += f" · training utterances in the held-out part: {_e(run['training_overlap'])}"
    status = (
        f'<div class="banner bad">Regressed: {_e(", ".join(comparison["regressions"]))}</div>'
        if comparison.get("regressions")
        else '<div class="banner ok">No significant regression beyond the tolerance</div>'
    )
    cards = [
        f"<div><h3>Language-ID accuracy</h3>{_language_table(comparison.get('language_id') or [])}</div>",
        f"<div><h3>Hallucination</h3>{_hallucination(comparison.get('hallucination') or {})}</div>",
    ]
    if comparison.get("terms") is not None:
        cards.append(f"<div><h3>Terms</h3>{_terms(comparison['terms'])}</div>")
    return (
        f"<section>\n<h2>{_e(name)} vs baseline</h2>\n<p class=\"note\">{facts}</p>\n{status}\n"
        f"<h3>Per slice</h3>\n{_slice_table(comparison, report)}\n"
        f'<div class="cards">{"".join(cards)}</div>\n</section>'
    )


# ----------------------------------------------------------------------------- charts


def _chart_text(text: str) -> str:
    """A label for matplotlib: cut to fit, and "$" escaped so user data never turns into mathtext."""
    if len(text) > CHART_LABEL_CHARS:
        text = text[: CHART_LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _chart_labels(rows: list[dict]) -> list[str]:
    return [_chart_text(_slice_label(r)) + (" †" if r.get("primary") == "cer" else "") for r in rows]


def _group_lines(ax, rows: list[dict]) -> None:
    """Thin rules between slice columns (overall | accent | condition ...), so the eye finds groups."""
    for i in range(1, len(rows)):
        if rows[i]["column"] != rows[i - 1]["column"]:
            ax.axhline(i - 0.5, color="#bdbdbd", linewidth=0.8, zorder=0)


def _svg(fig, prefix: str) -> str:
    """The figure as SVG text fit to sit inline in HTML: no XML header or DOCTYPE (which names a
    URL), no RDF metadata, no xmlns (the HTML parser puts <svg> in its namespace itself), and
    every id prefixed so two charts in one page never share one."""
    import matplotlib

    buffer = io.StringIO()
    # fonttype none: labels stay real, searchable text; the hash salt makes the output repeatable.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    return text.strip()


def _wer_chart(report: dict, names: list[str]) -> str:
    """Grouped horizontal bars: WER per slice for the baseline and every strategy. Whiskers on a
    strategy's bar are baseline WER + the paired change's interval: the range of the strategy's
    WER that the paired comparison supports (the report holds no interval of WER itself)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = _slice_order(report)
    keys = [_slice_key(r) for r in rows]
    by_comparison = [{_slice_key(r): r for r in c["slices"]} for c in report["comparisons"]]
    baseline = []
    for key in keys:
        values = [m[key].get("baseline_wer") for m in by_comparison if key in m and m[key].get("baseline_wer") is not None]
        baseline.append(values[0] if values else None)
    series = len(names) + 1
    bar = 0.8 / series
    fig = Figure(figsize=(9, 1.6 + len(rows) * (0.1 * series + 0.14)), layout="constrained")
    ax = fig.add_subplot()
    nan = float("nan")

    def offset(j: int) -> float:  # series j's bar within its slice's group
        return (j - (series - 1) / 2) * bar

    ax.barh([i + offset(0) for i in range(len(rows))], [nan if v is None else v for v in baseline], height=bar,
            color=BASELINE_COLOUR, label="baseline")
    for j, (name, rows_of) in enumerate(zip(names, by_comparison), start=1):
        colour = STRATEGY_COLOURS[(j - 1) % len(STRATEGY_COLOURS)]
        y = [i + offset(j) for i in range(len(rows))]
        wer = [nan if rows_of.get(k, {}).get("wer") is None else rows_of[k]["wer"] for k in keys]
        ax.barh(y, wer, height=bar, color=colour, label=_chart_text(name))
        for yi, key, base in zip(y, keys, baseline):
            row = rows_of.get(key) or {}
            low, high = row.get("change_low"), row.get("change_high")
            if base is None or low is None or high is None:
                continue
            ax.plot([base + low, base + high], [yi, yi], color="#212121", linewidth=1.0, solid_capstyle="butt")
            ax.plot([base + low, base + high], [yi, yi], linestyle="none", marker="|", markersize=5, color="#212121")
    _group_lines(ax, rows)
    ax.set_yticks(range(len(rows)), _chart_labels(rows), fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # overall on top, as in the tables
    ax.set_xlim(left=0)
    ax.set_xlabel("WER (%)")
    ax.tick_params(axis="x", labeltop=True, top=True)  # a long chart: the scale at both ends
    ax.grid(axis="x", color="#eeeeee", zorder=0)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    level = f"{report.get('confidence', 0.95):.0%}"
    handles.append(Line2D([], [], color="#212121", marker="|", markersize=6, linewidth=1.0))
    labels.append(f"baseline WER + {level} interval of the paired change\n(the strategy's WER the paired test supports)")
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 3), fontsize=9, frameon=False)
    return _svg(fig, "wer")


def _forest_chart(report: dict, names: list[str]) -> str:
    """Per slice and strategy the paired change with its interval; 0 and +tolerance as lines.
    The change is the primary figure's (CER for † slices), since that is what the verdict reads."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = _slice_order(report)
    keys = [_slice_key(r) for r in rows]
    strategies = max(len(names), 1)
    step = min(0.8 / strategies, 0.25)
    fig = Figure(figsize=(9, 1.6 + len(rows) * max(0.3, 0.11 * strategies)), layout="constrained")
    ax = fig.add_subplot()
    tolerance = float(report.get("tolerance_pp") or 0.0)
    ax.axvline(0, color="#212121", linewidth=0.9, zorder=1)
    # Drawn over the zero line, so a tolerance of 0 still shows as dashes on it.
    ax.axvline(tolerance, color=REGRESSED_EDGE, linewidth=0.9, linestyle="--", zorder=1.5)
    for j, (name, comparison) in enumerate(zip(names, report["comparisons"])):
        colour = STRATEGY_COLOURS[j % len(STRATEGY_COLOURS)]
        rows_of = {_slice_key(r): r for r in comparison["slices"]}
        for i, key in enumerate(keys):
            row = rows_of.get(key)
            if row is None:
                continue
            prefix = "cer_" if row.get("primary") == "cer" else ""
            change, low, high = row.get(f"{prefix}change"), row.get(f"{prefix}change_low"), row.get(f"{prefix}change_high")
            y = i + (j - (strategies - 1) / 2) * step
            faint = row.get("verdict") == "too few"  # drawn, but pale: not enough utterances to judge
            if low is not None and high is not None:
                ax.plot([low, high], [y, y], color=colour, linewidth=1.4, alpha=0.35 if faint else 1.0, zorder=2)
            if change is not None:
                regressed = row.get("verdict") == "regressed"
                ax.scatter([change], [y], s=30 if regressed else 18, color=colour, alpha=0.45 if faint else 1.0, zorder=3,
                           edgecolors=REGRESSED_EDGE if regressed else colour, linewidths=1.8 if regressed else 0.5)
    _group_lines(ax, rows)
    ax.set_yticks(range(len(rows)), _chart_labels(rows), fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    # SVG collapses runs of spaces: em spaces keep the arrows apart from the title.
    ax.set_xlabel("← better\u2003\u2003paired change, candidate − baseline (percentage points)\u2003\u2003worse →")
    ax.tick_params(axis="x", labeltop=True, top=True)
    ax.grid(axis="x", color="#eeeeee", zorder=0)
    ax.set_axisbelow(True)
    level = f"{report.get('confidence', 0.95):.0%}"
    handles = [Line2D([], [], color=STRATEGY_COLOURS[j % len(STRATEGY_COLOURS)], marker="o", markersize=5, linewidth=1.4)
               for j in range(len(names))]
    labels = [_chart_text(n) for n in names]
    handles += [
        Line2D([], [], color="#9e9e9e", marker="o", markersize=7, markeredgecolor=REGRESSED_EDGE, markeredgewidth=1.8, linestyle="none"),
        Line2D([], [], color="#212121", linewidth=0.9),
        Line2D([], [], color=REGRESSED_EDGE, linewidth=0.9, linestyle="--"),
    ]
    on_zero = ", on the zero line" if tolerance == 0 else ""
    labels += ["regressed (red outline)", "no change", f"+tolerance ({tolerance:g} pp{on_zero})"]
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4), fontsize=9, frameon=False,
               title=f"point: change; line: {level} paired-bootstrap interval; pale: too few utterances", title_fontsize=9)
    return _svg(fig, "forest")


def _charts(report: dict, names: list[str]) -> str:
    if not report["comparisons"]:
        return ""
    cer_note = (
        '<p class="note">† CER is the primary figure for this slice; the forest plot shows its CER change.</p>'
        if any(r.get("primary") == "cer" for r in _slice_order(report)) else ""
    )
    return (
        "<h2>WER per slice</h2>\n"
        '<p class="note">Grey: baseline. Whiskers on a strategy’s bar: baseline WER plus the interval of the paired change, '
        "i.e. the range of that strategy’s WER the paired comparison supports (not an interval of either WER on its own).</p>\n"
        f'<div class="chart">{_wer_chart(report, names)}</div>\n'
        "<h2>Forest plot of paired changes</h2>\n"
        f'<div class="chart">{_forest_chart(report, names)}</div>\n{cer_note}'
    )


# ----------------------------------------------------------------------------- the page


def render_html(report: dict) -> str:
    """One self-contained HTML document (no external resource of any kind) for a regression
    report dict of schema v1."""
    names = _run_names(report)
    base = report.get("baseline") or {}
    title = f"Regression report: {base.get('id', '')}"
    sections = "\n".join(_comparison(c, name, report) for c, name in zip(report["comparisons"], names))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{_header(report, names)}\n{_charts(report, names)}\n{sections}\n"
        f"{review_section_html(report['review']) if report.get('review') else ''}"
        "</main>\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- review


QUEUE_COLOUR, RANDOM_COLOUR, ORACLE_COLOUR = STRATEGY_COLOURS[0], BASELINE_COLOUR, STRATEGY_COLOURS[2]


def _share(value) -> str:
    return DASH if value is None else f"{100 * value:.0f}%"


def _review_chart(review: dict) -> str:
    """WER after reviewing the first k% of each order: the queue, random (mean of seeded
    shuffles) and the oracle, the area between queue and random shaded, the budget marked."""
    from matplotlib.figure import Figure

    curve = review["curve"]
    k = curve["k"]
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(k, curve["queue"], curve["random"], color=QUEUE_COLOUR, alpha=0.12, linewidth=0,
                    label=f"area between queue and random: {curve['area_vs_random']:.2f} WER points")
    ax.plot(k, curve["random"], color=RANDOM_COLOUR, linewidth=1.6, linestyle="--", label=f"random order (mean of {curve['shuffles']} shuffles)")
    ax.plot(k, curve["oracle"], color=ORACLE_COLOUR, linewidth=1.4, linestyle=":", label="oracle (most errors first)")
    ax.plot(k, curve["queue"], color=QUEUE_COLOUR, linewidth=2.0, label="review queue (least confident first)")
    budget = review["budget"]
    if curve["utterances"]:
        at = 100.0 * budget["utterances"] / curve["utterances"]
        ax.axvline(at, color="#212121", linewidth=0.8, linestyle="-.", label=_chart_text(f"budget: {budget['description']}"))
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("utterances reviewed (% of the queue; SIMULATED: hypothesis replaced by the reference)")
    ax.set_ylabel("corpus WER (%)")
    ax.grid(color="#eeeeee", zorder=0)
    ax.set_axisbelow(True)
    ax.legend(fontsize=9, frameon=False, loc="upper right")
    return _svg(fig, "review")


def review_section_html(review: dict) -> str:
    """The review section of a run (`workbench.review.review_report`): the curve, the table at
    10/20/30/50% and at the budget, per-slice capture and calibration, suspect references."""
    cal, budget, at, curve = review["calibration"], review["budget"], review["at_budget"], review["curve"]
    calibration = (f"{_e(cal['method'])} calibration on train-part run {_e(cal['run'])} ({_e(cal['utterances'])} utterances)"
                   if cal["method"] != "uncalibrated" else
                   "uncalibrated (" + (f"train-part run {_e(cal['run'])}: " if cal.get("run") else "")
                   + f"{_e(cal.get('reason') or 'no train-part run')})")
    excluded = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in review["excluded"].items() if n)
    facts = [
        ("run", review["run"]), ("normalizer", review["normalizer"]), ("queued", review["queued"]),
        ("not queued", excluded or None), ("budget", f"{budget['description']} = {budget['utterances']} utterances"
                                           + (f" ({budget['minutes']:.1f} min)" if budget.get("minutes") is not None else "")),
        ("random order", f"mean of {curve['shuffles']} shuffles, seed {curve['seed']}"),
    ]
    items = "".join(f"<div><b>{_e(k)}:</b> {_e(v)}</div>" for k, v in facts)
    ratio = at.get("ratio_vs_random")
    banner = (f"At the budget: WER {_num(at['before'])}% → queue {_num(at['queue'])}%, random {_num(at['random'])}%, "
              f"oracle {_num(at['oracle'])}%" + (f"; the queue removes {ratio:.2f}× the word errors a random order does" if ratio else ""))
    table = ["<table><tr><th>reviewed</th><th>utterances</th><th>WER queue %</th><th>WER random %</th><th>WER oracle %</th></tr>",
             f"<tr><td>0%</td><td>0</td><td>{_num(curve['queue'][0])}</td><td>{_num(curve['random'][0])}</td><td>{_num(curve['oracle'][0])}</td></tr>"]
    table += [f"<tr><td>{r['k']}%</td><td>{r['utterances']}</td><td>{_num(r['queue'])}</td><td>{_num(r['random'])}</td>"
              f"<td>{_num(r['oracle'])}</td></tr>" for r in review["table"]]
    table.append("</table>")
    slices = ["<table><tr><th class=\"label\">slice</th><th>utts</th><th>reviewed</th><th>word errors</th><th>caught (queue)</th>"
              "<th>caught (random)</th><th>caught (oracle)</th><th>WER %</th><th>after %</th><th>ECE</th><th>suspects</th></tr>"]
    for s in review["slices"]:
        slices.append(f"<tr{_row_class(s)}><td class=\"label\">{_e(_slice_label(s))}</td><td>{s['utterances']}</td><td>{s['reviewed']}</td>"
                      f"<td>{s['errors']}</td><td>{_share(s['share_queue'])}</td><td>{_share(s['share_random'])}</td>"
                      f"<td>{_share(s['share_oracle'])}</td><td>{_num(s['wer_before'])}</td><td>{_num(s['wer_after'])}</td>"
                      f"<td>{s['ece']:.3f}</td><td>{s['suspects']}</td></tr>")
    slices.append("</table>")
    suspects = review["suspects"]
    listed = "".join(f"<tr><td class=\"label\">{_e(s['utterance_id'])}</td><td>{s['confidence']:.3f}</td><td>{s['errors']}</td>"
                     f"<td class=\"label\">{_e(s['reference'])}</td><td class=\"label\">{_e(s['hypothesis'])}</td></tr>"
                     for s in suspects["items"][:50])
    suspect_table = ("<div class=\"scroll\"><table><tr><th class=\"label\">utterance</th><th>confidence</th><th>word errors</th>"
                     f"<th class=\"label\">reference</th><th class=\"label\">hypothesis</th></tr>{listed}</table></div>" if listed else "")
    notes = "".join(f'<p class="note">Note: {_e(n)}</p>' for n in review.get("notes") or [])
    return (
        "<h2>Human review: what reviewing the least confident transcripts is worth (simulated)</h2>\n"
        f'<div class="facts">{items}<div><b>confidence:</b> {calibration}</div></div>\n'
        f'<div class="banner warn">{_e(banner)}</div>\n'
        '<p class="note">Simulated: each reviewed hypothesis is replaced by its reference. Figures are over speech '
        "utterances with a hypothesis, under the run’s normalizer.</p>\n"
        f'<div class="chart">{_review_chart(review)}</div>\n'
        f"<h3>WER after reviewing the first k% of the queue</h3>\n<div class=\"scroll\">{''.join(table)}</div>\n"
        "<h3>Per slice at the budget</h3>\n"
        '<p class="note">caught: the share of the slice’s word errors the review removes; after: the slice’s WER after the '
        "queue’s head is reviewed; ECE: calibration error of the confidence on the slice (0 = calibrated).</p>\n"
        f"<div class=\"scroll\">{''.join(slices)}</div>\n"
        f"<h3>Suspect references: {suspects['count']}</h3>\n"
        f'<p class="note">Transcripts with confidence ≥ {suspects["threshold"]:g} that still disagree with the reference: '
        "the reference may be what is wrong.</p>\n"
        f"{suspect_table}\n{notes}\n"
    )


def render_review_html(review: dict) -> str:
    """The review report of one run as one self-contained HTML document."""
    title = f"Review queue of run {review.get('run', '')}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{review_section_html(review)}"
        "</main>\n</body>\n</html>\n"
    )
