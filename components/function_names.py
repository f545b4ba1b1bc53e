"""The names of the surrogate's internal functions, written in one place.

Capture names the summed messages ``sum_message<k>`` (inputs of the node model); search names its functions
``edge_message<k>`` (component k of a pair's message) and ``node_<output>`` (one output component of a
body); compose, refit, the catalog and bundles read the same names back.
"""
from dataclasses import dataclass

EDGE_PREFIX, NODE_PREFIX, SUM_PREFIX = "edge_message", "node_", "sum_message"


@dataclass(frozen=True)
class FunctionName:
    role: str  # "edge" or "node"
    which: int | str  # the message component, or the output's name

    @classmethod
    def edge(cls, component: int) -> "FunctionName":
        return cls("edge", int(component))

    @classmethod
    def node(cls, output: str) -> "FunctionName":
        return cls("node", str(output))

    @classmethod
    def parse(cls, name: str) -> "FunctionName":
        """ValueError naming the allowed forms for anything else."""
        if name.startswith(EDGE_PREFIX) and name.removeprefix(EDGE_PREFIX).isdigit():
            return cls.edge(int(name.removeprefix(EDGE_PREFIX)))
        if name.startswith(NODE_PREFIX) and name != NODE_PREFIX:
            return cls.node(name.removeprefix(NODE_PREFIX))
        raise ValueError(f"function {name!r}: names are {EDGE_PREFIX}<k> or {NODE_PREFIX}<output>")

    def __str__(self) -> str:
        return f"{EDGE_PREFIX}{self.which}" if self.role == "edge" else f"{NODE_PREFIX}{self.which}"


def function_role(name: str) -> tuple[str, int | str]:
    """("edge", k) for edge_message<k>, ("node", output) for node_<output>; ValueError otherwise."""
    parsed = FunctionName.parse(name)
    return parsed.role, parsed.which


def summed_message(component: int) -> str:
    """The node input holding the sum of message component ``component`` over a body's edges."""
    return f"{SUM_PREFIX}{component}"
