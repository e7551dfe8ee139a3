"""Confidence: how likely each stored hypothesis is to be right, from the signals kept with it.

Every backend stores, beside each hypothesis, Whisper's own signals (`Transcript.signals()`:
average log-probability, no-speech probability, compression ratio, the temperature that
produced the text) and, with `DecodingOptions.word_confidence`, each word with its
probability (`extra["words"] = [[word, probability], ...]`). This module turns those into

- `features(extra)`: one fixed-length vector per utterance (`FEATURE_NAMES`);
- `Calibrator`: one score in [0, 1] per utterance = P(the utterance has no word error after
  normalization), fitted by `fit_calibrator` on the TRAIN part's stored hypotheses;
- `low_confidence_words(extra)`: the words a reviewer should look at first;
- `expected_calibration_error(scores, correct)`: how far the scores are from observed rates.

The calibrator must never see the held-out part: the review curves, the per-slice
calibration error and every other figure are measured on the held-out part, and a
calibrator fitted there would grade its own homework. `fit_calibrator` cannot check where
its rows came from, so the caller (who knows the split) must pass the train part only.

Pure and headless: numpy and scipy only, no model, no store, no I/O.
"""

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import minimize

from .errors import BadInputError
from .normalizers import Normalizer, get_normalizer, normalize_many
from .scoring import align

__all__ = [
    "FEATURE_NAMES",
    "LOW_WORD_PROBABILITY",
    "MIN_TRAIN_UTTERANCES",
    "METHODS",
    "Calibrator",
    "features",
    "word_probabilities",
    "uncalibrated_score",
    "utterance_error_labels",
    "usable_rows",
    "fit_calibrator",
    "low_confidence_words",
    "expected_calibration_error",
]

FEATURE_NAMES = (
    "avg_logprob",  # mean token log-probability of the decoded text
    "no_speech_prob",  # Whisper's P(no speech) for the clip
    "compression_ratio",  # repetition signal: text bytes / zlib bytes
    "fallback",  # 1 when the text came from a temperature > 0 (the greedy decode was rejected)
    "word_mean",  # mean word probability
    "word_min",  # lowest word probability
    "word_low_share",  # share of words with probability < LOW_WORD_PROBABILITY
    "log_words",  # log(1 + number of words): longer utterances have more chances to be wrong
    "has_words",  # 1 when word probabilities were stored, 0 when the word features are imputed
)
LOW_WORD_PROBABILITY = 0.5
MIN_TRAIN_UTTERANCES = 10  # below this, a fitted calibrator is noise: fall back to the uncalibrated score
METHODS = ("logistic", "isotonic")
L2 = 1.0  # ridge penalty on the standardized weights (not the intercept): keeps small train parts sane
FORMAT_VERSION = 1

# What a missing signal is taken to be. Chosen so that a missing value never looks like
# evidence of a CORRECT transcript: the score can only be lowered by what is unknown.
_IMPUTE = {
    "avg_logprob": -1.0,  # Whisper's own logprob_threshold: the border of "suspicious"
    "no_speech_prob": 0.0,  # the clip produced text, so the backend did not call it silent
    "compression_ratio": 1.0,  # plain text (no repetition); None only happens for empty text
}


def _number(extra: Mapping, key: str) -> float | None:
    value = extra.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"extra.{key}: expected a number, got {value!r}") from None
    return number if math.isfinite(number) else None


def word_probabilities(extra: Mapping) -> list[tuple[str, float]] | None:
    """`extra["words"]` as (word, probability) pairs; None when none were stored.
    A stored list that is not [[word, probability], ...] is an error naming the entry."""
    words = extra.get("words")
    if words is None:
        return None
    if not isinstance(words, (list, tuple)):
        raise BadInputError(f"extra.words: expected a list of [word, probability], got {type(words).__name__}")
    out = []
    for i, entry in enumerate(words):
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], str):
            raise BadInputError(f"extra.words[{i}]: expected [word, probability], got {entry!r}")
        try:
            p = float(entry[1])
        except (TypeError, ValueError):
            raise BadInputError(f"extra.words[{i}]: probability is not a number: {entry[1]!r}") from None
        if not (0.0 <= p <= 1.0):
            raise BadInputError(f"extra.words[{i}]: probability {p!r} is outside [0, 1]")
        out.append((entry[0], p))
    return out


