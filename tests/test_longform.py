"""Long recordings: whole-recording WER equal to jiwer's, the time-based scores and failure
metrics on hand-made segments with known answers, manifests whose rows give their
reference as a subtitle file, audio read in blocks, and the embedded long-form demo."""

import json
import random
from pathlib import Path

import jiwer
import numpy as np
import pytest

from workbench.audio import AudioDecodeError, Preprocessing, audio_duration, iter_audio_blocks, load_audio, probe
from workbench.dataset import AudioSource
from workbench.errors import BadInputError
from workbench.longform import Event, LongformOptions, RecordingScore, find_loops, score_recording, summarize
from workbench.manifest import LoadOptions, load_dataset
from workbench.normalizers import get_normalizer
from workbench.regression import repetition_loop
from workbench.subtitles import Segment, read_reference, reference_text

PLAIN = get_normalizer("multilingual")
ROOT = Path(__file__).resolve().parent.parent
LONGFORM_DEMO = ROOT / "workbench" / "examples" / "longform"


def S(start, end, text, **kw):
    return Segment(start, end, text, **kw)


def score(ref, hyp, duration_s=None, normalizer=PLAIN, **options):
    return score_recording(ref, hyp, normalizer, "en", duration_s=duration_s, options=LongformOptions(**options))


# --------------------------------------------------------------------------- whole recording = jiwer


def _jiwer(normalizer, ref_segments, hyp_segments, language="en"):
    ref = normalizer(" ".join(s.text for s in ref_segments), language)
    hyp = normalizer(" ".join(s.text for s in hyp_segments), language)
    return jiwer.process_words(ref, hyp)


@pytest.mark.parametrize("normalizer", ["auto", "whisper-english", "multilingual", "raw"])
def test_whole_recording_wer_equals_jiwer_on_the_same_normalized_text(normalizer):
    n = get_normalizer(normalizer)
    # number words across a segment boundary, abbreviations, punctuation: the normalizer
    # sees the whole text, as jiwer does
    ref = [
        S(0.0, 3.0, "Take twenty"),
        S(3.5, 6.0, "five milligrams of Metoprolol, twice daily."),
        S(8.0, 11.0, "Mr. Smith's blood pressure is 140/90."),
        S(12.0, 14.0, "Call me back tomorrow."),
    ]
    hyp = [
        S(0.0, 6.0, "Take 25 mg of metoprolol twice a day."),
        S(8.0, 11.0, "Mister Smith blood pressure is one forty over ninety"),
        S(15.0, 16.0, "Thank you for watching!"),
    ]
    result = score_recording(ref, hyp, n, "en")
    expected = _jiwer(n, ref, hyp)
    assert result.wer == expected.wer
    assert (result.substitutions, result.deletions, result.insertions, result.hits) == (
        expected.substitutions, expected.deletions, expected.insertions, expected.hits,
    )
    assert result.ref_words == sum(len(r) for r in expected.references)
    assert result.normalizer == n.id


def test_whole_recording_wer_equals_jiwer_on_a_long_random_recording():
    rng = random.Random(7)
    vocabulary = "the patient took his tablets after breakfast and felt much better by the evening news".split()
    ref, hyp, t = [], [], 0.0
    for _ in range(300):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 12))]
        ref.append(S(t, t + 0.4 * len(words), " ".join(words)))
        written = [w if rng.random() > 0.1 else rng.choice(vocabulary) for w in words if rng.random() > 0.05]
        if rng.random() < 0.05:
            written += ["yes"] * 6  # a loop now and then
        if rng.random() > 0.03:  # and a dropped segment
            hyp.append(S(t + rng.uniform(-0.3, 0.3), t + 0.4 * len(words), " ".join(written)))
        t += 0.4 * len(words) + rng.uniform(0.3, 3.0)
    n = get_normalizer("auto")
    result = score_recording(ref, hyp, n, "en")
    expected = _jiwer(n, ref, hyp)
    assert result.wer == expected.wer
    assert result.errors == expected.substitutions + expected.deletions + expected.insertions
    # the minutes partition the one alignment's errors and reference words
    assert sum(m.errors for m in result.minutes) == result.errors
    assert sum(m.ref_words for m in result.minutes) == result.ref_words
    assert result.segment_errors >= result.errors
    assert result.loops >= 1 and result.dropped_segments >= 1


# --------------------------------------------------------------------------- failures, known answers


