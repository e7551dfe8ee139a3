"""Reference files for long recordings: SRT, WebVTT, NIST STM and plain text parse to the
right segments, and every malformed file is refused with its file and line."""

import pytest

from workbench.errors import BadInputError
from workbench.subtitles import (
    ReferenceFileError,
    Segment,
    format_srt,
    is_timed,
    parse_srt,
    read_reference,
    reference_text,
)


def _read(make_file, name: str, content: str | bytes):
    return read_reference(make_file(name, content))


# --------------------------------------------------------------------------- SubRip


def test_srt_cues_with_tags_crlf_bom_and_hours(make_file):
    text = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there,\r\n{\\an8}my friend.\r\n\r\n"
        "2\r\n01:02:03,040 --> 01:02:04,000 X1:10 X2:20 Y1:5 Y2:9\r\nFish &amp; chips.\r\n"
    )
    segments = _read(make_file, "a.srt", text)
    assert segments == (
        Segment(1.0, 2.5, "Hello there, my friend."),
        Segment(3723.04, 3724.0, "Fish & chips."),
    )
    assert is_timed(segments)
    assert reference_text(segments) == "Hello there, my friend. Fish & chips."


def test_srt_tolerates_what_real_files_do(make_file):
    # no cue number, '.' before the milliseconds, no blank line before the next cue,
    # a cue without text, cues out of order and overlapping
    text = (
        "00:00:05.000 --> 00:00:06,000\nlate cue\n"
        "2\n00:00:01,000 --> 00:00:02,000\nearly cue\n\n"
        "3\n00:00:01,500 --> 00:00:03,000\n\n\n"
        "4\n00:00:01,800 --> 00:00:02,200\noverlapping 1984\n"
    )
    segments = _read(make_file, "b.srt", text)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (1.0, 2.0, "early cue"),
        (1.8, 2.2, "overlapping 1984"),
        (5.0, 6.0, "late cue"),
    ]


def test_srt_round_trips_through_format_srt():
    segments = (Segment(0.0, 1.25, "one"), Segment(61.5, 3725.125, "two words"))
    assert tuple(parse_srt(format_srt(segments))) == segments


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nhi\n", 2, "bad time line '00:00:01,000 -> 00:00:02,000' after cue 1"),
        ("1\n00:00:03,000 --> 00:00:02,000\nhi\n", 2, "cue ends before it starts"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:61,000 --> 00:01:02,000\nhi\n", 6, "minutes or seconds above 59"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\nhello there\n", 5, "expected a cue number or a time line, found 'hello there'"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n\nnext\n", 6, "cue 2 has no time line"),
        ("1\n00:00:01,000 --> 00:00:xx,000\nhi\n", 2, "bad time line"),
    ],
)
def test_malformed_srt_names_file_and_line(make_file, content, line, fragment):
    path = make_file("bad.srt", content)
    with pytest.raises(ReferenceFileError) as info:
        read_reference(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, BadInputError) and info.value.line == line


# --------------------------------------------------------------------------- WebVTT


