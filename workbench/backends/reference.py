"""openai-whisper: the reference implementation, for parity checks.

Word confidence is not taken from `transcribe(word_timestamps=True)`: with timestamps
off, that option moves the next window's start to the last word's end and decodes the
clip's tail again, which can add words, so the transcript would depend on it. Instead,
after decoding, one teacher-forced decoder pass per 30 s window scores the decoded tokens
the way Whisper's `find_alignment` does (softmax over text tokens after the same start
sequence), and `split_words` groups them into words. For a clip (one window) the
encoder output `transcribe` computed is caught by a forward hook and reused (running the
encoder again, as Whisper's own word timestamps do, made tiny.en's CPU decode 1.7x as
long); windows of long items are encoded again, as their outputs are not all kept.

Items longer than 30 s are decoded by `whisper.transcribe`, Whisper's sequential
algorithm, always with timestamps (they are how it seeks from one window to the next;
without them speech cut at a window boundary is dropped) and conditioning on the
previous text as the options say; their segments are kept with their times. There is
no batched pipeline and no VAD here: `longform="batched"` or `vad=True` is refused, not
quietly decoded another way. Word times are not computed (the confidence pass above
gives probabilities only). `whisper.transcribe` takes one array, so a long recording's
whole signal is in memory while it is decoded here (the faster-whisper backend decodes
it block by block).
"""

import time
from dataclasses import replace
from typing import Iterable, Iterator

from .base import (LONG_ITEM_SAMPLES, AudioItem, DecodingOptions, Transcript, applied_options, compression_ratio, language_code,
                   long_item_options, signal, split_words)
from .registry import register

__all__ = ["OpenAIWhisperBackend"]


