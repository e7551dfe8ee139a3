"""N-best decoding: the decoder keeps its best few hypotheses, not just the first.

Whisper's beam search already holds several hypotheses per clip; the one it returns is
the likeliest to the acoustic model, which has rarely heard a drug name. When it writes
"met for men", "metformin" is often the second or third hypothesis. This strategy asks
the backend to return the beam's best `hypotheses` (stored with each transcript as
`extra["nbest"]`: text and log-probability per token); alone it is beam search, and with
the lexicon (`nbest+lexicon`) the lexicon layer rescores the list (`lexicon_rescoring`):
a hypothesis that names a term of the utterance's language wins over a likelier one that
does not, within a limit on how much less likely it may be.

Cost: a beam of `hypotheses` instead of greedy decoding (measured side by side in
`benchmarks/bench_cheap_rungs.py`). Clips only: items longer than 30 s decode as before.
"""

from dataclasses import dataclass

from workbench.strategy_api import BadInputError, backend_gives_nbest

from .registry import register

__all__ = ["NBestConfig", "NBestDecoding"]


@dataclass(frozen=True)
class NBestConfig:
    hypotheses: int = 5  # the beam's width, and how many hypotheses are kept

    def __post_init__(self) -> None:
        if not 2 <= self.hypotheses <= 16:
            raise ValueError(f"hypotheses must be in 2..16, got {self.hypotheses!r}")


class NBestDecoding:
    name = "nbest"

    def __init__(self, config: NBestConfig):
        self.config = config

    def decode_overrides(self, language: str | None, backend: str) -> dict:
        if not backend_gives_nbest(backend):
            # Silently decoding 1-best would make "nbest+lexicon" the lexicon alone under another name.
            raise BadInputError(f"backend {backend!r} returns one hypothesis per clip; n-best decoding needs faster-whisper")
        return {"num_hypotheses": self.config.hypotheses}


@register("nbest", "decode", NBestConfig, cost=2, description="beam search keeping the best hypotheses, for the lexicon to rescore",
          decode_fields=("num_hypotheses",))
def make_nbest(config: NBestConfig, lexicon=None) -> NBestDecoding:
    return NBestDecoding(config)
