"""faster-whisper (CTranslate2): the default backend on CPU, the fastest here.

For clips up to 30 s (the usual held-out utterance) a batch of clips goes through the
encoder once; language ID and decoding both read that one encoder output. Calling
`WhisperModel.detect_language` and then `WhisperModel.transcribe` per clip would run
the encoder twice (measured here: 0.60 s per pass for base on 2 cores, against 0.05 s
for language ID and 0.15 s for greedy decoding). The decoding itself is faster-whisper's:
the same prompt, suppressed tokens and `generate_with_fallback` for the temperature
ladder.

Items longer than 30 s (recordings: meetings, calls, lectures) are decoded as
`DecodingOptions.longform` says, or a long-form strategy's `AudioItem.longform_options`:
"sequential" is faster-whisper's `WhisperModel.transcribe` (Whisper's algorithm), always
with timestamps whatever `without_timestamps` says for clips: without them each window
is decoded to its end with no timestamp to seek from, and speech cut at a 30 s boundary
was dropped (a 71 s recording of 13 sentences lost 5 of them; tests/test_longform_decoding.py).
"batched" is faster-whisper's BatchedInferencePipeline: Silero VAD speech chunks of at
most `chunk_length` s, `batch_size` at a time (not capped on CPU as clips are). Both
return the segments with their times and, with word confidence, each word's probability
and times. Memory: "sequential" is fed block by block (`AudioItem.audio` a `BlockAudio`,
the features of each window computed as the decoder reaches it: `streaming_mel`), so
decoding an hour holds a few 30 s windows, not the hour; the batched pipeline and VAD
take one array, so with them the whole signal is read into memory (16 kHz float32:
230 MB per hour, plus the pipeline's own copies).

Word confidence (`DecodingOptions.word_confidence`) is faster-whisper's own word
probability, as its `word_timestamps=True` computes it: one teacher-forced
`model.align` pass over each batch's decoded tokens, on the encoder output already in
hand (no second encoder pass), then `find_alignment`'s split into words and Whisper's
punctuation merge. 4-5% of decoding time on CPU (benchmarks/README.md, "Word confidence").
"""

import time
from dataclasses import replace
from typing import Iterable, Iterator

import numpy as np

from .base import (LONG_ITEM_SAMPLES, AudioItem, BlockAudio, DecodingOptions, Transcript, applied_options, compression_ratio,
                   language_code, long_item_options, merge_punctuation, signal, word_probability)
from .registry import register
from .streaming_mel import StreamingMel

__all__ = ["FasterWhisperBackend"]

_WINDOW = LONG_ITEM_SAMPLES  # samples in Whisper's 30 s window