REF3 = [S(0, 2, "alpha beta gamma"), S(3, 5, "delta epsilon zeta"), S(6, 8, "eta theta iota")]


def test_a_segment_no_hypothesis_word_overlaps_is_dropped():
    result = score(REF3, [S(0, 2, "alpha beta gamma"), S(6, 8, "eta theta iota")])
    assert (result.wer, result.deletions) == (3 / 9, 3)
    assert (result.scored_segments, result.dropped_segments, result.dropped_s, result.deleted_segments) == (3, 1, 2.0, 1)
    assert result.events == (Event("dropped", 3, 5, "delta epsilon zeta", 3),)  # not listed twice
    assert [s.dropped for s in result.segments] == [False, True, False]
    assert (result.segments[1].ref_words, result.segments[1].deletions, result.segments[1].errors) == (3, 3, 3)
    assert result.silence_s == 0.0  # gaps of exactly 1 s are pauses, not silences


def test_a_segment_whose_words_are_all_deleted_under_a_long_hypothesis_segment():
    # the first hypothesis segment runs on over the second reference segment, with no words for it
    result = score(REF3, [S(0, 5, "alpha beta gamma"), S(6, 8, "eta theta iota")])
    assert (result.dropped_segments, result.deleted_segments) == (0, 1)
    assert result.events == (Event("deleted", 3, 5, "delta epsilon zeta", 3),)


REF_PAUSE = [S(0, 2, "alpha beta"), S(6, 8, "gamma delta")]


def test_words_written_in_a_silence():
    result = score(REF_PAUSE, [S(0, 2, "alpha beta"), S(3, 5, "thank you"), S(6, 8, "gamma delta")], duration_s=8)
    assert (result.insertions, result.silence_words, result.silence_s) == (2, 2, 4.0)
    assert result.events == (Event("silence", 2, 6, "thank you", 2),)
    # the end of the audio, when known, closes a silence after the last segment
    assert score(REF_PAUSE, [S(0, 2, "alpha beta")], duration_s=10).silence_s == 6.0


def test_a_spoken_word_at_the_wrong_time_is_not_a_silence_word():
    result = score(REF_PAUSE, [S(0, 2, "alpha"), S(3, 5, "beta"), S(6, 8, "gamma delta")])
    assert (result.wer, result.silence_words) == (0.0, 0)


def test_silence_words_by_word_times_within_the_collar():
    words = (("thank", 3.0, 3.4), ("you", 5.6, 5.9))  # the second is within 0.5 s of speech
    hyp = [S(0, 2, "alpha beta"), S(3.0, 5.9, "thank you", words=words), S(6, 8, "gamma delta")]
    assert score(REF_PAUSE, hyp).silence_words == 1
    assert score(REF_PAUSE, hyp, collar_s=0.0).silence_words == 2


def test_a_repetition_loop_counts_only_words_the_reference_does_not_have():
    result = score([S(0, 4, "we said yes and left")], [S(0, 4, "we said yes yes yes yes yes and left")])
    assert (result.loops, result.loop_words, result.insertions) == (1, 4, 4)
    (event,) = result.events
    assert (event.kind, event.text, event.words) == ("loop", "yes x5", 4)
    genuine = score([S(0, 4, "no no no no way")], [S(0, 4, "no no no no way")])
    assert (genuine.loops, genuine.wer) == (0, 0.0)


def test_find_loops_agrees_with_the_regression_reports_repetition_loop():
    rng = random.Random(3)
    for _ in range(2000):
        tokens = [rng.choice("ab") for _ in range(rng.randint(0, 24))]
        assert bool(find_loops(tokens)) == repetition_loop(" ".join(tokens)), tokens
    assert find_loops("x thank you thank you thank you thank you y".split()) == [(1, 2, 4)]


REF_TIMES = [S(1, 3, "alpha beta"), S(5, 7, "gamma delta"), S(9, 11, "epsilon zeta")]


