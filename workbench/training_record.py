"""What a trained model was trained on, kept beside it: the leakage record.

`training.train` writes `training-record.json` in its output folder (next to `model/` and
`ct2/`), atomically: the utterance ids it trained and validated on, the held-out split's
id (`Split.heldout_id`) and size, and how many of the trained ids are in that held-out
part (`heldout_overlap`, 0 by construction: training refuses otherwise). So anyone holding
the model can show there was no leakage, and recheck it against any held-out part with
`leakage_overlap`.

The record also names the rung (`method`: lora or full) and the exported CTranslate2
folder, which is how a stored run of that folder is recognised as the rung's evaluation
(`trained_rung`), e.g. by the TUI's ladder status.

Pure and light (standard library only): the escalation, the session and the report read
it without importing the training stack.
"""

import json
from pathlib import Path
from typing import Iterable, Mapping

from .atomic import write_text_atomic
from .errors import BadInputError

__all__ = ["RECORD_FILE", "leakage_overlap", "check_no_leakage", "write_record", "read_record", "trained_rung", "training_output"]

RECORD_FILE = "training-record.json"
_RUNGS = ("lora", "full")


def leakage_overlap(record: Mapping, heldout_ids: Iterable[str]) -> int:
    """How many utterances the record trained or validated on are in `heldout_ids` (by id)."""
    used = set(record.get("train_ids") or ()) | set(record.get("validation_ids") or ())
    return len(used & set(heldout_ids))


def check_no_leakage(train_ids: Iterable[str], heldout_ids: Iterable[str], where: str = "training") -> None:
    """A one-line BadInputError when any utterance to train on is in the held-out part."""
    shared = sorted(set(train_ids) & set(heldout_ids))
    if shared:
        shown = ", ".join(shared[:5]) + (f" and {len(shared) - 5} more" if len(shared) > 5 else "")
        raise BadInputError(
            f"{where}: {len(shared)} utterance{'s' if len(shared) != 1 else ''} of the train part "
            f"{'are' if len(shared) != 1 else 'is'} also held out ({shown}): "
            "a model trained on them would be graded on its own answers; refusing to train"
        )


def write_record(folder, record: dict) -> str:
    """Write `record` as `folder/training-record.json`, atomically; returns the path."""
    path = Path(folder) / RECORD_FILE
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return str(path)


def read_record(folder) -> dict | None:
    """The record in `folder`, or None when there is none (or it is not a record)."""
    return _read_json(Path(folder) / RECORD_FILE)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def trained_rung(model: str | None) -> str | None:
    """"lora" or "full" when `model` is the CTranslate2 export of a training run, else None.

    Recognised by the record in the folder above it (or, for models trained before records
    existed, the `result.json` training always wrote there), whose `ct2_dir` names this
    folder; compared by folder name, so a training output moved as a whole still counts.
    A run scored with that model is the rung's evaluation; the transformers folder beside
    it (decode parity) is not. A folder since deleted is judged by the escalation's layout
    alone (`<out>/<lora|full>/ct2`)."""
    if not model:
        return None
    folder = Path(model)
    if not folder.is_dir():
        gone = folder.is_absolute() and not folder.exists()
        return folder.parent.name if gone and folder.name == "ct2" and folder.parent.name in _RUNGS else None
    record = read_record(folder.parent) or _read_json(folder.parent / "result.json")
    if record is None or record.get("method") not in _RUNGS or not record.get("ct2_dir"):
        return None
    return record["method"] if Path(str(record["ct2_dir"])).name == folder.name else None


def training_output(model: str | None) -> str | None:
    """"lora" or "full" when `model` is any export of a training run (the CTranslate2 folder
    or the transformers one beside it), else None: such a model is never a ladder's baseline."""
    rung = trained_rung(model)
    if rung is not None or not model or not Path(model).is_dir():
        return rung
    folder = Path(model)
    record = read_record(folder.parent) or _read_json(folder.parent / "result.json")
    if record is None or record.get("method") not in _RUNGS or not record.get("model_dir"):
        return None
    return record["method"] if Path(str(record["model_dir"])).name == folder.name else None