class FasterWhisperBackend:
    name = "faster-whisper"

    def __init__(self, model_dir: str, multilingual: bool, options: DecodingOptions):
        from faster_whisper import WhisperModel

        # On CPU, batches of 8 made language ID cost ~16% over direct faster-whisper;
        # batches of 1-2 cost 5-7% with identical transcripts (benchmarks/README.md).
        # Larger batches are for GPUs.
        self.batch_size = options.batch_size if options.device.startswith("cuda") else min(options.batch_size, 2)
        self.options = options
        self.multilingual = multilingual
        self.model_dir = str(model_dir)
        _seed_sampling()  # before the model's threads first draw (see _seed_sampling)
        self.model = WhisperModel(str(model_dir), device=options.device, compute_type=options.compute_type, cpu_threads=options.threads)

    def applied_options(self) -> dict:
        """The options as applied: the batch size after the CPU cap, the compute type and
        device CTranslate2 chose (it falls back when the hardware lacks a type), no
        language ID on an English-only model."""
        import ctranslate2
        import faster_whisper

        o, ct2 = self.options, self.model.model
        return applied_options(
            o, self.name, self.model_dir,
            batch_size=self.batch_size,
            compute_type=str(ct2.compute_type),
            device=str(ct2.device),
            detect_language=o.detect_language and self.multilingual,
            language=o.language if self.multilingual else "en",
            libraries={"ctranslate2": ctranslate2.__version__, "faster_whisper": faster_whisper.__version__},
        )

    def transcribe(self, items: Iterable[AudioItem]) -> Iterator[Transcript]:
        batch: list[AudioItem] = []
        for item in items:
            if len(item.audio) > _WINDOW:
                yield from self._flush(batch)
                batch = []
                yield self._long(item)
                continue
            # CTranslate2 needs <|startoftranscript|> at the same position in every prompt
            # of a batch: a different text prompt or hotwords start a new batch.
            if batch and self._prompt_key(item) != self._prompt_key(batch[0]):
                yield from self._flush(batch)
                batch = []
            batch.append(item)
            if len(batch) == self.batch_size:
                yield from self._flush(batch)
                batch = []
        yield from self._flush(batch)

    def _prompt_key(self, item: AudioItem) -> tuple:
        # the n-best width too: generate() takes one beam and hypothesis count per call
        return (item.prompt or self.options.initial_prompt, item.hotwords or self.options.hotwords, item.num_hypotheses)

    # ------------------------------------------------------------------ short clips
    def _flush(self, batch: list[AudioItem]) -> list[Transcript]:
        if not batch:
            return []
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio

        o, model = self.options, self.model
        started = time.perf_counter()
        contents = [self._content(item.audio) for item in batch]
        frames = [int(c.shape[-1]) for c in contents]  # non-padding frames, for the alignment
        features = np.stack([pad_or_trim(c) for c in contents])
        encoded = model.encode(features)
        detected: list[tuple[str | None, float | None]] = [("en", None)] * len(batch)  # English-only models
        if self.multilingual and o.detect_language:
            detected = [(pairs[0][0][2:-2], float(pairs[0][1])) for pairs in model.model.detect_language(encoded)]
        languages = [
            (language_code(o.language or item.language) or detected[i][0]) if self.multilingual else "en" for i, item in enumerate(batch)
        ]
        tokenizers = [Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=o.task, language=lang) for lang in languages]
        options = self._options(tokenizers[0])
        prompts = [self._prompt(tok, item) for tok, item in zip(tokenizers, batch)]
        greedy_first = o.temperature[0] == 0
        # n-best (an n-best strategy's items): a beam at least as wide as the hypotheses kept.
        hypotheses = max(1, batch[0].num_hypotheses)
        if greedy_first:
            results = model.model.generate(
                encoded,
                prompts,
                beam_size=max(o.beam_size, hypotheses),
                num_hypotheses=hypotheses,
                patience=options.patience,
                length_penalty=options.length_penalty,
                repetition_penalty=options.repetition_penalty,
                no_repeat_ngram_size=options.no_repeat_ngram_size,
                max_length=model.max_length,
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=options.suppress_blank,
                suppress_tokens=options.suppress_tokens,
                max_initial_timestamp_index=int(round(options.max_initial_timestamp / model.time_precision)),
            )
        out = []
        decoded: list[list[int]] = []  # each utterance's text tokens, for word confidence
        for i, item in enumerate(batch):
            nbest = None
            if greedy_first:
                result = results[i]
                tokens = result.sequences_ids[0]
                avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
                text = tokenizers[i].decode(tokens).strip()
                temperature = 0.0
                if hypotheses > 1:
                    nbest = _nbest(tokenizers[i], result)
                if len(o.temperature) > 1 and self._needs_fallback(text, avg_logprob, result.no_speech_prob):
                    result, avg_logprob, temperature, text = self._fallback(features[i], prompts[i], tokenizers[i], o.temperature[1:])
                    nbest = ((text, float(avg_logprob)),) if hypotheses > 1 else None  # the beam's list was rejected
            else:
                result, avg_logprob, temperature, text = self._fallback(features[i], prompts[i], tokenizers[i], o.temperature)
            no_speech_prob = result.no_speech_prob
            if self._is_silence(avg_logprob, no_speech_prob):
                text = ""  # what faster-whisper does: a likely no-speech window yields nothing
                nbest = () if nbest is not None else None  # and no alternative to it either
            eot = tokenizers[i].eot
            decoded.append([t for t in result.sequences_ids[0] if t < eot] if text else [])
            out.append(
                Transcript(
                    utterance_id=item.utterance_id,
                    text=text,
                    language=languages[i],
                    detected_language=detected[i][0],
                    language_probability=detected[i][1],
                    avg_logprob=float(avg_logprob),
                    no_speech_prob=float(no_speech_prob),
                    compression_ratio=get_compression_ratio(text) if text else None,
                    temperature=temperature,
                    decode_s=0.0,
                    nbest=nbest,
                )
            )
        if o.word_confidence:
            words = self._words(encoded, features, decoded, tokenizers, frames)
            out = [replace(t, words=w) for t, w in zip(out, words)]
        share = (time.perf_counter() - started) / len(batch)
        return [_with_time(t, share) for t in out]

    def _words(self, encoded, features, decoded, tokenizers, frames) -> list[tuple[tuple[str, float], ...]]:
        """(word, probability) per utterance of a batch: faster-whisper's `find_alignment`
        (one batched `align` call on the encoder output) and punctuation merge. `align`
        takes one start sequence per call, so utterances decoded in different languages
        are aligned in one call per language."""
        words: list[tuple[tuple[str, float], ...]] = [() for _ in decoded]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, tokens in enumerate(decoded):
            if tokens:
                groups.setdefault(tuple(tokenizers[i].sot_sequence), []).append(i)
        for members in groups.values():
            if len(members) == len(decoded):
                encoder_output = encoded
            elif str(self.model.model.device) == "cpu":
                import ctranslate2

                encoder_output = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[members]))
            else:  # a device array cannot be sliced here: encode the few clips again
                encoder_output = self.model.encode(features[members])
            alignments = self.model.find_alignment(
                tokenizers[members[0]], [decoded[i] for i in members], encoder_output, [frames[i] for i in members])
            for i, alignment in zip(members, alignments):
                pairs = [(a["word"], word_probability(a["probability"])) for a in alignment]
                words[i] = tuple(merge_punctuation(pairs))
        return words

    def _content(self, audio: np.ndarray) -> np.ndarray:
        # As WhisperModel.transcribe does: the extractor pads the audio, and the last
        # frame (padding only) is not content. Keeping it changes what the model hears.
        mel = self.model.feature_extractor(audio)
        return mel[:, : min(mel.shape[-1] - 1, self.model.feature_extractor.nb_max_frames)]

    def _options(self, tokenizer, o: DecodingOptions | None = None):
        """faster-whisper's options for `o` (the run's by default), with `transcribe`'s
        defaults for everything the workbench does not set."""
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        o = o or self.options
        return TranscriptionOptions(
            beam_size=o.beam_size,
            best_of=max(1, o.beam_size),
            patience=1,
            length_penalty=1,
            repetition_penalty=1,
            no_repeat_ngram_size=0,
            log_prob_threshold=o.logprob_threshold,
            no_speech_threshold=o.no_speech_threshold,
            compression_ratio_threshold=o.compression_ratio_threshold,
            condition_on_previous_text=o.condition_on_previous_text,
            prompt_reset_on_temperature=0.5,
            temperatures=list(o.temperature),
            initial_prompt=o.initial_prompt,
            prefix=None,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            without_timestamps=o.without_timestamps,
            max_initial_timestamp=1.0,
            word_timestamps=False,
            prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、",
            multilingual=False,
            max_new_tokens=None,
            clip_timestamps="0",
            hallucination_silence_threshold=None,
            hotwords=o.hotwords,
        )

    def _prompt(self, tokenizer, item: AudioItem) -> list[int]:
        o = self.options
        text = item.prompt or o.initial_prompt
        previous = tokenizer.encode(" " + text.strip()) if text else []
        return self.model.get_prompt(tokenizer, previous, without_timestamps=o.without_timestamps, hotwords=item.hotwords or o.hotwords)

    def _needs_fallback(self, text: str, avg_logprob: float, no_speech_prob: float) -> bool:
        o = self.options
        from faster_whisper.transcribe import get_compression_ratio

        if o.compression_ratio_threshold is not None and text and get_compression_ratio(text) > o.compression_ratio_threshold:
            return True
        if o.logprob_threshold is not None and avg_logprob < o.logprob_threshold:
            # ...unless the window is silence, which no temperature will fix
            return not (o.no_speech_threshold is not None and no_speech_prob > o.no_speech_threshold)
        return False

    def _is_silence(self, avg_logprob: float, no_speech_prob: float) -> bool:
        o = self.options
        if o.no_speech_threshold is None or no_speech_prob <= o.no_speech_threshold:
            return False
        return o.logprob_threshold is None or avg_logprob < o.logprob_threshold

    def _fallback(self, features, prompt, tokenizer, temperatures):
        """faster-whisper's own temperature ladder, for the rare clip that needs it."""
        from dataclasses import replace

        options = replace(self._options(tokenizer), temperatures=list(temperatures))
        encoded = self.model.encode(features)
        result, avg_logprob, temperature, _ = self.model.generate_with_fallback(encoded, prompt, tokenizer, options)
        text = tokenizer.decode(result.sequences_ids[0]).strip()
        return result, avg_logprob, temperature, text

    # ------------------------------------------------------------------ long clips
    def _long(self, item: AudioItem) -> Transcript:
        """An item longer than 30 s: Whisper's sequential algorithm or the batched VAD
        pipeline (`DecodingOptions.longform`, or the item's `longform_options`), with the
        text, the segments and (with word confidence) each word's probability and times."""
        o = long_item_options(self.options, item)
        started = time.perf_counter()
        language = (language_code(o.language or item.language) if self.multilingual else "en") or None
        words = times = None
        if o.longform == "batched":
            from faster_whisper import BatchedInferencePipeline

            # A new pipeline per item: it carries the last word time from call to call.
            # Chunks decode without timestamp tokens (faster-whisper's default here): with
            # them, a chunk's last sentence was dropped on the test recording. So a segment
            # is one VAD chunk and the words carry the finer times. Word timestamps are
            # added after decoding here, so they do not change the text. The pipeline and
            # its VAD take one array: the whole signal is read into memory.
            segments, info = BatchedInferencePipeline(self.model).transcribe(
                signal(item.audio), language=language, task=o.task, beam_size=o.beam_size, best_of=max(1, o.beam_size),
                temperature=list(o.temperature), compression_ratio_threshold=o.compression_ratio_threshold,
                log_prob_threshold=o.logprob_threshold, no_speech_threshold=o.no_speech_threshold,
                initial_prompt=item.prompt or o.initial_prompt, hotwords=item.hotwords or o.hotwords,
                word_timestamps=o.word_confidence, vad_filter=True, chunk_length=o.chunk_length, batch_size=o.batch_size,
                without_timestamps=True)
            segments = list(segments)
            if o.word_confidence:
                timed = [w for s in segments for w in (s.words or ())]
                words = tuple((w.word, word_probability(w.probability)) for w in timed)
                times = tuple((_seconds(w.start), _seconds(w.end)) for w in timed)
            spans = [(s.start, s.end, s.text) for s in segments]
            decoded_language, decoded_probability = info.language, info.language_probability
        else:
            # VAD (o.vad) is done here rather than by transcribe(vad_filter=True), so the
            # word alignment sees the audio that was decoded; Silero VAD takes one array,
            # so with it the whole signal is read into memory. Without it the recording
            # is decoded block by block (`_sequential`).
            speech, audio = _speech(signal(item.audio)) if o.vad else (None, item.audio)
            segments, decoded_language, decoded_probability, words, times = self._sequential(audio, language, o, item)
            spans = [(s.start, s.end, s.text) for s in segments]
            if speech is not None:
                spans, times = _restore_times(speech, spans, times)
        text = "".join(s.text for s in segments).strip()
        detected, probability = ("en", None)
        if self.multilingual:
            detected, probability = (decoded_language, decoded_probability) if language is None else self._detect(item)
        # The last window is padded to 30 s, and Whisper's closing timestamp can fall in the
        # padding (73.0 s on a 71.5 s recording): no time is later than the audio's end.
        end = len(item.audio) / 16_000
        spans = [(min(a, end), min(b, end), t) for a, b, t in spans]
        times = tuple((min(a, end), min(b, end)) for a, b in times) if times is not None else None
        return Transcript(
            utterance_id=item.utterance_id,
            text=text,
            language=decoded_language,
            detected_language=detected,
            language_probability=probability,
            avg_logprob=sum(s.avg_logprob for s in segments) / len(segments) if segments else None,
            no_speech_prob=max((s.no_speech_prob for s in segments), default=None),
            compression_ratio=compression_ratio(text),
            temperature=max((s.temperature for s in segments), default=None),
            decode_s=time.perf_counter() - started,
            words=words,
            segments=tuple((_seconds(a), _seconds(b), t.strip()) for a, b, t in spans if t.strip()),
            word_times=times,
        )

    def _sequential(self, audio, language: str | None, o: DecodingOptions, item: AudioItem):
        """Whisper's sequential algorithm, faster-whisper's own `generate_segments`, fed
        block by block: the features come from `StreamingMel`, which computes each 30 s
        window's as the decoder reaches it and releases them behind it (the same features
        as `WhisperModel.transcribe` computes for the whole signal, so the same decoding),
        always with timestamps, as they are how Whisper seeks from one window to the next.

        Word confidence aligns each window once it is decoded, on the encoder output its
        decoding computed (`_KeepEncoded`; encoding it again doubled tiny.en's decoding
        time, and batches of 8 windows held 450 MB of encoder activations). Not
        `word_timestamps=True`: with timestamps off, that moves the next window to the
        last word's end and decodes the tail again, which adds words (measured: " the ."
        after a 4 s mini clip). Returns (segments, language, its probability, words, word times)."""
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        if len(audio) <= model.feature_extractor.n_fft:  # VAD found no speech: nothing to decode
            return [], language, None, (() if o.word_confidence else None), (() if o.word_confidence else None)
        mel = StreamingMel(model.feature_extractor, audio if isinstance(audio, BlockAudio) else BlockAudio.of_array(audio))
        probability = 1.0
        if language is None:  # a multilingual model and no language: detected on the first window, as transcribe does
            language, probability, _ = model.detect_language(features=mel[:, : model.feature_extractor.nb_max_frames])
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=o.task, language=language)
        options = replace(self._options(tokenizer, o), initial_prompt=item.prompt or o.initial_prompt,
                          hotwords=item.hotwords or o.hotwords, without_timestamps=False)
        decoder = _KeepEncoded(model)
        segments: list = []
        window = None  # (seek frame, text tokens, encoder output, frames) of the window being read
        words: list[tuple[str, tuple[float, float, float]]] = []  # (word, (probability, start, end))
        for segment in type(model).generate_segments(decoder, mel, tokenizer, options, False):
            segments.append(segment)
            if not o.word_confidence:
                continue
            if window is None or window[0] != segment.seek:
                # a new window: the previous one is complete; this one is the slice the
                # decoder read and encoded last
                if window is not None:
                    words += self._align_window(tokenizer, *window)
                start, features = mel.last
                if start != segment.seek:
                    raise RuntimeError(f"utterance {item.utterance_id}: window at frame {segment.seek}, features at {start}")
                window = (segment.seek, [], decoder.encoded, features.shape[-1])
            window[1].extend(t for t in segment.tokens if t < tokenizer.eot)
        if not o.word_confidence:
            return segments, language, probability, None, None
        if window is not None:
            words += self._align_window(tokenizer, *window)
        return (segments, language, probability, tuple((w, p) for w, (p, _, _) in words),
                tuple((_seconds(a), _seconds(b)) for _, (_, a, b) in words))

    def _align_window(self, tokenizer, seek: int, tokens: list[int], encoded, frames: int) -> list:
        """Word probabilities and times of one decoded window, aligned as short clips are
        (`find_alignment` on its encoder output, punctuation merged, a merged word keeping
        its host's values, times included, as Whisper does)."""
        if not tokens:
            return []
        offset = seek / self.model.frames_per_second
        [alignment] = self.model.find_alignment(tokenizer, [tokens], encoded, [frames])
        return merge_punctuation([(a["word"], (word_probability(a["probability"]), offset + a["start"], offset + a["end"]))
                                  for a in alignment])

    def _detect(self, item: AudioItem):
        if not self.options.detect_language:
            return None, None
        # detect_language reads the first 30 s only
        audio = item.audio.head(self.model.feature_extractor.n_samples) if isinstance(item.audio, BlockAudio) else item.audio
        language, probability, _ = self.model.detect_language(audio)
        return language, probability