def test_timestamp_error_of_matched_segment_starts():
    shifted = [S(s.start + 0.3, s.end + 0.3, s.text) for s in REF_TIMES]
    result = score(REF_TIMES, shifted)
    assert result.timestamp_matches == 3
    assert result.timestamp_error_s == pytest.approx(0.3)
    # one hypothesis segment over two reference segments: "gamma" has no start of its own
    merged = score(REF_TIMES, [S(1.3, 7.3, "alpha beta gamma delta"), S(9.3, 11.3, "epsilon zeta")])
    assert (merged.timestamp_matches, merged.timestamp_error_s) == (2, pytest.approx(0.3))
    # word timestamps give every segment a start
    words = (("alpha", 1.3, 1.8), ("beta", 2.0, 2.9), ("gamma", 5.2, 5.9), ("delta", 6.0, 6.8))
    worded = score(REF_TIMES, [S(1.3, 6.8, "alpha beta gamma delta", words=words), S(9.3, 11.3, "epsilon zeta")])
    assert worded.timestamp_matches == 3
    assert worded.timestamp_error_s == pytest.approx((0.3 + 0.2 + 0.3) / 3)
    # a wrong first word is not a match
    assert score(REF_TIMES, [S(1.3, 3.3, "zulu beta")] + shifted[1:]).timestamp_matches == 2


def test_segment_level_wer_breaks_matches_written_far_from_where_they_were_said():
    near = score(REF_TIMES, [S(s.start + 1.0, s.end + 1.0, s.text) for s in REF_TIMES])
    assert (near.wer, near.segment_errors, near.segment_wer) == (0.0, 0, 0.0)
    far = score(REF_TIMES, [S(s.start + 20.0, s.end + 20.0, s.text) for s in REF_TIMES])
    assert far.wer == 0.0
    # each of the 6 matches 20 s away is a miss where it was said plus a word where it was written
    assert (far.segment_errors, far.segment_wer) == (12, 2.0)
    assert sum(s.deletions for s in far.segments) == 6
    assert far.unassigned_words + sum(s.insertions for s in far.segments) == 6


def test_wer_per_minute_by_reference_time():
    ref = [S(10, 12, "alpha beta"), S(130, 132, "gamma delta epsilon zeta")]
    hyp = [S(10, 12, "alpha beta"), S(70, 71, "hello"), S(130, 132, "gamma delta epsilon")]
    result = score(ref, hyp)
    rows = [(m.minute, m.ref_words, m.substitutions, m.deletions, m.insertions, m.wer) for m in result.minutes]
    assert rows == [(0, 2, 0, 0, 0, 0.0), (1, 0, 0, 0, 1, None), (2, 4, 0, 1, 0, 0.25)]
    assert result.silence_words == 1


def test_an_untimed_reference_gets_the_whole_recording_scores_only():
    result = score([Segment(None, None, "alpha beta gamma")], [S(0, 2, "alpha beta")])
    assert (result.timed, result.wer, result.deletions) == (False, 1 / 3, 1)
    assert (result.segment_wer, result.silence_words, result.dropped_segments, result.timestamp_error_s) == (None, None, None, None)
    assert result.minutes == () and result.segments == ()


def test_an_untimed_hypothesis_against_a_timed_reference():
    result = score(REF_PAUSE, [Segment(None, None, "alpha beta gamma")], duration_s=8)
    assert (result.hypothesis_timed, result.wer, result.silence_s) == (False, 0.25, 4.0)
    assert (result.silence_words, result.dropped_segments, result.segment_wer) == (None, None, None)
    assert sum(m.errors for m in result.minutes) == 1


def test_hypothesis_words_inside_an_ignored_stm_span_are_not_scored():
    ref = [S(0, 2, "alpha beta"), Segment(2, 4, "", ignored=True), S(4, 6, "gamma delta")]
    hyp = [S(0, 2, "alpha beta"), S(2.5, 3.5, "crosstalk nobody transcribed"), S(4, 6, "gamma delta")]
    result = score(ref, hyp)
    assert (result.wer, result.hyp_words, result.silence_s) == (0.0, 4, 0.0)


def test_score_round_trips_through_a_dict_and_json():
    result = score(REF_PAUSE, [S(0, 2, "alpha beta"), S(3, 5, "thank you"), S(6, 8, "gamma delta")], duration_s=9)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["errors"] == 2 and data["minutes"][0]["wer"] == 0.5
    assert RecordingScore.from_dict(data) == result


def test_summarize_adds_counts_over_recordings():
    a = score(REF3, [S(0, 2, "alpha beta gamma"), S(6, 8, "eta theta iota")])
    b = score(REF_PAUSE, [S(0, 2, "alpha beta"), S(3, 5, "thank you"), S(6, 8, "gamma delta")])
    total = summarize([a, b])
    assert (total["recordings"], total["ref_words"], total["errors"]) == (2, 13, 5)
    assert total["wer"] == 5 / 13
    assert (total["dropped_segments"], total["silence_words"], total["deleted_segments"]) == (1, 2, 1)


