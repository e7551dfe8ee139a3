"""Review: the confidence queue of the leaderboard's baseline (or of the newest run made
from its reviewed corrections), most likely wrong first; each transcript with its
low-confidence words highlighted, to edit and accept; the clip played through a system
player when there is one; the accepted corrections saved as a new stored run.

Everything shown is computed by `workbench.review.review_run` (the queue, the confidence,
the figures at the budget) and stored by `workbench.review_io.import_corrections`: this
screen only picks the run, renders, and keeps the reviewer's pending corrections (by
utterance id, until they are saved: a failed or cancelled save keeps them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from .. import session
from ..atomic import write_text_atomic
from ..errors import WorkbenchError
from ..review import DEFAULT_BUDGET, QueueItem, ReviewAnalysis, review_run
from ..review_io import import_corrections
from .widgets import JobOutcome, Pane, short_path, wer_text

__all__ = [
    "ReviewPane",
    "ReviewData",
    "LOW_WORD_STYLE",
    "PLAYERS",
    "player_command",
    "review_target",
    "review_budget",
    "render_hypothesis",
    "write_corrections",
]

LOW_WORD_STYLE = "bold red underline"  # a word the decoder was unsure of
HEAD_CHARS = 40  # of the hypothesis, in the queue's table
REVIEW_LABEL = "review"  # the strategy label of a run made by importing corrections

# System players, most capable first: (program, arguments before the file, the suffixes it
# plays or None for any). Output and input go nowhere: a player writing to the terminal
# would draw over the UI, and ffplay reads keys from stdin.
PLAYERS: tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None], ...] = (
    ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet"), None),
    ("afplay", (), None),
    ("paplay", (), (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au")),
    ("aplay", ("-q",), (".wav",)),
)


def player_command(path: str) -> list[str] | None:
    """The command that plays `path` with the first system player found on PATH that plays
    its format; None when there is none."""
    suffix = Path(path).suffix.lower()
    for program, arguments, suffixes in PLAYERS:
        found = shutil.which(program)
        if found and (suffixes is None or suffix in suffixes):
            return [found, *arguments, path]
    return None


def review_budget(config_path: str | None) -> tuple[str, str | None]:
    """(the budget of the escalation config's `[review]` table, or the default; a note
    when the config cannot be read)."""
    if not config_path:
        return DEFAULT_BUDGET, None
    from ..escalation_config import load_config

    try:
        return load_config(config_path).review.budget, None
    except (WorkbenchError, ValueError, OSError) as exc:
        return DEFAULT_BUDGET, f"{exc}; budget {DEFAULT_BUDGET}"


def review_target(runs: Sequence[session.RunSummary], baseline: str) -> str:
    """The run to review: the newest succeeded run made by importing corrections on top of
    `baseline` (directly or through earlier imports), so a second session goes on where
    the first saved; else the baseline itself. `runs`: newest first (`session.list_runs`)."""
    by_id = {r.id: r for r in runs}

    def builds_on_baseline(run: session.RunSummary) -> bool:
        seen = set()
        while run.label == REVIEW_LABEL and run.base_run and run.base_run not in seen:
            if run.base_run == baseline:
                return True
            seen.add(run.base_run)
            run = by_id.get(run.base_run)
            if run is None:
                return False
        return False

    return next((r.id for r in runs if r.status == "succeeded" and builds_on_baseline(r)), baseline)


def _word_spans(text: str, item: QueueItem) -> list[tuple[int, int, float]]:
    """(start, end, probability) in `text` of each low-confidence word. A word's index in
    the decoder's word list is, in the usual case, its index among the text's
    whitespace-separated tokens; when that token does not hold the word (a strategy changed
    the text), the word's next occurrence after the previous one is taken; a word the text
    no longer holds is not marked."""
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    spans, cursor = [], 0
    for index, word, probability in item.low_confidence_words:
        if not word:
            continue
        start = -1
        if index < len(tokens):
            at = text.find(word, tokens[index][0], tokens[index][1])
            start = at if at >= cursor else -1
        if start < 0:
            start = text.find(word, cursor)
        if start < 0:
            continue
        spans.append((start, start + len(word), probability))
        cursor = start + len(word)
    return spans


def render_hypothesis(item: QueueItem, text: str | None = None) -> Text:
    """The hypothesis with each low-confidence word in LOW_WORD_STYLE, then those words with
    their probability. `text` instead of the hypothesis: the words found in it are marked."""
    text = item.hypothesis if text is None else text
    out = Text()
    if not text:
        out.append("(no text)", style="italic dim")
        return out
    at = 0
    for start, end, _ in _word_spans(text, item):
        out.append(text[at:start])
        out.append(text[start:end], style=LOW_WORD_STYLE)
        at = end
    out.append(text[at:])
    if item.low_confidence_words:
        out.append("\nunsure: ", style="dim")
        out.append(", ".join(f"{w} {p:.2f}" for _, w, p in item.low_confidence_words), style="dim")
    return out


def write_corrections(workspace: str, run_id: str, corrections: Mapping[str, str]) -> Path:
    """The corrections as JSONL ({utterance_id, text} a line, the form
    `review_io.load_corrections` reads) in `<workspace>/review/`, written atomically under
    a name no earlier save used (the new run records the file's path and hash)."""
    folder = Path(workspace) / "review"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"corrections-{run_id}-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"corrections-{run_id}-{stamp}-{n}.jsonl"
    lines = "".join(json.dumps({"utterance_id": u, "text": t}, ensure_ascii=False) + "\n" for u, t in corrections.items())
    return write_text_atomic(path, lines)


@dataclass(frozen=True)
class ReviewData:
    run: session.RunSummary | None  # the run reviewed; None: no baseline yet
    analysis: ReviewAnalysis | None
    budget: str
    note: str | None = None  # the config could not be read


class QueueTable(DataTable):
    """The queue. Enter accepts the selected utterance's text (a click only selects)."""

    BINDINGS = [Binding("enter", "accept", "Accept", show=False)]

    def action_accept(self) -> None:
        self.query_ancestor(ReviewPane).action_accept()


class ReviewInput(Input):
    """The reviewer's text for the selected utterance: enter accepts it."""

    BINDINGS = [Binding("escape", "back", "Back to the queue")]

    def action_back(self) -> None:
        self.query_ancestor(ReviewPane).focus_main()


class ReviewPane(Pane):
    TITLE = "Review"
    BINDINGS = [
        Binding("a", "accept", "Accept"),
        Binding("e", "edit", "Edit"),
        Binding("p", "play", "Play"),
        Binding("s", "save", "Save"),
        Binding("ctrl+s", "save", "Save", key_display="^s"),  # also while typing
        Binding("r", "reload", "Reload"),
    ]

    data: ReviewData | None = None
    current: str | None = None  # the utterance shown below the queue

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # utterance id -> the reviewer's text. Kept across reloads and runs (the ids are the
        # utterances', not a run's) until a save stores them.
        self.pending: dict[str, str] = {}
        self.drafts: dict[str, str] = {}  # edited, not yet accepted
        self.player: subprocess.Popen | None = None

    def compose(self) -> ComposeResult:
        yield Static("loading the review queue…", markup=False, id="rev-caption", classes="caption")
        yield QueueTable(id="rev-queue", cursor_type="row", zebra_stripes=True)
        yield Static("", markup=False, id="rev-view")
        yield ReviewInput("", placeholder="the corrected transcript (enter accepts)", id="rev-edit", compact=True)

    def focus_main(self) -> None:
        self.query_one("#rev-queue", DataTable).focus()

    # ------------------------------------------------------------------ loading

    def load(self) -> ReviewData:
        workspace = self.wb.options.workspace
        budget, note = review_budget(self.wb.options.config)
        baseline = self.wb.resolve_baseline()
        if baseline is None:
            return ReviewData(None, None, budget, note)
        runs = session.list_runs(workspace)
        run_id = review_target(runs, baseline)
        run = next(r for r in runs if r.id == run_id)
        return ReviewData(run, review_run(workspace, run_id, budget), budget, note)

    def show_error(self, message: str) -> None:
        self.query_one("#rev-caption", Static).update(Text(message, style="red"))
        super().show_error(message)

    def show(self, data: ReviewData) -> None:
        self.data = data
        table = self.query_one("#rev-queue", DataTable)
        table.clear(columns=True)
        if data.analysis is None:
            self.query_one("#rev-caption", Static).update("No baseline run yet: run one first (Strategies, r).")
            self._show_item(None)
            return
        for label, key in (("", "mark"), ("#", "rank"), ("utterance", "id"), ("P(ok)", "confidence"),
                           ("slice", "slice"), ("hypothesis", "head")):
            table.add_column(label, key=key)
        self._fill_table()
        self._caption()
        items = data.analysis.queue.items
        keep = next((i for i, item in enumerate(items) if item.utterance_id == self.current), 0)
        if items:
            table.move_cursor(row=keep, animate=False)
        self._show_item(items[keep] if items else None)

    def _slice_columns(self) -> list[str]:
        return list(dict.fromkeys(s.column for s in self.data.analysis.slices if s.column != "overall"))

    def _mark(self, item: QueueItem) -> Text:
        if item.utterance_id in self.pending:
            return Text("✓", style="bold green")
        if item.utterance_id in self.drafts:
            return Text("✎", style="yellow")
        if item.reviewed:
            return Text("·", style="dim")  # reviewed in an earlier save: queued last
        return Text(" ")

    def _fill_table(self) -> None:
        analysis = self.data.analysis
        table = self.query_one("#rev-queue", DataTable)
        columns = self._slice_columns()
        for item in analysis.queue.items:
            within = item.rank <= analysis.reviewed
            head = item.hypothesis if len(item.hypothesis) <= HEAD_CHARS else item.hypothesis[: HEAD_CHARS - 1] + "…"
            table.add_row(
                self._mark(item),
                Text(str(item.rank), justify="right", style="bold" if within else "dim"),
                Text(item.utterance_id),
                Text(f"{item.confidence:.2f}", justify="right", style="red" if item.confidence < 0.5 else ""),
                Text(" ".join(item.slices.get(c, "") for c in columns)),
                Text(head),
                key=item.utterance_id,
            )

    def _caption(self) -> None:
        data, analysis = self.data, self.data.analysis
        calibrator = analysis.queue.calibrator
        text = Text()  # one line each (the caption does not wrap): what matters first
        text.append(data.run.label, style="bold")
        text.append(f" run {data.run.id}: {len(analysis.queue.items)} queued, least likely right first")
        if calibrator.calibrated:
            text.append(f" · P(ok) fitted on train run {analysis.calibration_run}", style="dim")
        else:
            text.append(f"\nuncalibrated: {calibrator.reason}", style="yellow")
        # the budget's head of the queue, corrected (simulated: hypothesis := reference)
        text.append(f"\nfirst {analysis.reviewed} ({data.budget}), simulated WER {wer_text(analysis.wer_before)}% → ")
        text.append(f"{wer_text(analysis.wer_queue)}%", style="bold")
        text.append(f" queue · {wer_text(analysis.wer_random)}% random · {wer_text(analysis.wer_oracle)}% oracle")
        notes = [n for n in (data.note, *analysis.queue.notes) if n]
        if notes:
            more = f" (+{len(notes) - 1} more)" if len(notes) > 1 else ""
            text.append(f"\n{notes[0]}{more}", style="dim")
        pending = self._pending_here()
        if pending:
            one = len(pending) == 1
            text.append(f"\n{len(pending)} correction{'' if one else 's'} pending: s saves {'it' if one else 'them'} as a new run",
                        style="bold yellow")
        self.query_one("#rev-caption", Static).update(text)

    # ------------------------------------------------------------------ the selected utterance

    def _item(self, utterance_id: str | None) -> QueueItem | None:
        if self.data is None or self.data.analysis is None or utterance_id is None:
            return None
        return next((i for i in self.data.analysis.queue.items if i.utterance_id == utterance_id), None)

    def current_item(self) -> QueueItem | None:
        return self._item(self.current)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value:
            self._show_item(self._item(event.row_key.value))

    def _show_item(self, item: QueueItem | None) -> None:
        self.current = item.utterance_id if item else None
        view = self.query_one("#rev-view", Static)
        edit = self.query_one("#rev-edit", ReviewInput)
        # Filled by the screen, not typed: no Changed message (it would arrive after the
        # next item is shown and make a draft of this one's text there).
        with edit.prevent(Input.Changed):
            if item is None:
                view.update("")
                edit.value = ""
                return
            text = Text()
            text.append(item.utterance_id, style="bold")
            slices = " ".join(f"{c}={item.slices.get(c, '')}" for c in self._slice_columns())
            text.append(f"  {slices}  P(ok) {item.confidence:.2f}", style="dim")
            if item.duration_s is not None:
                text.append(f"  {item.duration_s:.1f} s", style="dim")
            if item.utterance_id in self.pending:
                text.append("  accepted", style="bold green")
            elif item.reviewed:
                text.append("  reviewed", style="dim")
            text.append("\n")
            text.append_text(render_hypothesis(item))
            view.update(text)
            uid = item.utterance_id
            edit.value = self.drafts[uid] if uid in self.drafts else self.pending.get(uid, item.hypothesis)
            edit.cursor_position = len(edit.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        item = self.current_item()
        if item is None:
            return
        accepted = self.pending.get(item.utterance_id, item.hypothesis)
        had = item.utterance_id in self.drafts
        if event.value != accepted:
            self.drafts[item.utterance_id] = event.value
        else:
            self.drafts.pop(item.utterance_id, None)
        if had != (item.utterance_id in self.drafts):
            self._refresh_mark(item)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_accept()

    def _refresh_mark(self, item: QueueItem) -> None:
        table = self.query_one("#rev-queue", DataTable)
        table.update_cell(item.utterance_id, "mark", self._mark(item))

    def _pending_here(self) -> dict[str, str]:
        """The pending corrections of utterances in the queue shown, in queue order."""
        if self.data is None or self.data.analysis is None:
            return {}
        return {i.utterance_id: self.pending[i.utterance_id] for i in self.data.analysis.queue.items
                if i.utterance_id in self.pending}

    # ------------------------------------------------------------------ actions

    def action_reload(self) -> None:
        self.reload()

    def action_edit(self) -> None:
        if self.current_item() is not None:
            self.query_one("#rev-edit", ReviewInput).focus()

    def action_accept(self) -> None:
        """The input's text becomes the utterance's pending correction; on to the next."""
        item = self.current_item()
        if item is None:
            return
        text = " ".join(self.query_one("#rev-edit", ReviewInput).value.split())
        if not text:
            self.notify("an empty transcript cannot be accepted: type what is said, or leave it", severity="warning")
            return
        self.pending[item.utterance_id] = text
        self.drafts.pop(item.utterance_id, None)
        self._refresh_mark(item)
        self._caption()
        table = self.query_one("#rev-queue", DataTable)
        row = table.get_row_index(item.utterance_id)
        if row + 1 < table.row_count:
            table.move_cursor(row=row + 1, animate=False)  # its highlight shows the next one
        else:
            self._show_item(item)

    def action_play(self) -> None:
        item = self.current_item()
        if item is None:
            return
        if not item.audio_path or not Path(item.audio_path).is_file():
            where = f" ({item.audio} is not there now)" if item.audio else " (the run's manifest names none)"
            self.notify(f"no audio file for {item.utterance_id}{where}", severity="warning", markup=False)
            return
        command = player_command(item.audio_path)
        if command is None:
            self.notify("no audio player found (install ffmpeg's ffplay, or paplay/aplay)", severity="warning")
            return
        self.stop_player()
        try:
            self.player = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.notify(f"{Path(command[0]).name} could not start: {exc}", severity="error", markup=False)
            return
        self.notify(f"playing {short_path(item.audio_path)} with {Path(command[0]).name}", markup=False, timeout=3)

    def stop_player(self) -> None:
        """One clip at a time: a clip still playing stops when the next one starts."""
        player, self.player = self.player, None
        if player is None:
            return
        if player.poll() is None:
            player.terminate()
        try:
            player.wait(timeout=2)
        except subprocess.TimeoutExpired:
            player.kill()
            player.wait()

    def on_unmount(self) -> None:
        self.stop_player()

    def action_save(self) -> None:
        data = self.data
        corrections = self._pending_here()
        if data is None or data.run is None or not corrections:
            self.notify("nothing to save: accept a correction first (a or enter)", severity="warning")
            return
        workspace, run_id = self.wb.options.workspace, data.run.id

        def work(progress, cancel):
            path = write_corrections(workspace, run_id, corrections)
            return import_corrections(workspace, run_id, path, progress=progress), path, corrections

        self.wb.start_job(f"saving {len(corrections)} corrections", work, self._saved)

    def _saved(self, outcome: JobOutcome) -> None:
        if not outcome.ok:
            return  # the app showed why; the corrections stay pending
        result, path, saved = outcome.result
        for utterance_id, text in saved.items():
            if self.pending.get(utterance_id) == text:  # not accepted again while saving
                del self.pending[utterance_id]
        self.notify(f"saved {result.reviewed} corrections ({result.changed} changed) as run {result.run_id}",
                    markup=False, timeout=8)
        self.wb.job_bar.finish(f"corrections saved: run {result.run_id}, WER {wer_text(result.wer_before)}% → "
                               f"{wer_text(result.wer_after)}% · {short_path(str(path))}", "green")
        self.wb.runs_changed()  # the queue of the new run: the reviewed utterances go last
