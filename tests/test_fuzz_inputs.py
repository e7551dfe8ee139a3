"""Seeded fuzz: random damage to audio, manifests, hypothesis files and lexicons.

Each round copies clean inputs (the mini example corpus and the demo lexicon), damages
some items at random and loads the result through the public loaders (`load_audio`,
`load_dataset`, `load_hypotheses` + `match_report`, `load_lexicon`). For every round:

- nothing escapes but the workbench's own errors, and an error is one line that starts
  with the damaged file's name;
- when the loader returns, every untouched row loads exactly as from the clean file;
- every damaged item is named: a Problem with its file and row, or the error.

The damage is what a loader can detect. A flipped letter inside a transcript is just
another transcript, and a flipped sample inside a PCM WAV is just other audio: nothing in
the file says what they should have been, so they are not damage this test asks about.
Byte flips therefore hit FLAC audio frames (each has a CRC) and the delimiters and JSON
syntax of text files. Truncation removes the rest of the file: rows after the cut are
absent, not damaged; the row that was cut must be named. Decoding no speech model, this
runs in a few seconds on a CPU. A failure names its seed: rerun with
WORKBENCH_FUZZ_SEED set to it.
"""

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from workbench.audio import AudioDecodeError, load_audio
from workbench.dataset import AudioSource
from workbench.errors import WorkbenchError
from workbench.hypotheses import load_hypotheses, match_report
from workbench.lexicon import load_lexicon
from workbench.manifest import LoadOptions, load_dataset

EXAMPLES = Path(__file__).resolve().parents[1] / "workbench" / "examples"
MINI = EXAMPLES / "mini"
DEMO_LEXICON = EXAMPLES / "demo" / "lexicon.csv"
# Fixed so CI is reproducible; WORKBENCH_FUZZ_SEED=<n> explores other damage locally.
SEED = int(os.environ.get("WORKBENCH_FUZZ_SEED", "19"))
ROUNDS = 30

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySoundFile failed:UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:'(aifc|audioop|sunau)' is deprecated:DeprecationWarning"),
]