SAMPLING_SEED = 0  # CTranslate2's sampler seed, set when a backend is built


def _seed_sampling() -> None:
    """Temperature fallback samples: unseeded, two decodings of the same recording in two
    processes differed (49.7% vs 56.6% WER on the long-form demo's en-ward-round). Seeded,
    the same items in the same order give the same text in every process. Not more:
    CTranslate2 seeds each of its threads' generators once, at their first draw (a
    thread_local in random.cc; generate() takes no seed), so reseeding per item has no
    effect and a sampled item's text can still depend on what its process sampled before
    (a resumed run, another Ray worker). `temperature` is stored per utterance, so the
    items this concerns are known."""
    import ctranslate2

    ctranslate2.set_random_seed(SAMPLING_SEED)


@register("faster-whisper", model_format="faster-whisper", hotwords=True, nbest=True,
          description="CTranslate2: the fastest on CPU (int8), batched language ID and decoding")
def make_faster_whisper(model, options: DecodingOptions) -> FasterWhisperBackend:
    return FasterWhisperBackend(str(model.ct2_dir), model.multilingual, options)


class _KeepEncoded:
    """The model as `generate_segments` sees it (every attribute the model's), keeping the
    encoder output of the window it decoded last, for the word alignment."""

    def __init__(self, model):
        self._model = model
        self.encoded = None

    def __getattr__(self, name):
        return getattr(self._model, name)

    def encode(self, features):
        self.encoded = self._model.encode(features)
        return self.encoded


