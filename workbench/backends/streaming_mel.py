"""Whisper's log-Mel spectrogram of a long recording, computed block by block as the
sequential decoder reads it, so decoding an hour holds a few windows, not the hour.

faster-whisper's `WhisperModel.transcribe` takes the whole signal and computes the
features of all of it at once: for an hour of 16 kHz audio the signal is 230 MB, and the
spectrogram's intermediates (the windowed frames, the complex STFT, its magnitudes) pass
through several GB (benchmarks/README.md, "Block-wise long-form decoding"). Its
sequential algorithm itself (`generate_segments`) reads the features only through
`features.shape[-1]` and slices `features[:, seek:seek + size]`, with `seek` never
going back. `StreamingMel` is such an object: it computes the frames a slice asks for
from the audio blocks, keeps the frames from the last slice's start on, and forgets
the rest. So the decoding is faster-whisper's own, unchanged: same windows, seeks,
prompts (conditioning on the previous text included), temperature fallback and
timestamps, which are times in the recording since `seek` counts from its start.

The frames are the ones `FeatureExtractor.__call__` computes on the whole signal: each
STFT frame depends only on its 400 samples (the edge frames on the same reflection
padding, rebuilt here), and faster-whisper's own `stft` computes them. One step is not
local: the floor at the whole spectrogram's maximum minus 8 (80 dB). A first read of the
recording finds that maximum (`peak`), so a window's features equal the whole-signal
ones (the same float32 operations; tests/test_streaming_mel.py compares them), at the
cost of reading the audio twice and computing the spectrogram twice (a few percent of
decoding).
"""

from typing import Iterator

import numpy as np

from .base import BlockAudio

__all__ = ["StreamingMel"]


class StreamingMel:
    """The features of `audio` (`BlockAudio`) as faster-whisper's `FeatureExtractor`
    computes them for the whole signal, served slice by slice, in order.

    `shape` is the whole spectrogram's, (n_mels, frames); `mel[:, a:b]` returns those
    frames. A slice may start at or after the previous slice's start (the decoder's seek
    only moves forward), and frames before it are released: asking for them again is an
    error. `last` is (start frame, features) of the latest slice served (the window the
    decoder just decoded, for word alignment); `peak_held_frames` the most frames held at
    once (the memory bound, checked by tests)."""

    def __init__(self, extractor, audio: BlockAudio, step: int = 3000):
        self.hop, self.n_fft = extractor.hop_length, extractor.n_fft
        self.filters = extractor.mel_filters
        self.window = np.hanning(self.n_fft + 1)[:-1].astype("float32")  # FeatureExtractor's window
        self.audio, self.step = audio, step
        self.samples = len(audio)
        if self.samples <= self.n_fft:
            raise ValueError(f"StreamingMel: {self.samples} samples is not a recording (at least {self.n_fft + 1} needed)")
        # __call__ pads 160 samples, its STFT centres frames on every hop and the last
        # frame is dropped: (samples + 160) // hop frames
        self.shape = (self.filters.shape[0], (self.samples + 160) // self.hop)
        self.peak = max(float(frames.max()) for frames in self._log_mel())  # the first read
        self.floor = np.float32(self.peak) - 8.0  # float32, as log_spec.max() - 8.0 is
        self.last: tuple[int, np.ndarray] | None = None
        self.peak_held_frames = 0
        self._frames: Iterator[np.ndarray] | None = None
        self._held = np.zeros((self.shape[0], 0), np.float32)  # raw log-Mel frames from _first on
        self._first = 0

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key if isinstance(key, tuple) and len(key) == 2 else (None, None)
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise TypeError(f"StreamingMel supports mel[:, a:b] only, got {key!r}")
        start, stop, _ = cols.indices(self.shape[1])
        if start < self._first:
            raise ValueError(f"StreamingMel: frames before {self._first} were released (asked for {start}:{stop})")
        if self._frames is None:
            self._frames = self._log_mel()  # the second read: the one the decoder consumes
        while self._first + self._held.shape[1] < stop:
            self._held = np.concatenate([self._held, next(self._frames)], axis=1)
            self.peak_held_frames = max(self.peak_held_frames, self._held.shape[1])
        # frames before this slice are never asked for again
        self._held, self._first = self._held[:, start - self._first :], start
        raw = self._held[:, : max(0, stop - start)]
        features = (np.maximum(raw, self.floor) + 4.0) / 4.0  # FeatureExtractor's floor and scaling
        self.last = (start, features)
        return features

    def _log_mel(self) -> Iterator[np.ndarray]:
        """log10 of the Mel power of every frame, in order, at most `step` frames at a time
        (before the floor): the blocks of one read of the audio, reflection-padded as
        `np.pad(mode="reflect")` pads the whole signal."""
        from faster_whisper.feature_extractor import FeatureExtractor

        hop, n_fft, total = self.hop, self.n_fft, self.shape[1]
        held = np.zeros(0, np.float32)  # padded samples from frame `done`'s first on
        done = 0
        pieces = self._padded()
        ended = False
        while done < total:
            # `step` frames at a time (fewer only at the end): the same matrix shapes on
            # every call, as BLAS rounds a product of another shape differently
            count = min(self.step, total - done)
            needed = (count - 1) * hop + n_fft
            while len(held) < needed and not ended:
                piece = next(pieces, None)
                if piece is None:
                    ended = True
                else:
                    held = np.concatenate([held, piece])
            if len(held) < needed:
                break
            stft = FeatureExtractor.stft(held[:needed], n_fft, hop, window=self.window, center=False, return_complex=True)
            power = np.abs(stft.astype("complex64")) ** 2
            if count < self.step:  # the last frames: padded to the usual shape (zeros), then cut
                power = np.pad(power, ((0, 0), (0, self.step - count)))
            mel = (self.filters @ power)[:, :count]
            yield np.log10(np.clip(mel, a_min=1e-10, a_max=None))
            held, done = held[count * hop :], done + count
        for _ in pieces:  # the end of the read, which checks the sample count
            pass
        if done != total:
            raise ValueError(f"StreamingMel: the audio changed between reads ({done} frames of {total})")

    def _padded(self) -> Iterator[np.ndarray]:
        """The signal as the whole-signal STFT sees it, in pieces: reflected at the start,
        the blocks, the 160 zeros `FeatureExtractor.__call__` appends, reflected at the end."""
        reach = self.n_fft // 2  # 200: the centre padding on each side
        blocks = iter(self.audio.read())
        first, count = [], 0
        for block in blocks:
            first.append(np.asarray(block, dtype=np.float32))
            count += len(first[-1])
            if count > reach:
                break
        head = np.concatenate(first)
        if len(head) <= reach:
            raise ValueError(f"StreamingMel: the audio changed between reads ({len(head)} samples of {self.samples})")
        yield head[1 : reach + 1][::-1].copy()
        tail, seen = head[-(reach + 1) :].copy(), len(head)
        yield head
        del first, head  # this generator lives as long as the decoding: hold no block
        block = None
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            tail, seen = np.concatenate([tail, block])[-(reach + 1) :].copy(), seen + len(block)
            yield block
        del block
        if seen != self.samples:
            raise ValueError(f"StreamingMel: the audio changed between reads ({seen} samples, {self.samples} expected)")
        zeros = np.zeros(160, np.float32)
        yield zeros
        tail = np.concatenate([tail, zeros])[-(reach + 1) :]
        yield tail[-2::-1].copy()
