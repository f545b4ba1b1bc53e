"""A search checkpoint as JSON-ready data (names, lists, numbers): saved and resumed without pickle."""
import numpy as np

from symdistill.components.sr.island import IslandState
from symdistill.components.sr.operators import CONST, OPERATOR_OF_CODE, VAR, operator_code
from symdistill.components.sr.program import Program, ProgramError, validate
from symdistill.components.sr.search import Checkpoint

FORMAT = "symdistill.sr.checkpoint/1"


def _code_of(name: str) -> int:
    if name == "const":
        return CONST
    if name == "var":
        return VAR
    return operator_code(name)


def _name_of_code(code: int) -> str:
    return {CONST: "const", VAR: "var"}.get(code) or OPERATOR_OF_CODE[code].name


def _finite_or_none(values):
    return [float(v) if np.isfinite(v) else None for v in values]


def checkpoint_to_dict(checkpoint: Checkpoint) -> dict:
    return {
        "format": FORMAT,
        "rounds": checkpoint.rounds,
        "evaluations": checkpoint.evaluations,
        "islands": [{"nodes": [_name_of_code(int(c)) for c in s.codes], "args": s.args.tolist(),
                     "values": s.values.tolist(), "offsets": s.offsets.tolist(), "losses": _finite_or_none(s.losses),
                     "births": s.births.tolist()} for s in checkpoint.states],
        "hall": [{"complexity": c, "loss": loss, "program": program.to_dict()}
                 for c, (program, loss) in sorted(checkpoint.hall.items())],
    }


def checkpoint_from_dict(data: dict, n_features: int) -> Checkpoint:
    """Rebuild and validate a checkpoint; raise ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a search checkpoint (expected format {FORMAT!r})")
    try:
        states = [_island(island, n_features) for island in data["islands"]]
        hall = {int(e["complexity"]): (Program.from_dict(e["program"], n_features), float(e["loss"]))
                for e in data["hall"]}
        return Checkpoint(states, hall, int(data["rounds"]), int(data["evaluations"]))
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed search checkpoint ({type(err).__name__}: {err})") from None


def _island(island: dict, n_features: int) -> IslandState:
    codes = np.array([_code_of(name) for name in island["nodes"]], dtype=np.int16)
    args = np.array(island["args"], dtype=np.int32)
    values = np.array(island["values"], dtype=np.float64)
    offsets = np.array(island["offsets"], dtype=np.int64)
    if not (len(codes) == len(args) == len(values) == offsets[-1]) or offsets[0] != 0 or np.any(np.diff(offsets) < 1):
        raise ProgramError("island arrays and offsets disagree")
    for start, end in zip(offsets[:-1], offsets[1:]):
        validate(Program(codes[start:end], args[start:end], values[start:end]), n_features)
    losses = np.array([np.inf if v is None else v for v in island["losses"]], dtype=float)
    births = np.array(island["births"], dtype=np.int64)
    if len(losses) != len(offsets) - 1 or len(births) != len(losses):
        raise ProgramError("island losses or births do not match its programs")
    return IslandState(codes, args, values, offsets, losses, births)