class OpenAIWhisperBackend:
    name = "openai-whisper"

    def __init__(self, checkpoint: str, multilingual: bool, options: DecodingOptions, alignment_heads=None):
        import torch
        import whisper

        _check_longform(options, "the decoding options")
        if options.threads:
            torch.set_num_threads(options.threads)
        self.options = options
        self.multilingual = multilingual
        self.checkpoint = str(checkpoint)
        self.torch = torch
        self.model = whisper.load_model(str(checkpoint), device=options.device)
        if alignment_heads is not None:
            # load_model(path) does not apply them; word timestamps need them.
            self.model.set_alignment_heads(alignment_heads)

    def applied_options(self) -> dict:
        """The options as applied: one utterance at a time, float32 on CPU (fp16 elsewhere),
        no hotwords (openai-whisper has none), the torch threads in use."""
        import whisper

        o = self.options
        return applied_options(
            o, self.name, self.checkpoint,
            batch_size=1,
            compute_type="float32" if o.device == "cpu" else "float16",
            device=str(self.model.device),
            threads=self.torch.get_num_threads() if o.device == "cpu" else o.threads,
            hotwords=None,
            detect_language=o.detect_language and self.multilingual,
            language=o.language if self.multilingual else "en",
            libraries={"torch": self.torch.__version__, "openai_whisper": whisper.__version__},
        )

    def transcribe(self, items: Iterable[AudioItem]) -> Iterator[Transcript]:
        import whisper

        for item in items:
            started = time.perf_counter()
            long, end = len(item.audio) > LONG_ITEM_SAMPLES, len(item.audio) / 16_000
            # whisper.transcribe takes one array: a recording read in blocks is read whole
            item = replace(item, audio=signal(item.audio))
            o = long_item_options(self.options, item) if long else self.options
            _check_longform(o, f"utterance {item.utterance_id}")
            detected, probability = (None, None)
            if self.multilingual and o.detect_language:
                mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(item.audio), self.model.dims.n_mels).to(self.model.device)
                _, probs = self.model.detect_language(mel)
                detected = max(probs, key=probs.get)
                probability = float(probs[detected])
            if not self.multilingual:
                # An English-only model decodes everything as English: that is what it
                # "detects", and what language-ID accuracy per slice should show.
                detected = "en"
            language = (language_code(o.language or item.language) or detected) if self.multilingual else "en"
            decode = {"beam_size": o.beam_size} if o.beam_size > 1 else {}
            encoded: list = []  # (mel window, encoder output) of this clip, for word confidence
            hook = None
            if o.word_confidence and not long:
                hook = self.model.encoder.register_forward_hook(lambda module, args, out: encoded.append((args[0], out)))
            try:
                result = self._transcribe(item, o, language, long, decode)
            finally:
                if hook is not None:
                    hook.remove()
            segments = result.get("segments", [])
            text = result["text"].strip()
            words = self._words(item.audio, segments, result.get("language") or language, encoded) if o.word_confidence else None
            yield Transcript(
                utterance_id=item.utterance_id,
                text=text,
                language=result.get("language"),
                detected_language=detected,
                language_probability=probability,
                avg_logprob=_mean([s["avg_logprob"] for s in segments]),
                no_speech_prob=max((s["no_speech_prob"] for s in segments), default=None),
                compression_ratio=compression_ratio(text),
                temperature=max((s["temperature"] for s in segments), default=None),
                decode_s=time.perf_counter() - started,
                words=words,
                # no time after the audio's end (the closing timestamp can fall in the last window's padding)
                segments=tuple((round(min(float(s["start"]), end), 3), round(min(float(s["end"]), end), 3), s["text"].strip())
                               for s in segments if s["text"].strip()) if long else (),
            )

    def _transcribe(self, item: AudioItem, o: DecodingOptions, language: str | None, long: bool, decode: dict) -> dict:
        import whisper

        return whisper.transcribe(
            self.model,
            item.audio,
            language=language,
            task=o.task,
            temperature=o.temperature if len(o.temperature) > 1 else o.temperature[0],
            compression_ratio_threshold=o.compression_ratio_threshold,
            logprob_threshold=o.logprob_threshold,
            no_speech_threshold=o.no_speech_threshold,
            condition_on_previous_text=o.condition_on_previous_text,
            initial_prompt=item.prompt or o.initial_prompt,
            without_timestamps=o.without_timestamps and not long,
            fp16=o.device != "cpu",
            verbose=None,
            **decode,
        )

    def _words(self, audio, segments: list[dict], language: str | None, encoded=()) -> tuple[tuple[str, float], ...]:
        """(word, probability) of the decoded text: per window (segments share a window's
        `seek`), Whisper's start sequence + <|notimestamps|> + the window's text tokens,
        one decoder pass, each token's probability among text tokens. `encoded`: (mel
        window, encoder output) pairs `transcribe` computed, in call order; a window found
        there (the first one, or the same input exactly) is not encoded again."""
        import whisper
        from whisper.audio import N_FRAMES, N_SAMPLES

        torch, model, o = self.torch, self.model, self.options
        tokenizer = whisper.tokenizer.get_tokenizer(
            model.is_multilingual, num_languages=model.num_languages, language=language, task=o.task)
        windows: dict[int, list[int]] = {}
        for segment in segments:
            windows.setdefault(int(segment["seek"]), []).extend(t for t in segment["tokens"] if t < tokenizer.eot)
        if not any(windows.values()):
            return ()
        mel = None
        dtype = next(model.parameters()).dtype
        start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        words: list[tuple[str, float]] = []
        for seek, tokens in windows.items():
            if not tokens:
                continue
            ids = torch.tensor([start + tokens], device=model.device)
            with torch.inference_mode():
                if seek == 0 and encoded:
                    features = encoded[0][1]  # transcribe's first encoder call is the window at 0
                else:
                    if mel is None:
                        mel = whisper.log_mel_spectrogram(audio, model.dims.n_mels, padding=N_SAMPLES)
                    window = whisper.pad_or_trim(mel[:, seek : seek + min(N_FRAMES, mel.shape[-1] - N_FRAMES - seek)], N_FRAMES)
                    window = window[None].to(model.device, dtype)
                    features = next((out for mel_in, out in encoded if mel_in.shape == window.shape and torch.equal(mel_in, window)), None)
                    if features is None:
                        features = model.encoder(window)
                logits = model.decoder(ids, features)[0]
            probs = logits[len(start) - 1 : len(start) - 1 + len(tokens), : tokenizer.eot].float().softmax(-1)
            p = probs[torch.arange(len(tokens)), torch.tensor(tokens)].tolist()
            words.extend(split_words(tokens, p, tokenizer.decode, language))
        return tuple(words)


@register("openai-whisper", model_format="openai-whisper", description="openai-whisper: the reference implementation, for parity checks")
def make_openai_whisper(model, options: DecodingOptions) -> OpenAIWhisperBackend:
    return OpenAIWhisperBackend(str(model.openai_checkpoint), model.multilingual, options, model.alignment_heads)


def _check_longform(options: DecodingOptions, what: str) -> None:
    if options.longform == "batched" or options.vad:
        asked = "longform=batched" if options.longform == "batched" else "vad=true"
        raise ValueError(f"{what}: {asked} needs the faster-whisper backend (BatchedInferencePipeline, Silero VAD); "
                         "openai-whisper decodes long items sequentially only")


def _mean(values):
    return sum(values) / len(values) if values else None