# --------------------------------------------------------------------------- audio in blocks


@pytest.mark.parametrize("name, rate, channels", [("a.wav", 16_000, 1), ("b.flac", 44_100, 2), ("c.ogg", 22_050, 1)])
def test_iter_audio_blocks_equals_load_audio(make_audio, name, rate, channels):
    path = make_audio(name, 7.3, rate, channels)
    source = AudioSource(path=str(path))
    blocks = list(iter_audio_blocks(path, 2.0))
    assert all(len(b) == 32_000 for b in blocks[:-1]) and 0 < len(blocks[-1]) <= 32_000
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    assert np.array_equal(np.concatenate(blocks), load_audio(source))
    normalized = Preprocessing(peak_normalize=True)
    assert np.array_equal(np.concatenate(list(iter_audio_blocks(source, 3.0, normalized))), load_audio(source, normalized))
    assert audio_duration(path) == probe(source).duration_s


def test_iter_audio_blocks_refuses_trimming_and_finds_truncation(make_audio):
    path = make_audio("a.wav", 3.0)
    with pytest.raises(BadInputError, match="trim_silence"):
        next(iter_audio_blocks(path, 1.0, Preprocessing(trim_silence=True)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError, match="truncated: header says 3.00 s"):
        list(iter_audio_blocks(path, 1.0))


# --------------------------------------------------------------------------- manifests with reference files


SRT_45 = "1\n00:00:01,000 --> 00:00:03,000\nHello there.\n\n2\n00:00:40,000 --> 00:00:43,500\nSee you next week.\n"
BAD_SRT = "1\n00:00:01,000 --> 00:00:03,000\nHello.\n\n2\n00:00:0x,000 --> 00:00:05,000\nBye.\n"


@pytest.fixture
def long_corpus(make_audio, make_file):
    make_audio("audio/long.flac", 45.0)
    make_audio("audio/long2.flac", 45.0)
    make_audio("audio/short.wav", 2.0)
    make_file("refs/long.srt", SRT_45)
    make_file("refs/bad.srt", BAD_SRT)
    make_file("refs/late.srt", "1\n00:00:50,000 --> 00:00:52,000\nToo late.\n")


def test_manifest_rows_with_reference_files(long_corpus, make_file):
    manifest = make_file(
        "m.csv",
        "audio,transcription,reference_file,language\n"
        "audio/long.flac,,refs/long.srt,en\n"
        "audio/long2.flac,,refs/bad.srt,en\n"
        "audio/short.wav,Good morning,,en\n"
        "audio/long2.flac,a long clip with its transcript as text,,en\n",
    )
    ds = load_dataset(manifest)
    assert [u.id for u in ds.utterances] == ["audio/long.flac", "audio/short.wav"]
    long, short = ds.utterances
    assert long.segments == read_reference(manifest.parent / "refs/long.srt")
    assert long.reference == "Hello there. See you next week." == reference_text(long.segments)
    assert (long.duration_s, long.longform, short.segments, short.longform) == (45.0, True, (), False)
    bad, too_long = ds.problems
    assert (bad.row, bad.field, bad.kind) == (3, "reference_file", "error")
    assert str(bad).startswith(f"{manifest}:3: reference_file: refs/bad.srt:6: bad time line")
    assert (too_long.row, too_long.field) == (5, "audio")
    assert "audio too long (45.00 s > 30 s)" in too_long.reason and "reference_file" in too_long.reason


def test_a_transcript_that_is_a_subtitle_path_and_the_longform_limit(long_corpus, make_file):
    manifest = make_file("m.csv", "audio,transcription\naudio/long.flac,refs/long.srt\n")
    (utterance,) = load_dataset(manifest).utterances
    assert utterance.reference == "Hello there. See you next week." and len(utterance.segments) == 2
    limited = load_dataset(manifest, LoadOptions(max_longform_duration_s=40.0))
    assert not limited.utterances
    assert "audio too long (45.00 s > 40 s)" in limited.problems[0].reason
    decoded = load_dataset(manifest, LoadOptions(check_audio="decode"))  # measured in blocks
    assert decoded.utterances[0].duration_s == 45.0


def test_a_reference_that_runs_past_the_audio_is_refused(long_corpus, make_file):
    manifest = make_file("m.csv", "audio,reference_file\naudio/long.flac,refs/late.srt\naudio/long2.flac,refs/long.srt\n")
    ds = load_dataset(manifest)
    assert [u.id for u in ds.utterances] == ["audio/long2.flac"]
    (problem,) = ds.problems
    assert (problem.row, problem.field) == (2, "reference_file")
    assert "reference runs to 52.00 s, past the end of the audio (45.00 s)" in problem.reason


def test_transcript_and_reference_file_disagreeing_is_a_warning(long_corpus, make_file):
    manifest = make_file("m.csv", "audio,transcription,reference_file\naudio/long.flac,something else,refs/long.srt\n")
    ds = load_dataset(manifest)
    assert ds.utterances[0].reference == "Hello there. See you next week."
    assert [(p.kind, p.field) for p in ds.problems] == [("warning", "transcription")]
    with pytest.raises(BadInputError, match="differ; the file is used"):
        load_dataset(manifest, LoadOptions(strict=True))


def test_strict_mode_fails_on_a_malformed_reference_file(long_corpus, make_file):
    manifest = make_file("m.csv", "audio,reference_file\naudio/long.flac,refs/long.srt\naudio/long2.flac,refs/bad.srt\n")
    with pytest.raises(BadInputError, match=r"m.csv:3: reference_file: refs/bad.srt:6: bad time line"):
        load_dataset(manifest, LoadOptions(strict=True))


def test_a_folder_with_subtitles_beside_the_audio(make_audio, make_file, tmp_path):
    make_audio("corpus/meeting.flac", 45.0)
    make_file("corpus/meeting.srt", SRT_45)
    make_audio("corpus/clip.wav", 2.0)
    make_file("corpus/clip.txt", "A short clip.")
    ds = load_dataset(tmp_path / "corpus")
    assert [(u.id, u.reference, len(u.segments)) for u in ds.utterances] == [
        ("clip.wav", "A short clip.", 0),
        ("meeting.flac", "Hello there. See you next week.", 2),
    ]


# --------------------------------------------------------------------------- the embedded demo


def test_the_longform_demo_loads_as_three_long_recordings():
    ds = load_dataset(LONGFORM_DEMO / "manifest.csv")
    assert not ds.problems
    assert [u.id for u in ds.utterances] == ["en-consultation", "en-ward-round", "de-sprechstunde"]
    assert [u.language for u in ds.utterances] == ["en", "en", "de"]
    for u in ds.utterances:
        assert 120 <= u.duration_s <= 300
        assert len(u.segments) >= 20 and all(s.timed for s in u.segments)
        pauses = [b.start - a.end for a, b in zip(u.segments, u.segments[1:])]
        assert min(pauses) >= 0.5 - 1e-3 and max(pauses) <= 4.0 + 1e-3
        assert sum(p > 1.0 for p in pauses) >= 10  # silences for the silence metric
        # the reference scored against itself is perfect
        perfect = score_recording(u.segments, u.segments, get_normalizer("auto"), u.language, duration_s=u.duration_s)
        assert (perfect.wer, perfect.segment_wer, perfect.silence_words, perfect.dropped_segments) == (0.0, 0.0, 0, 0)
    size = sum(p.stat().st_size for p in LONGFORM_DEMO.rglob("*") if p.is_file())
    assert size < 6_000_000


def test_minute_summary_says_where_a_run_goes_wrong():
    from dataclasses import replace

    from workbench.longform import MinuteScore, minute_summary

    def rec(*minutes):  # (ref words, errors) per minute, every error a substitution
        score = score_recording([Segment(0.0, 1.0, "a")], [Segment(0.0, 1.0, "a")], get_normalizer("auto"), "en")
        return replace(score, minutes=tuple(MinuteScore(i, ref, err, 0, 0) for i, (ref, err) in enumerate(minutes)))

    summary = minute_summary([("a", rec((10, 1), (10, 2), (0, 0))), ("b", rec((10, 6), (20, 2), (10, 10)))])
    # minutes with reference words only: WERs 0.1 0.2 | 0.6 0.1 1.0 (nearest rank: the 3rd and 5th of 5)
    assert summary == {"minutes": 5, "median_wer": 0.2, "p90_wer": 1.0, "worst_wer": 1.0,
                       "worst": {"utterance_id": "b", "minute": 2}, "minutes_over_half": 2}
    assert minute_summary([])["minutes"] == 0 and minute_summary([])["worst"] is None
