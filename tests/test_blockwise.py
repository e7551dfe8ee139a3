"""Long recordings read and decoded block by block (no model needed).

`StreamingMel` serves the sequential decoder the features of each window as it reaches
them; they must be the features faster-whisper computes for the whole signal, to the
bit (the decoding is then the same), whatever the block sizes, while holding a bounded
number of frames and audio blocks however long the recording. Runs read a long
recording as a `BlockAudio` (`transcription.utterance_audio`), after one read that
checks the whole file decodes. The decoding itself is tested with tiny.en in
tests/test_longform_decoding.py.
"""

import weakref
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from workbench.audio import AudioDecodeError, iter_audio_blocks, load_audio
from workbench.backends.base import LONG_ITEM_SAMPLES, BlockAudio, signal
from workbench.backends.streaming_mel import StreamingMel
from workbench.dataset import AudioSource, Utterance
from workbench.transcription import utterance_audio

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "workbench" / "examples" / "longform" / "audio" / "en-consultation.ogg"


@pytest.fixture(scope="module")
def speech():
    """75 s of the long-form demo's first recording (synthetic speech, pauses, noise)."""
    return load_audio(AudioSource(path=str(RECORDING)))[: 75 * 16_000]


class Reader:
    """A BlockAudio's `read`: blocks of the given sizes in turn, counting the blocks
    alive at once (weak references: a block alive is one someone still holds)."""

    def __init__(self, samples: np.ndarray, sizes):
        self.samples, self.sizes = samples, sizes
        self.alive = self.most_alive = self.reads = 0

    def _gone(self):
        self.alive -= 1

    def __call__(self):
        self.reads += 1
        at, i = 0, 0
        while at < len(self.samples):
            block = self.samples[at : at + self.sizes[i % len(self.sizes)]].copy()
            at, i = at + len(block), i + 1
            weakref.finalize(block, self._gone)
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
            yield block
            del block


@pytest.mark.parametrize("length, sizes", [
    (75 * 16_000, [16_000 * 30]),  # 30 s blocks, as runs read
    (75 * 16_000, [7_777, 123_457, 301]),  # uneven blocks, some shorter than the STFT's reach
    (LONG_ITEM_SAMPLES + 1, [16_000]),  # one sample over the window
    (LONG_ITEM_SAMPLES + 37, [480_037]),  # one block
])
def test_features_equal_the_whole_signal_features_to_the_bit(speech, length, sizes):
    audio = speech[:length]
    whole = FeatureExtractor()(audio)  # what WhisperModel.transcribe decodes from
    mel = StreamingMel(FeatureExtractor(), BlockAudio(length, Reader(audio, sizes)))
    assert mel.shape == whole.shape
    content = whole.shape[-1] - 1
    # seeks as Whisper moves them: a full window, back to a timestamp inside it, the tail
    seeks = [s for s in (0, 2_750, 5_500, 5_501, 6_900) if s < content]
    for seek in seeks:
        features = mel[:, seek : seek + 3000]
        assert np.array_equal(features, whole[:, seek : seek + 3000]), seek
        assert mel.last[0] == seek and mel.last[1] is features
    assert np.array_equal(mel[:, content - 10 : content], whole[:, content - 10 : content])  # the reflected end


def test_memory_is_bounded_whatever_the_length():
    """Ten minutes (of noise: the values do not matter here) held a few windows' frames
    and a few blocks at a time, not the recording."""
    noise = (0.05 * np.random.default_rng(0).standard_normal(600 * 16_000)).astype(np.float32)
    reader = Reader(noise, [16_000 * 5])
    mel = StreamingMel(FeatureExtractor(), BlockAudio(len(noise), reader))
    for seek in range(0, mel.shape[1] - 1, 2_600):
        mel[:, seek : seek + 3000]
    assert reader.reads == 2  # the maximum, then the decoding
    assert reader.most_alive <= 3, reader.most_alive  # of 120 blocks
    assert mel.peak_held_frames <= 3000 + 2 * mel.step  # of 60,000 frames
    assert reader.alive <= 1


def test_misuse_and_a_changed_file_are_errors(speech):
    audio = speech[: 40 * 16_000]
    mel = StreamingMel(FeatureExtractor(), BlockAudio.of_array(audio))
    mel[:, 1000:4000]
    with pytest.raises(ValueError, match="frames before 1000 were released"):
        mel[:, 500:3500]
    for bad in (np.s_[0, 1:2], np.s_[:, ::2], np.s_[1:2]):
        with pytest.raises(TypeError, match=r"mel\[:, a:b\] only"):
            mel[bad]
    # the file read again is not the file counted: said, not decoded short
    grown = BlockAudio(len(audio) - 16_000, lambda: iter([audio]))
    with pytest.raises(ValueError, match="the audio changed between reads"):
        StreamingMel(FeatureExtractor(), grown)
    with pytest.raises(ValueError, match="not a recording"):
        StreamingMel(FeatureExtractor(), BlockAudio.of_array(audio[:300]))


def test_block_audio_reads_again_and_gives_the_whole_signal_on_demand(speech):
    audio = speech[: 40 * 16_000]
    blocks = BlockAudio.of_array(audio, 7_000)
    assert len(blocks) == len(audio) and [len(b) for b in blocks.read()][:2] == [7_000, 7_000]
    assert np.array_equal(blocks.head(10_000), audio[:10_000]) and np.array_equal(signal(blocks), audio)
    assert signal(audio) is audio


def test_runs_read_long_recordings_in_blocks_and_clips_whole(tmp_path, make_audio):
    long = make_audio("long.wav", 41.0)
    clip = make_audio("clip.wav", 4.0)
    source = AudioSource(path=str(long), label="long.wav")
    audio = utterance_audio(Utterance("long", source, "", duration_s=41.0))
    assert isinstance(audio, BlockAudio) and len(audio) == 41 * 16_000
    assert np.array_equal(signal(audio), load_audio(source))
    assert np.array_equal(np.concatenate(list(audio.read())), np.concatenate(list(iter_audio_blocks(long, 30.0))))
    short = utterance_audio(Utterance("clip", AudioSource(path=str(clip)), "", duration_s=4.0))
    assert isinstance(short, np.ndarray) and len(short) == 4 * 16_000
    # a damaged recording is found by the first read: a failed row, before any decoding
    long.write_bytes(long.read_bytes()[: 30 * 32_000])
    with pytest.raises(AudioDecodeError, match="truncated: header says 41.00 s"):
        utterance_audio(Utterance("long", source, "", duration_s=41.0))
