"""transformers: batched generation; the backend fine-tuned models and LoRA adapters use.

Per batch, the encoder runs once. One decoder step from <|startoftranscript|> gives what
openai-whisper reads at that position: the language distribution (language ID) and the
no-speech probability. Generation then reuses the encoder output, and a teacher-forced
pass over the generated tokens gives the average log-probability the way Whisper
defines it (sum over text tokens and end-of-text, divided by their count). The same pass
gives word confidence at no extra model cost: each text token's probability among text
tokens (as Whisper's word timestamps compute it, here in the context the tokens were
generated in, prompt included), grouped into words by `split_words`.
"""

import time
from typing import Iterable, Iterator, Sequence

from .base import AudioItem, DecodingOptions, Transcript, applied_options, compression_ratio, language_code, split_words
from .registry import register

__all__ = ["TransformersBackend"]


class TransformersBackend:
    name = "transformers"

    def __init__(self, model_dir: str, multilingual: bool, options: DecodingOptions):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if options.threads:
            torch.set_num_threads(options.threads)
        self.torch = torch
        self.options = options
        self.multilingual = multilingual
        self.model_dir = str(model_dir)
        from ..models import adapter_base

        # A LoRA adapter folder holds no tokenizer: its base model's. transformers applies the
        # adapter to the base itself (peft), unmerged: the model as it was trained.
        base = adapter_base(model_dir)
        self.processor = WhisperProcessor.from_pretrained(str(base or model_dir))
        dtype = torch.float16 if options.device.startswith("cuda") else torch.float32
        self.model = WhisperForConditionalGeneration.from_pretrained(str(model_dir), dtype=dtype).to(options.device).eval()
        tok = self.processor.tokenizer
        self.sot = tok.convert_tokens_to_ids("<|startoftranscript|>")
        self.eot = tok.convert_tokens_to_ids("<|endoftext|>")
        self.no_timestamps = tok.convert_tokens_to_ids("<|notimestamps|>")
        self.no_speech = next(
            (i for t in ("<|nospeech|>", "<|nocaptions|>") if (i := tok.convert_tokens_to_ids(t)) not in (None, tok.unk_token_id)), None
        )
        self.task_ids = {t: tok.convert_tokens_to_ids(f"<|{t}|>") for t in ("transcribe", "translate")}
        lang_to_id = getattr(self.model.generation_config, "lang_to_id", None) or {}
        self.lang_ids = {token.strip("<|>"): i for token, i in lang_to_id.items()}

    def applied_options(self) -> dict:
        """The options as applied: float32 on CPU / float16 on GPU whatever compute type
        was asked (it is a CTranslate2 setting), no hotwords (generate() has none), the
        torch threads in use, no language ID on an English-only model."""
        import transformers

        o = self.options
        return applied_options(
            o, self.name, self.model_dir,
            compute_type=str(self.model.dtype).removeprefix("torch."),
            device=str(self.model.device),
            threads=self.torch.get_num_threads() if not o.device.startswith("cuda") else o.threads,
            hotwords=None,
            detect_language=o.detect_language and self.multilingual and bool(self.lang_ids),
            language=o.language if self.multilingual else "en",
            libraries={"torch": self.torch.__version__, "transformers": transformers.__version__},
        )

    def transcribe(self, items: Iterable[AudioItem]) -> Iterator[Transcript]:
        batch: list[AudioItem] = []
        for item in items:  # pull lazily: only one batch of audio is in memory
            if len(item.audio) > 30 * 16_000:
                # The feature extractor would cut the audio at 30 s without a word: refuse instead.
                from ..errors import BadInputError

                raise BadInputError(f"{item.utterance_id}: {len(item.audio) / 16_000:.0f} s of audio; the transformers backend "
                                    "decodes clips of at most 30 s (use --backend faster-whisper or openai-whisper for long recordings)")
            # generate() takes one prompt per call: a new prompt starts a new batch.
            if batch and (item.prompt or self.options.initial_prompt) != (batch[0].prompt or self.options.initial_prompt):
                yield from self._batch(batch)
                batch = []
            batch.append(item)
            if len(batch) == self.options.batch_size:
                yield from self._batch(batch)
                batch = []
        if batch:
            yield from self._batch(batch)

    def _batch(self, batch: Sequence[AudioItem]) -> list[Transcript]:
        torch, o, model = self.torch, self.options, self.model
        started = time.perf_counter()
        features = self.processor.feature_extractor(
            [item.audio for item in batch], sampling_rate=16_000, return_tensors="pt"
        ).input_features.to(o.device, model.dtype)
        with torch.inference_mode():
            encoded = model.model.encoder(features)
            first = model(encoder_outputs=encoded, decoder_input_ids=torch.full((len(batch), 1), self.sot, device=o.device)).logits[:, 0]
            probs = first.float().softmax(-1)
            no_speech = probs[:, self.no_speech].tolist() if self.no_speech is not None else [None] * len(batch)
            detected: list[tuple[str | None, float | None]] = [("en", None)] * len(batch)  # English-only models
            if self.multilingual and self.lang_ids:
                codes = list(self.lang_ids)
                lang_probs = probs[:, [self.lang_ids[c] for c in codes]]
                lang_probs = lang_probs / lang_probs.sum(-1, keepdim=True)
                best = lang_probs.argmax(-1).tolist()
                detected = [(codes[b], float(lang_probs[i, b])) for i, b in enumerate(best)]
            languages = [language_code(o.language or item.language) or detected[i][0] for i, item in enumerate(batch)]
            kwargs = dict(
                num_beams=o.beam_size,
                do_sample=False,
                return_timestamps=not o.without_timestamps,
            )
            if self.multilingual:
                kwargs.update(language=languages, task=o.task)
            prompt = batch[0].prompt or o.initial_prompt
            if prompt:
                kwargs["prompt_ids"] = self.torch.tensor(self.processor.get_prompt_ids(prompt), device=o.device)
            if len(o.temperature) > 1:
                # Fallback re-decodes hotter when a result looks like a loop or is unsure.
                kwargs.update(
                    temperature=o.temperature,
                    compression_ratio_threshold=o.compression_ratio_threshold,
                    logprob_threshold=o.logprob_threshold,
                    no_speech_threshold=o.no_speech_threshold,
                )
                generated = model.generate(input_features=features, **kwargs)
            else:
                generated = model.generate(encoder_outputs=encoded, **kwargs)
            sequences = generated if isinstance(generated, torch.Tensor) else generated["sequences"]
            out = []
            for i, item in enumerate(batch):
                tokens = [t for t in sequences[i].tolist() if t < self.eot]  # text tokens only
                text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
                avg_logprob, token_probs = self._scores(encoded.last_hidden_state[i : i + 1], tokens, languages[i], kwargs.get("prompt_ids"))
                words = None
                if o.word_confidence:
                    words = tuple(split_words(tokens, token_probs, self._decode_piece, languages[i])) if text else ()
                out.append((item, text, avg_logprob, i, words))
        elapsed = (time.perf_counter() - started) / len(batch)
        return [
            Transcript(
                utterance_id=item.utterance_id,
                text=text,
                language=languages[i] if self.multilingual else "en",
                detected_language=detected[i][0],
                language_probability=detected[i][1],
                avg_logprob=avg_logprob,
                no_speech_prob=no_speech[i],
                compression_ratio=compression_ratio(text),
                temperature=o.temperature[0] if len(o.temperature) == 1 else None,
                decode_s=elapsed,
                words=words,
            )
            for item, text, avg_logprob, i, words in out
        ]

    def _decode_piece(self, ids: list[int]) -> str:
        # as decoded, spaces kept where the tokens have them (no clean-up of " ." etc.)
        return self.processor.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _scores(self, hidden, tokens: list[int], language: str | None, prompt_ids=None) -> tuple[float, list[float]]:
        """Whisper's average log-probability of `tokens` + end-of-text, and each text
        token's probability among text tokens (the word-confidence input)."""
        torch = self.torch
        # <|startofprev|> prompt... <|startoftranscript|> lang task <|notimestamps|>: the
        # context the tokens were generated in.
        prompt = (prompt_ids.tolist() if prompt_ids is not None else []) + [self.sot]
        if self.multilingual and language in self.lang_ids:
            prompt += [self.lang_ids[language], self.task_ids[self.options.task]]
        prompt.append(self.no_timestamps)
        ids = torch.tensor([prompt + tokens + [self.eot]], device=hidden.device)
        from transformers.modeling_outputs import BaseModelOutput

        logits = self.model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), decoder_input_ids=ids[:, :-1]).logits
        logits = logits.float()[0, len(prompt) - 1 :]
        targets = ids[0, len(prompt) :]
        avg_logprob = float(logits.log_softmax(-1).gather(-1, targets[:, None]).sum()) / len(targets)
        if not tokens or not self.options.word_confidence:
            return avg_logprob, []
        text_probs = logits[: len(tokens), : self.eot].softmax(-1)
        return avg_logprob, text_probs.gather(-1, targets[: len(tokens), None])[:, 0].tolist()


@register("transformers", model_format="transformers",
          description="Hugging Face transformers: fine-tuned models, LoRA adapters, batched generation")
def make_transformers(model, options: DecodingOptions) -> TransformersBackend:
    return TransformersBackend(str(model.hf_dir), model.multilingual, options)