def test_vtt_header_notes_identifiers_voices_and_inline_timestamps(make_file):
    text = (
        "WEBVTT - a meeting\nKind: captions\n\n"
        "NOTE written by hand\nacross two lines\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "intro\n00:01.000 --> 00:02.500 align:start position:10%\n<v.loud Dr Smith>Good <c.red>morning</c><00:01.800> everyone\n\n"
        "01:00:00.000 --> 01:00:01.000\n<v Ann>Thanks &lt;all&gt;\n"
    )
    assert _read(make_file, "m.vtt", text) == (
        Segment(1.0, 2.5, "Good morning everyone", "Dr Smith"),
        Segment(3600.0, 3601.0, "Thanks <all>", "Ann"),
    )


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ("WEBVT\n\n00:01.000 --> 00:02.000\nhi\n", 1, "not a WebVTT file"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n", 1, "the first line must be 'WEBVTT'"),
        ("WEBVTT\n\ncue-1\nhello\n", 4, "expected a time line after cue identifier 'cue-1'"),
        ("WEBVTT\n\n00:01.000 --> 00:02,000\nhi\n", 3, "bad time line"),
        ("WEBVTT\n\n00:05.000 --> 00:02.000\nhi\n", 3, "cue ends before it starts"),
    ],
)
def test_malformed_vtt_names_file_and_line(make_file, content, line, fragment):
    path = make_file("bad.vtt", content)
    with pytest.raises(ReferenceFileError) as info:
        read_reference(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- NIST STM


STM = (
    ";; CATEGORY \"0\" \"\" \"\"\n"
    "call1 A agent 0.50 2.00 <o,f0,female> thank you for calling\n"
    "call1 B caller 2.40 4.00 hi i have a question\n"
    "call1 A agent 4.00 5.00 ignore_time_segment_in_scoring\n"
    "call1 A inter_segment_gap 5.00 6.00\n"
    "call1 B caller 6.00 6.50\n"
    "call2 A agent 0.00 1.00 another call\n"
)


def test_stm_picks_one_recording_with_speakers_and_ignored_spans(make_file):
    path = make_file("calls.stm", STM)
    segments = read_reference(path, recording="audio/call1.wav")
    assert segments == (
        Segment(0.5, 2.0, "thank you for calling", "agent"),
        Segment(2.4, 4.0, "hi i have a question", "caller"),
        Segment(4.0, 5.0, "", "agent", ignored=True),
    )
    assert reference_text(segments) == "thank you for calling hi i have a question"
    assert read_reference(path, recording="call2") == (Segment(0.0, 1.0, "another call", "agent"),)


def test_stm_of_one_recording_needs_no_name(make_file):
    path = make_file("one.stm", "whatever 1 spk 0 1.5 hello\n")
    assert read_reference(path, recording="differently-named.wav") == (Segment(0.0, 1.5, "hello", "spk"),)


@pytest.mark.parametrize(
    "content, recording, line, fragment",
    [
        ("a 1 s 0.0\n", None, 1, "expected 'file channel speaker begin end [<labels>] transcript'"),
        ("a 1 s zero 2 hi\n", None, 1, "begin and end times must be seconds"),
        (";; ok\na 1 s 0 1 hi\na 1 s 3 2 hi\n", None, 3, "segment ends before it starts"),
        ("a 1 s 0 1 hi\nb 1 s 0 1 hi\n", None, None, "holds segments of 2 recordings (a, b): name the recording"),
        ("a 1 s 0 1 hi\nb 1 s 0 1 hi\n", "c.wav", None, "none for recording 'c'"),
        (";; nothing\n", None, None, "no STM segments"),
    ],
)
def test_malformed_stm(make_file, content, recording, line, fragment):
    path = make_file("bad.stm", content)
    with pytest.raises(ReferenceFileError) as info:
        read_reference(path, recording=recording)
    prefix = f"{path}:{line}: " if line else f"{path}: "
    assert str(info.value).startswith(prefix), str(info.value)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- plain text and files


def test_txt_is_one_untimed_segment(make_file):
    segments = _read(make_file, "r.txt", "  Good morning.\n\nHow are you?\n")
    assert segments == (Segment(None, None, "Good morning. How are you?"),)
    assert not is_timed(segments)


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.txt", "  \n", "empty reference file"),
        ("empty.srt", "\n\n", "no subtitle cues with text"),
        ("only-header.vtt", "WEBVTT\n\nNOTE nothing\n", "no subtitle cues with text"),
        ("a.sub", "hello", "unknown reference file type '.sub'"),
        ("latin1.srt", "1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("latin-1"), ":3: not valid UTF-8"),
    ],
)
def test_unreadable_reference_files(make_file, name, content, fragment):
    path = make_file(name, content)
    with pytest.raises(BadInputError) as info:
        read_reference(path)
    assert str(info.value).startswith(str(path))
    assert fragment in str(info.value)


def test_missing_reference_file(tmp_path):
    with pytest.raises(ReferenceFileError, match="reference file not found"):
        read_reference(tmp_path / "nope.srt")


# --------------------------------------------------------------------------- damage


def test_damaged_files_parse_or_fail_with_a_one_line_error():
    """Random edits of good files: each either still parses to sane segments or raises a
    BadInputError naming the file, never another exception."""
    import random

    from workbench.subtitles import parse_stm, parse_vtt

    good = {
        parse_srt: "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> there\n\n2\n00:00:03,000 --> 00:00:04,000\nNext\n\n3\n01:00:05,000 --> 01:00:06,000\nThird\n",
        parse_vtt: "WEBVTT\n\nNOTE x\n\nid1\n00:01.000 --> 00:02.000\n<v Bob>Hi all\n\n01:00:00.000 --> 01:00:01.000\nyes\n",
        parse_stm: "a 1 s 0.0 1.0 <o> hello\na 1 s 1.5 2.0 there\nb 1 t 0 1 x\n",
    }
    rng = random.Random(11)
    alphabet = "0123456789:,.-> \n<>{}\\abcWEBVTTNOTE\r\ufeff"
    for _ in range(400):
        for parse, text in good.items():
            chars = list(text)
            for _ in range(rng.randint(1, 6)):
                i = rng.randrange(len(chars) + 1)
                op = rng.random()
                if op < 0.3 and chars:
                    del chars[min(i, len(chars) - 1)]
                elif op < 0.7:
                    chars.insert(i, rng.choice(alphabet))
                else:
                    chars = chars[:i]
            damaged = "".join(chars)
            try:
                segments = parse(damaged, "damaged.x")
            except BadInputError as exc:
                assert str(exc).startswith("damaged.x") and "\n" not in str(exc), (damaged, str(exc))
            else:
                assert segments and all(0 <= s.start <= s.end and s.text for s in segments), damaged