def features(extra: Mapping | None) -> np.ndarray:
    """The `FEATURE_NAMES` vector of one utterance's stored signals.

    Imputation (each chosen so that what is unknown never raises confidence):
    avg_logprob -> -1.0 (Whisper's logprob_threshold), no_speech_prob -> 0.0,
    compression_ratio -> 1.0, temperature -> 0 (no fallback). Without stored word
    probabilities (or with an empty word list) the word features come from the
    utterance's mean token probability exp(avg_logprob): word_mean = word_min = that,
    word_low_share = 1 if it is below LOW_WORD_PROBABILITY else 0, log_words = 0, and
    has_words = 0 lets a fitted model tell the imputed rows apart.
    """
    extra = extra or {}
    avg_logprob = _number(extra, "avg_logprob")
    avg_logprob = _IMPUTE["avg_logprob"] if avg_logprob is None else min(avg_logprob, 0.0)
    no_speech = _number(extra, "no_speech_prob")
    no_speech = _IMPUTE["no_speech_prob"] if no_speech is None else min(max(no_speech, 0.0), 1.0)
    ratio = _number(extra, "compression_ratio")
    ratio = _IMPUTE["compression_ratio"] if ratio is None else ratio
    temperature = _number(extra, "temperature")
    fallback = 1.0 if temperature is not None and temperature > 0 else 0.0
    words = word_probabilities(extra)
    if words:
        p = np.array([w[1] for w in words], dtype=float)
        word_mean, word_min = float(p.mean()), float(p.min())
        low_share = float(np.mean(p < LOW_WORD_PROBABILITY))
        log_words, has_words = math.log1p(len(words)), 1.0
    else:
        word_mean = word_min = math.exp(avg_logprob)
        low_share = 1.0 if word_mean < LOW_WORD_PROBABILITY else 0.0
        log_words, has_words = 0.0, 0.0
    return np.array([avg_logprob, no_speech, ratio, fallback, word_mean, word_min, low_share, log_words, has_words])


def uncalibrated_score(extra: Mapping | None) -> float:
    """The score used when there is nothing to calibrate on: exp(avg_logprob) * (1 - no_speech_prob),
    the mean token probability discounted by the chance that the clip is silence. It ranks
    utterances sensibly but is NOT a probability of being correct (token probabilities are
    over-confident, and one wrong word in twenty barely moves the mean)."""
    f = features(extra)
    return float(min(max(math.exp(f[0]) * (1.0 - f[1]), 0.0), 1.0))


def _row_language(row) -> str | None:
    language = getattr(row, "language", None)
    if language is None and isinstance(getattr(row, "slices", None), Mapping):
        language = row.slices.get("language") or None
    return language


def utterance_error_labels(rows: Sequence, normalizer: Normalizer | str) -> np.ndarray:
    """1 per row whose hypothesis has at least one word error (substitution, deletion or
    insertion) against its reference after `normalizer` (an instance or a name such as
    "auto"), else 0; normalized with each row's language as scoring does. A row with an
    empty reference (a no-speech clip) is an error when any word was hypothesized."""
    if isinstance(normalizer, str):
        normalizer = get_normalizer(normalizer)
    rows = list(rows)
    if not rows:
        return np.zeros(0, dtype=int)
    languages = [_row_language(r) for r in rows]
    texts = [r.reference for r in rows] + [r.hypothesis for r in rows]
    normalized = normalize_many(normalizer, texts, languages + languages)
    refs, hyps = normalized[: len(rows)], normalized[len(rows) :]
    scores = align([str(i) for i in range(len(rows))], refs, hyps)
    return np.array([1 if s.errors > 0 else 0 for s in scores], dtype=int)


