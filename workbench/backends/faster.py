"""faster-whisper (CTranslate2): the default backend on CPU, the fastest here."""

import time
from typing import Iterable, Iterator

from .base import AudioItem, DecodingOptions, Transcript, compression_ratio, language_code

__all__ = ["FasterWhisperBackend"]


class FasterWhisperBackend:
    name = "faster-whisper"

    def __init__(self, model_dir: str, multilingual: bool, options: DecodingOptions):
        from faster_whisper import WhisperModel

        self.options = options
        self.multilingual = multilingual
        self.model = WhisperModel(str(model_dir), device=options.device, compute_type=options.compute_type, cpu_threads=options.threads)

    def transcribe(self, items: Iterable[AudioItem]) -> Iterator[Transcript]:
        # One utterance at a time: faster-whisper batches chunks of one long file, not
        # separate clips, and CTranslate2 already spreads one decode over all threads.
        o = self.options
        for item in items:
            started = time.perf_counter()
            detected, probability = (None, None)
            if self.multilingual and o.detect_language:
                detected, probability, _ = self.model.detect_language(item.audio)
            # An English-only model has no language token: it can only decode English,
            # and its "detected" language would say nothing, so none is recorded.
            language = (language_code(o.language or item.language) or detected) if self.multilingual else "en"
            segments, info = self.model.transcribe(
                item.audio,
                language=language,
                task=o.task,
                beam_size=o.beam_size,
                best_of=max(1, o.beam_size),
                temperature=list(o.temperature),
                compression_ratio_threshold=o.compression_ratio_threshold,
                log_prob_threshold=o.logprob_threshold,
                no_speech_threshold=o.no_speech_threshold,
                condition_on_previous_text=o.condition_on_previous_text,
                initial_prompt=o.initial_prompt,
                hotwords=o.hotwords,
                without_timestamps=o.without_timestamps,
                vad_filter=False,
            )
            segments = list(segments)
            text = "".join(s.text for s in segments).strip()
            if detected is None and self.multilingual and not (o.language or item.language):
                detected, probability = info.language, info.language_probability
            yield Transcript(
                utterance_id=item.utterance_id,
                text=text,
                language=info.language,
                detected_language=detected,
                language_probability=probability,
                avg_logprob=_mean([s.avg_logprob for s in segments]),
                no_speech_prob=max((s.no_speech_prob for s in segments), default=None),
                compression_ratio=compression_ratio(text),
                temperature=max((s.temperature for s in segments), default=None),
                decode_s=time.perf_counter() - started,
            )


def _mean(values):
    return sum(values) / len(values) if values else None