@pytest.fixture(autouse=True)
def say_the_seed():
    print(f"WORKBENCH_FUZZ_SEED={SEED}")  # shown with a failure, to replay it
    yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A private copy of the mini corpus: rounds damage its files, then restore them."""
    folder = tmp_path_factory.mktemp("fuzz") / "mini"
    shutil.copytree(MINI, folder)
    return folder


def assert_names_the_file(error: WorkbenchError, name: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    assert message.startswith(name), f"{message!r} does not start with {name!r}"


# --------------------------------------------------------------------------- audio damage


def flac_audio_start(raw: bytes) -> int:
    """Where the first audio frame starts: after the last metadata block."""
    pos = 4
    while True:
        header, size = raw[pos], int.from_bytes(raw[pos + 1 : pos + 4], "big")
        pos += 4 + size
        if header & 0x80:
            return pos


def as_wav(raw_flac: bytes) -> bytes:
    data, rate = soundfile.read(io.BytesIO(raw_flac), dtype="int16")
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


AUDIO_DAMAGE = ("flac-truncate", "flac-flips", "flac-magic", "random-bytes", "wav-truncate", "wav-data-size", "wav-magic")


def damage_audio(raw_flac: bytes, rng, kind: str | None = None) -> tuple[str, str, bytes]:
    """(kind, suffix, damaged bytes), from one clean FLAC clip; a random kind by default."""
    kind = kind or str(rng.choice(AUDIO_DAMAGE))
    if kind == "flac-truncate":
        return kind, ".flac", raw_flac[: int(rng.integers(1, len(raw_flac)))]
    if kind == "flac-flips":
        damaged = bytearray(raw_flac)
        start = flac_audio_start(raw_flac)
        for _ in range(int(rng.integers(1, 4))):
            damaged[int(rng.integers(start, len(damaged)))] ^= int(rng.integers(1, 256))
        return kind, ".flac", bytes(damaged)
    if kind == "flac-magic":
        magic = [b"RIFF", b"OggS", b"ID3\x03", b"\xff\xfb\x90\x00", rng.bytes(4)][int(rng.integers(0, 5))]
        return kind, ".flac", magic + raw_flac[4:]
    if kind == "random-bytes":
        return kind, str(rng.choice([".flac", ".wav"])), rng.bytes(int(rng.integers(100, 40_000)))
    wav = as_wav(raw_flac)
    if kind == "wav-truncate":
        return kind, ".wav", wav[: int(rng.integers(1, len(wav)))]
    if kind == "wav-data-size":  # the data chunk claims more than the file holds
        size = int.from_bytes(wav[40:44], "little")
        return kind, ".wav", wav[:40] + (size + 2 * int(rng.integers(1, 50_000))).to_bytes(4, "little") + wav[44:]
    return kind, ".wav", bytes([wav[0] ^ 0x20]) + wav[1:]  # "rIFF"


def test_damaged_audio_is_always_named_and_clean_audio_is_unchanged(tmp_path):
    rng = np.random.default_rng(SEED)
    clips = sorted((MINI / "audio").glob("*.flac"))
    seen = set()
    for round_ in range(ROUNDS * 4):
        clip = clips[int(rng.integers(0, len(clips)))]
        kind, suffix, content = damage_audio(clip.read_bytes(), rng, AUDIO_DAMAGE[round_ % len(AUDIO_DAMAGE)])
        seen.add(kind)
        path = tmp_path / f"round{round_}{suffix}"
        path.write_bytes(content)
        label = f"audio/{path.name}"
        for source in (AudioSource(path=str(path), label=label), AudioSource(data=content, label=label)):
            with pytest.raises(AudioDecodeError) as info:
                load_audio(source)
            assert_names_the_file(info.value, label)
            assert info.value.reason and "Error" not in info.value.reason, (kind, str(info.value))
    assert len(seen) == 7  # every kind of damage was tried
    for clip in clips[:5]:  # and the checks leave clean clips exactly as soundfile reads them
        expected, _ = soundfile.read(str(clip), dtype="float32")
        np.testing.assert_array_equal(load_audio(AudioSource(path=str(clip))), expected)


def test_damaged_clips_in_a_manifest_are_excluded_by_row_and_the_rest_load_unchanged(corpus):
    manifest = corpus / "manifest.csv"
    options = LoadOptions(check_audio="decode")
    clean = load_dataset(manifest, options)
    assert len(clean.utterances) == 20 and clean.problems == ()
    rng = np.random.default_rng(SEED + 1)
    originals = {u.audio.path: Path(u.audio.path).read_bytes() for u in clean.utterances}
    for _ in range(ROUNDS // 3):
        victims = [clean.utterances[i] for i in rng.choice(len(clean.utterances), size=int(rng.integers(1, 5)), replace=False)]
        try:
            for u in victims:
                _, _, content = damage_audio(originals[u.audio.path], rng)
                Path(u.audio.path).write_bytes(content)  # the name stays: the manifest points at it
            loaded = load_dataset(manifest, options)
        finally:
            for u in victims:
                Path(u.audio.path).write_bytes(originals[u.audio.path])
        damaged_rows = {u.row for u in victims}
        assert {p.row for p in loaded.problems} == damaged_rows and len(loaded.problems) == len(victims)
        for problem in loaded.problems:
            victim = next(u for u in victims if u.row == problem.row)
            assert problem.source == str(manifest) and problem.field == "audios" and problem.utterance_id == victim.id
            assert problem.reason.endswith(f": {victim.audio.label}")
        assert loaded.utterances == tuple(u for u in clean.utterances if u.row not in damaged_rows)


# --------------------------------------------------------------------------- text damage, shared


FILE_DAMAGE = ("utf-16", "invalid-utf8", "wrong-header", "random-bytes")


def damage_file(text: str, kind: str, rng, header_from: str, header_to: str) -> tuple[bytes, int | None]:
    """Damage to a whole file: (content, line the error must name or None)."""
    if kind == "utf-16":
        return text.encode(str(rng.choice(["utf-16", "utf-16-le", "utf-16-be"]))), None
    if kind == "invalid-utf8":
        lines = text.split("\n")
        line = int(rng.integers(1, len(lines) - 1))  # a data line
        at = int(rng.integers(0, len(lines[line]) + 1))
        lines[line] = lines[line][:at] + "\udcff" + lines[line][at:]  # a lone 0xff byte
        return "\n".join(lines).encode("utf-8", "surrogateescape"), line + 1
    if kind == "wrong-header":
        return text.replace(header_from, header_to).encode("utf-8"), None
    return rng.bytes(int(rng.integers(50, 5_000))), None


def delimiter_positions(line: str, delimiter: str = ",") -> list[int]:
    return [i for i, ch in enumerate(line) if ch == delimiter]


def damage_delimited_rows(lines: list[str], rng, kinds: list[str], first: str, editable_field) -> tuple[list[str], dict[int, str]]:
    """Damage 1-3 distinct data rows of a comma-separated file, the first with damage
    `first`; returns the lines and {line number: kind}. Rows with quotes are left alone
    (a comma inside quotes is text)."""
    candidates = [i for i in range(1, len(lines)) if lines[i] and '"' not in lines[i]]
    chosen = rng.choice(candidates, size=int(rng.integers(1, 4)), replace=False)
    damaged: dict[int, str] = {}
    for n, index in enumerate(map(int, chosen)):
        kind = first if n == 0 else str(rng.choice(kinds))
        line = lines[index]
        commas = delimiter_positions(line)
        if kind == "drop-delimiter":
            at = commas[int(rng.integers(0, len(commas)))]
            line = line[:at] + line[at + 1 :]
        elif kind == "extra-delimiter":
            at = int(rng.integers(0, len(line) + 1))
            line = line[:at] + "," + line[at:]
        elif kind == "flip-delimiter":  # a comma turned into some other character
            at = commas[int(rng.integers(0, len(commas)))]
            line = line[:at] + str(rng.choice(list("abcxyz;: .|"))) + line[at + 1 :]
        else:
            line = editable_field(kind, line, rng)
        lines[index] = line
        damaged[index + 1] = kind
    return lines, damaged


def truncate_in_first_field(lines: list[str], rng) -> tuple[str, int]:
    """Cut the file inside the first field of a random data row: (text, its line number)."""
    index = int(rng.integers(1, len(lines) - 1))
    first_field = lines[index].split(",", 1)[0]
    keep = int(rng.integers(1, len(first_field)))
    return "\n".join(lines[:index] + [lines[index][:keep]]), index + 1


# --------------------------------------------------------------------------- manifests


def edit_manifest_field(kind: str, line: str, rng) -> str:
    audio, transcript, rest = line.split(",", 2)
    if kind == "missing-audio":
        return f"audio/missing-{int(rng.integers(0, 10**6))}.flac,{transcript},{rest}"
    return f"{audio},,{rest}"  # empty-transcript


def test_damaged_manifests_name_every_damaged_row(corpus):
    manifest = corpus / "manifest.csv"
    clean_text = manifest.read_text(encoding="utf-8")
    clean = load_dataset(manifest)
    assert clean.problems == () and len(clean.utterances) == 20
    by_row = {u.row: u for u in clean.utterances}
    rng = np.random.default_rng(SEED + 2)
    target = corpus / "damaged.csv"  # beside the manifest: the same audio paths resolve
    kinds_seen = set()
    kinds = ["drop-delimiter", "extra-delimiter", "flip-delimiter", "missing-audio", "empty-transcript"]
    for round_ in range(ROUNDS * 2):  # rounds cycle through whole-file, truncation, row damage
        lines = clean_text.rstrip("\n").split("\n")
        cut_at = None
        if round_ % 4 == 0:
            kind = FILE_DAMAGE[(round_ // 4) % len(FILE_DAMAGE)]
            content, line = damage_file(clean_text, kind, rng, "audios,", "audio_files,")
            target.write_bytes(content)
            kinds_seen.add(kind)
            with pytest.raises(WorkbenchError) as info:
                load_dataset(target)
            assert_names_the_file(info.value, f"{target}:{line}:" if line else str(target))
            continue
        if round_ % 4 == 1:
            text, cut_at = truncate_in_first_field(lines, rng)
            damaged = {cut_at: "truncate-in-row"}
        else:
            lines, damaged = damage_delimited_rows(lines, rng, kinds, kinds[round_ % len(kinds)], edit_manifest_field)
            if round_ % 4 == 2:  # a second row for an untouched clip, with another transcript
                source = int(rng.choice([r for r in by_row if r not in damaged and '"' not in lines[r - 1]]))
                audio, _, rest = lines[source - 1].split(",", 2)
                lines.append(f"{audio},A different transcript entirely,{rest}")
                damaged[len(lines)] = "conflicting-duplicate"
            text = "\n".join(lines) + "\n"
        kinds_seen.update(damaged.values())
        target.write_text(text, encoding="utf-8")
        loaded = load_dataset(target)
        assert {p.row for p in loaded.problems} == set(damaged), (damaged, [str(p) for p in loaded.problems])
        assert all(p.source == str(target) and p.kind == "error" for p in loaded.problems)
        untouched = [u for row, u in by_row.items() if row not in damaged and (cut_at is None or row < cut_at)]
        assert loaded.utterances == tuple(untouched)
        assert loaded.rows_read == len(untouched) + len(damaged)
    assert len(kinds_seen) == 11


# --------------------------------------------------------------------------- hypothesis files


def damage_hypothesis_line(kind: str, line: str, rng) -> str:
    obj = json.loads(line)
    if kind == "truncate-line":  # cut inside the hypothesis text: the key survives
        head = line.index('"hypothesis": "') + len('"hypothesis": "')
        return line[: int(rng.integers(head, len(line) - 1))]
    if kind == "flip-syntax":
        comma = line.index('", "hypothesis"') + 1
        at = [0, len(line) - 1, comma, line.index(":")][int(rng.integers(0, 4))]
        return line[:at] + str(rng.choice(list("abx;|=#"))) + line[at + 1 :]
    if kind == "drop-hypothesis":
        return json.dumps({"id": obj["id"]})
    if kind == "typo-key":
        return json.dumps({"id": obj["id"] + "x", "hypothesis": obj["hypothesis"]})
    return json.dumps({"id": obj["id"], "hypothesis": [obj["hypothesis"]]})  # a list, not text


def test_damaged_hypothesis_files_never_score_a_damaged_row(corpus):
    path = corpus / "hypotheses.jsonl"
    clean_text = path.read_text(encoding="utf-8")
    utterances = load_dataset(corpus / "manifest.csv", LoadOptions(check_audio="none")).utterances
    clean = match_report(load_hypotheses(path), utterances)
    assert clean.problems == () and len(clean.matched) == 20
    clean_lines = clean_text.rstrip("\n").split("\n")
    id_of_line = {n + 1: json.loads(line)["id"] for n, line in enumerate(clean_lines)}
    rng = np.random.default_rng(SEED + 3)
    target = corpus / "damaged.jsonl"
    kinds_seen = set()
    kinds = ["truncate-line", "flip-syntax", "drop-hypothesis", "typo-key", "list-not-text"]
    for round_ in range(ROUNDS * 2):
        if round_ % 4 == 0:
            kind = FILE_DAMAGE[(round_ // 4) % len(FILE_DAMAGE)]
            content, line = damage_file(clean_text, kind, rng, '"hypothesis":', '"hypothesys":')
            target.write_bytes(content)
            kinds_seen.add(kind)
            with pytest.raises(WorkbenchError) as info:
                load_hypotheses(target)
            assert_names_the_file(info.value, f"{target}:{line}:" if line else str(target))
            continue
        lines = list(clean_lines)
        damaged: dict[int, str] = {}
        for n, index in enumerate(map(int, rng.choice(len(lines), size=int(rng.integers(1, 4)), replace=False))):
            kind = kinds[round_ % len(kinds)] if n == 0 else str(rng.choice(kinds))
            lines[index] = damage_hypothesis_line(kind, lines[index], rng)
            damaged[index + 1] = kind
        kinds_seen.update(damaged.values())
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        hyps = load_hypotheses(target)
        report = match_report(hyps, utterances)
        lost = {id_of_line[row] for row in damaged}
        # every damaged row is named with its row, and nothing else is
        named = {p.row for p in hyps.problems} | {p.row for p in report.problems if p.row is not None}
        assert named == set(damaged)
        assert all(p.source == str(target) for p in hyps.problems + report.problems)
        # its utterance is missing, never scored: not in matched, not an empty string
        assert set(report.missing) == lost and not lost & set(report.matched)
        assert {p.utterance_id for p in report.problems if p.utterance_id} == lost
        for row, kind in damaged.items():
            if kind == "typo-key":
                assert (id_of_line[row] + "x", row) in report.unmatched_keys
            elif kind in ("truncate-line", "drop-hypothesis", "list-not-text"):
                assert report.unparsable[id_of_line[row]] == row  # the key was still readable
        # the untouched rows match exactly as before
        assert report.matched == {k: v for k, v in clean.matched.items() if k not in lost}
    assert len(kinds_seen) == 9


# --------------------------------------------------------------------------- lexicons


def edit_lexicon_field(kind: str, line: str, rng) -> str:
    term, language, rest = line.split(",", 2)
    if kind == "empty-term":
        return f",{language},{rest}"
    return f"{term},{str(rng.choice(['qq', 'zz', 'xx-YY', 'klingon']))},{rest}"  # unknown-language


def test_damaged_lexicons_name_every_damaged_row(tmp_path):
    clean_text = DEMO_LEXICON.read_text(encoding="utf-8")
    clean = load_lexicon(DEMO_LEXICON)
    assert clean.problems == () and len(clean.terms) == clean.rows_read  # one term per row
    term_of_line = {n + 2: term for n, term in enumerate(clean.terms)}
    rng = np.random.default_rng(SEED + 4)
    target = tmp_path / "lexicon.csv"
    kinds_seen = set()
    kinds = ["drop-delimiter", "extra-delimiter", "flip-delimiter", "empty-term", "unknown-language"]
    for round_ in range(ROUNDS * 2):
        lines = clean_text.rstrip("\n").split("\n")
        cut_at = None
        if round_ % 4 == 0:
            kind = FILE_DAMAGE[(round_ // 4) % len(FILE_DAMAGE)]
            content, line = damage_file(clean_text, kind, rng, "term,language", "terms,language")
            target.write_bytes(content)
            kinds_seen.add(kind)
            with pytest.raises(WorkbenchError) as info:
                load_lexicon(target)
            assert_names_the_file(info.value, f"{target}:{line}:" if line else str(target))
            continue
        if round_ % 4 == 1:
            text, cut_at = truncate_in_first_field(lines, rng)
            damaged = {cut_at: "truncate-in-row"}
        else:
            lines, damaged = damage_delimited_rows(lines, rng, kinds, kinds[round_ % len(kinds)], edit_lexicon_field)
            text = "\n".join(lines) + "\n"
        kinds_seen.update(damaged.values())
        target.write_text(text, encoding="utf-8")
        lexicon = load_lexicon(target)
        assert {p.row for p in lexicon.problems} == set(damaged), (damaged, [str(p) for p in lexicon.problems])
        assert all(p.source == str(target) and p.kind == "error" and p.row for p in lexicon.problems)
        assert lexicon.terms == tuple(t for line, t in term_of_line.items() if line not in damaged and (cut_at is None or line < cut_at))
    assert len(kinds_seen) == 10