def _nbest(tokenizer, result) -> tuple[tuple[str, float], ...]:
    """The beam's hypotheses as (text, log-probability per token), best first; two token
    sequences that read as the same text are one hypothesis (the better-scored)."""
    seen: dict[str, float] = {}
    for tokens, score in zip(result.sequences_ids, result.scores):
        text = tokenizer.decode(tokens).strip()
        if text not in seen:
            seen[text] = float(score)
    return tuple(seen.items())


def _with_time(transcript: Transcript, seconds: float) -> Transcript:
    return replace(transcript, decode_s=seconds)


def _seconds(value) -> float:
    return round(float(value), 3)  # numpy floats from faster-whisper; a millisecond is plenty


def _speech(audio: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Silero VAD's speech spans (faster-whisper's defaults, as `vad_filter=True` uses them)
    and the speech alone, joined."""
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    speech = get_speech_timestamps(audio, VadOptions())
    if not speech:
        return speech, audio[:0]
    chunks, _ = collect_chunks(audio, speech)
    return speech, np.concatenate(chunks)


def _restore_times(speech: list[dict], spans: list, times: tuple | None) -> tuple[list, tuple | None]:
    """Segment and word times in the speech-only audio mapped back to the recording
    (faster-whisper's `restore_speech_timestamps`: a word's start and end in the chunk
    its middle falls in)."""
    from faster_whisper.vad import SpeechTimestampsMap

    if not speech:
        return spans, times
    ts_map = SpeechTimestampsMap(speech, 16_000)
    spans = [(ts_map.get_original_time(a), ts_map.get_original_time(b, is_end=True), t) for a, b, t in spans]
    if times is not None:
        restored = []
        for a, b in times:
            chunk = ts_map.get_chunk_index((a + b) / 2)
            restored.append((_seconds(ts_map.get_original_time(a, chunk)), _seconds(ts_map.get_original_time(b, chunk))))
        times = tuple(restored)
    return spans, times