def usable_rows(rows: Iterable) -> list:
    """The rows a calibrator can learn from or score: a decoded hypothesis with its signals.
    Failed decodes (`extra["error"]`) and missing hypotheses (`extra["missing"]`) carry no
    signal and are left out; no-speech clips stay (a hallucination is an error to catch)."""
    out = []
    for row in rows:
        extra = row.extra or {}
        if extra.get("error") is not None or extra.get("missing"):
            continue
        out.append(row)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights and intercept minimizing the mean log loss + l2/2 * |w|^2 / n on standardized x.
    Convex with an analytic gradient, started from zero: the same rows always give the
    same parameters."""
    n, d = x.shape

    def loss(theta):
        w, b = theta[:d], theta[d]
        z = x @ w + b
        # log(1 + e^z) - y z, stably
        value = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * float(w @ w)
        residual = _sigmoid(z) - y
        grad = np.concatenate([x.T @ residual + l2 * w, [residual.sum()]])
        return value / n, grad / n

    start = np.zeros(d + 1)
    base = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start[d] = math.log(base / (1 - base))
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-9})
    return result.x[:d], float(result.x[d])


def _fit_isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators: the non-decreasing step function of x closest to y in squared
    error. Returned as interpolation knots (each block's lowest and highest x at its mean)."""
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order].astype(float)
    # blocks as [sum, count, x_low, x_high]; ties in x share a block from the start
    blocks: list[list[float]] = []
    for xi, yi in zip(xs, ys):
        if blocks and blocks[-1][3] == xi:
            blocks[-1][0] += yi
            blocks[-1][1] += 1
        else:
            blocks.append([yi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, c, _, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][3] = hi
    knots_x, knots_y = [], []
    for s, c, lo, hi in blocks:
        knots_x.extend([lo, hi] if hi > lo else [lo])
        knots_y.extend([s / c] * (2 if hi > lo else 1))
    return np.array(knots_x), np.array(knots_y)


@dataclass(frozen=True)
class Calibrator:
    """Turns one utterance's stored signals into P(the utterance is correct).

    method: "logistic" (standardized L2 logistic regression on `features`), "isotonic"
    (that logistic score, then a monotone map fitted by pool-adjacent-violators, so the
    scores are calibrated without assuming the logistic shape), or "uncalibrated"
    (`uncalibrated_score`; `reason` says why nothing was fitted).
    base_rate: the share of the train utterances that were correct (no word error).
    """

    method: str
    fitted_on: str | None  # the run whose train-part hypotheses it was fitted on
    utterances: int  # train utterances used
    base_rate: float | None  # P(correct) on those utterances; None when there were none
    feature_names: tuple[str, ...] = FEATURE_NAMES
    mean: tuple[float, ...] = ()  # standardization, per feature
    scale: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()  # per standardized feature
    intercept: float = 0.0
    isotonic_x: tuple[float, ...] = ()  # knots of the isotonic map (logistic score -> P(correct))
    isotonic_y: tuple[float, ...] = ()
    normalizer: str | None = None  # id of the normalizer that defined "correct"
    reason: str | None = None  # why the method is "uncalibrated"

    def __post_init__(self) -> None:
        if self.method not in METHODS + ("uncalibrated",):
            raise BadInputError(f"calibrator method: expected one of {', '.join(METHODS)} or uncalibrated, got {self.method!r}")
        if self.method != "uncalibrated":
            d = len(self.feature_names)
            if not (len(self.mean) == len(self.scale) == len(self.weights) == d):
                raise BadInputError(f"calibrator: mean, scale and weights need {d} values each (one per feature)")
            if self.method == "isotonic" and (not self.isotonic_x or len(self.isotonic_x) != len(self.isotonic_y)):
                raise BadInputError("calibrator: isotonic needs matching, non-empty isotonic_x and isotonic_y")

    @property
    def calibrated(self) -> bool:
        return self.method != "uncalibrated"

    def _logistic(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale) @ np.asarray(self.weights) + self.intercept
        return _sigmoid(z)

    def scores(self, extras: Iterable[Mapping | None]) -> np.ndarray:
        """`score` of each extra, as one array."""
        extras = list(extras)
        if not self.calibrated:
            return np.array([uncalibrated_score(e) for e in extras], dtype=float)
        if not extras:
            return np.zeros(0)
        p = self._logistic(np.vstack([features(e) for e in extras]))
        if self.method == "isotonic":
            p = np.interp(p, self.isotonic_x, self.isotonic_y)
        return np.clip(p, 0.0, 1.0)

    def score(self, extra: Mapping | None) -> float:
        """P(the utterance is correct), in [0, 1]; higher = less worth reviewing."""
        return float(self.scores([extra])[0])

    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "method": self.method,
            "fitted_on": self.fitted_on,
            "utterances": self.utterances,
            "base_rate": self.base_rate,
            "feature_names": list(self.feature_names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "isotonic_x": list(self.isotonic_x),
            "isotonic_y": list(self.isotonic_y),
            "normalizer": self.normalizer,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "Calibrator":
        """The inverse of `to_dict`; a calibrator made for other features is an error, not a
        silently wrong score."""
        if not isinstance(data, Mapping):
            raise BadInputError(f"calibrator: expected an object, got {type(data).__name__}")
        if data.get("format") != FORMAT_VERSION:
            raise BadInputError(f"calibrator: format {data.get('format')!r} is not {FORMAT_VERSION}; refit it")
        names = tuple(data.get("feature_names") or ())
        if data.get("method") != "uncalibrated" and names != FEATURE_NAMES:
            raise BadInputError(f"calibrator: fitted on features {list(names)}, this version computes {list(FEATURE_NAMES)}; refit it")
        try:
            return cls(
                method=data["method"],
                fitted_on=data.get("fitted_on"),
                utterances=int(data["utterances"]),
                base_rate=None if data.get("base_rate") is None else float(data["base_rate"]),
                feature_names=FEATURE_NAMES,
                mean=tuple(float(v) for v in data.get("mean", ())),
                scale=tuple(float(v) for v in data.get("scale", ())),
                weights=tuple(float(v) for v in data.get("weights", ())),
                intercept=float(data.get("intercept", 0.0)),
                isotonic_x=tuple(float(v) for v in data.get("isotonic_x", ())),
                isotonic_y=tuple(float(v) for v in data.get("isotonic_y", ())),
                normalizer=data.get("normalizer"),
                reason=data.get("reason"),
            )
        except KeyError as exc:
            raise BadInputError(f"calibrator: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"calibrator: bad value ({exc})") from None


def fit_calibrator(rows: Sequence, normalizer: Normalizer | str, method: str = "logistic", run_id: str | None = None) -> Calibrator:
    """A `Calibrator` fitted on `rows`: the TRAIN part's stored hypotheses (StoredHypothesis-like:
    reference, hypothesis, slices, extra). Never pass the held-out part: every figure about
    the review queue is measured there. Failed and missing rows are left out (`usable_rows`).

    With fewer than MIN_TRAIN_UTTERANCES usable rows, or when they are all correct or all
    wrong (nothing to tell apart), the result is method "uncalibrated" with the reason.
    """
    if method not in METHODS:
        raise BadInputError(f"calibration method: expected one of {', '.join(METHODS)}, got {method!r}")
    normalizer = get_normalizer(normalizer) if isinstance(normalizer, str) else normalizer
    rows = usable_rows(rows)
    correct = (1 - utterance_error_labels(rows, normalizer)).astype(float)
    n = len(rows)
    base_rate = float(correct.mean()) if n else None
    common = dict(fitted_on=run_id, utterances=n, base_rate=base_rate, normalizer=normalizer.id)
    if n < MIN_TRAIN_UTTERANCES:
        return Calibrator("uncalibrated", reason=f"only {n} train utterances with a hypothesis (at least {MIN_TRAIN_UTTERANCES} needed)", **common)
    if correct.min() == correct.max():
        which = "correct" if correct[0] else "wrong"
        return Calibrator("uncalibrated", reason=f"all {n} train utterances are {which}: nothing to tell apart", **common)
    x = np.empty((n, len(FEATURE_NAMES)))
    for i, row in enumerate(rows):
        try:
            x[i] = features(row.extra)
        except BadInputError as exc:
            raise BadInputError(f"utterance {row.utterance_id}: {exc}") from None
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature (e.g. has_words everywhere) contributes nothing
    weights, intercept = _fit_logistic((x - mean) / scale, correct, L2)
    fitted = Calibrator("logistic", mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
                        weights=tuple(map(float, weights)), intercept=intercept, **common)
    if method == "logistic":
        return fitted
    knots_x, knots_y = _fit_isotonic(fitted._logistic(x), correct)
    return Calibrator("isotonic", mean=fitted.mean, scale=fitted.scale, weights=fitted.weights, intercept=intercept,
                      isotonic_x=tuple(map(float, knots_x)), isotonic_y=tuple(map(float, knots_y)), **common)


def low_confidence_words(extra: Mapping | None, threshold: float = LOW_WORD_PROBABILITY) -> list[tuple[int, str, float]]:
    """(index in extra["words"], word without surrounding spaces, probability) of each word
    whose probability is below `threshold`, in text order; [] when no words were stored."""
    words = word_probabilities(extra or {}) or []
    return [(i, w.strip(), p) for i, (w, p) in enumerate(words) if p < threshold]


def expected_calibration_error(scores: Sequence[float], correct: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error: over `bins` equal-width score bins on [0, 1], the mean
    |mean score - share correct| weighted by the bin's share of utterances (0 = perfectly
    calibrated). A score of exactly 1.0 falls in the top bin."""
    s = np.asarray(scores, dtype=float)
    c = np.asarray(correct, dtype=float)
    if s.shape != c.shape or s.ndim != 1:
        raise ValueError(f"expected_calibration_error: {s.shape} scores against {c.shape} outcomes")
    if not len(s):
        raise ValueError("expected_calibration_error: no scores")
    if bins < 1:
        raise ValueError(f"expected_calibration_error: bins must be >= 1, got {bins}")
    if np.any((s < 0) | (s > 1)) or np.any(np.isnan(s)):
        raise ValueError("expected_calibration_error: scores must lie in [0, 1]")
    index = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(s[mask].mean() - c[mask].mean())
    return float(total / len(s))
