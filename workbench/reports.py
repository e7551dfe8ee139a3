"""Render scores for people and machines: a terminal table, JSON and Markdown.

Raw and normalized scores always appear side by side, each stamped with its
normalizer's id, so nobody mistakes one for the other.
"""

import json
from typing import Sequence

from .atomic import write_text_atomic
from .scoring import Scorecard, SliceScore, scorecard_to_dict

__all__ = ["format_table", "to_markdown", "write_json", "write_markdown", "pct", "format_interval"]


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}"


def format_interval(s_ci) -> str:
    return "" if s_ci is None else f"[{100 * s_ci.low:.1f}, {100 * s_ci.high:.1f}]"


def _label(s: SliceScore) -> str:
    return "overall" if s.column == "overall" else f"{s.column}={s.value or '(empty)'}"


def _rows(normalized: Scorecard, raw: Scorecard) -> list[tuple[SliceScore, SliceScore]]:
    raw_by_key = {(s.column, s.value): s for s in raw.slices}
    return [(normalized.overall, raw.overall)] + [(s, raw_by_key[(s.column, s.value)]) for s in normalized.slices]


def format_table(normalized: Scorecard, raw: Scorecard, width: int = 36) -> str:
    """A plain-text table that reads well in a terminal and in CI logs."""
    header = ("slice", "utts", "words", f"WER% ({normalized.normalizer})", "95% CI", "raw WER%", "CER%", "95% CI", "S/D/I")
    lines = []
    for n, r in _rows(normalized, raw):
        label = _label(n)
        if len(label) > width:
            label = label[: width - 1] + "…"
        lines.append(
            (
                label,
                str(n.utterances),
                str(n.ref_words),
                pct(n.wer),
                format_interval(n.wer_ci),
                pct(r.wer),
                pct(n.cer),
                format_interval(n.cer_ci),
                f"{n.substitutions}/{n.deletions}/{n.insertions}",
            )
        )
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]
    right = {1, 2, 3, 5, 6}

    def fmt(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths])]
    previous_column = "overall"
    for (n, _), line in zip(_rows(normalized, raw), lines):
        if n.column != previous_column:
            out.append("")
            previous_column = n.column
        out.append(fmt(line))
    bs = normalized.bootstrap
    out.append("")
    out.append(
        f"WER/CER normalized with {normalized.normalizer}; raw = {raw.normalizer}. "
        f"Intervals: {bs.confidence:.0%} bootstrap over utterances, {bs.resamples} resamples, seed {bs.seed}."
    )
    if normalized.confusions:
        top = ", ".join(f"{c.reference or '∅'}→{c.hypothesis or '∅'} ×{c.count}" for c in normalized.confusions[:8])
        out.append(f"Most frequent errors: {top}")
    return "\n".join(out)


def to_markdown(title: str, normalized: Scorecard, raw: Scorecard, facts: Sequence[tuple[str, str]] = (), notes: Sequence[str] = ()) -> str:
    out = [f"# {title}", ""]
    for key, value in facts:
        out.append(f"- **{key}**: {value}")
    if facts:
        out.append("")
    bs = normalized.bootstrap
    out.append(
        f"WER and CER in %, normalized with `{normalized.normalizer}`; raw WER with `{raw.normalizer}`. "
        f"{bs.confidence:.0%} intervals: bootstrap over utterances ({bs.resamples} resamples, seed {bs.seed})."
    )
    out += ["", "| slice | utts | words | WER % | 95% CI | raw WER % | CER % | 95% CI | S / D / I |", "|---|---:|---:|---:|---|---:|---:|---|---|"]
    for n, r in _rows(normalized, raw):
        out.append(
            f"| {_label(n).replace('|', '/')} | {n.utterances} | {n.ref_words} | {pct(n.wer)} | {format_interval(n.wer_ci)} | "
            f"{pct(r.wer)} | {pct(n.cer)} | {format_interval(n.cer_ci)} | {n.substitutions} / {n.deletions} / {n.insertions} |"
        )
    if normalized.confusions:
        out += ["", "## Most frequent errors", "", "| reference | hypothesis | count |", "|---|---|---:|"]
        for c in normalized.confusions[:20]:
            out.append(f"| {c.reference or '∅ (insertion)'} | {c.hypothesis or '∅ (deletion)'} | {c.count} |")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def report_dict(normalized: Scorecard, raw: Scorecard, **context) -> dict:
    return {**context, "scores": {"normalized": scorecard_to_dict(normalized), "raw": scorecard_to_dict(raw)}}


def write_json(path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_markdown(path, text: str) -> None:
    write_text_atomic(path, text)
