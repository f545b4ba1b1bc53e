"""Space has no preferred direction: the law of one force component is another's with two axes swapped.

The search seeds sibling components with each other's forms (components/search.py), yet the network can
distort its message along one axis more than along another (charges in 3D: two components came out as the
law, the third as a steeper message under a cubic node function that stands in for it). The distorted
component's whole chain — its edge message and the node function that reads it — is then offered the chain
of each sibling axis, moved onto its own axis (dx <-> dy, sum_message0 <-> sum_message1, ...). Both
functions move together: a node function alone is calibrated to its own message and fails with another's.
The held-out evidence decides by the rule that chose the law (the simplest within noise of the best), so a
law already found is traded only for a simpler equal one: the same law written the same way on every axis.
"""
from collections.abc import Callable

import numpy as np

from symdistill.components.evidence import GROWTH_STANDARD_ERRORS, HeldOut, finite_or_none, simplest_within_noise
from symdistill.components.function_names import function_role
from symdistill.components.search import axis_swap
from symdistill.components.sr.program import Program
from symdistill.components.sr.siblings import relabelled


def swapped_chain(programs: dict[str, Program], axes: dict[str, int], source: int, target: int,
                  edge_features: tuple[str, ...], node_features: tuple[str, ...]) -> dict[str, Program] | None:
    """The functions along axis ``source`` moved onto axis ``target``: for each, the program of its
    counterpart of the same role along ``target``, with the two axes' features exchanged. None if a
    function has no such counterpart, or its features have no counterpart along the other axis."""
    by_role_axis = {(function_role(name)[0], axis): name for name, axis in axes.items() if name in programs}
    chain = {}
    for (role, axis), name in by_role_axis.items():
        if axis != source:
            continue
        counterpart = by_role_axis.get((role, target))
        index = axis_swap(edge_features if role == "edge" else node_features, source, target)
        if counterpart is None or index is None:
            return None
        chain[counterpart] = relabelled(programs[name], index)
    return chain or None


def adopt_sibling_chains(programs: dict[str, Program], axes: dict[str, int], edge_features: tuple[str, ...],
                         node_features: tuple[str, ...], refit: Callable[[dict[str, Program]], dict[str, Program]],
                         evidence: Callable[[dict[str, Program]], HeldOut],
                         reference: HeldOut) -> tuple[dict[str, Program], HeldOut, list[dict]]:
    """Per axis, its chain or a sibling axis's chain moved onto it (``swapped_chain``, re-fitted), by the rule
    that chose and pruned the law: the simplest within noise of the lowest held-out loss, the axis's own
    chain first among equals. A sibling chain larger than the axis's own is a new hypothesis and competes only
    if it is better beyond noise as an added offset must be (GROWTH_STANDARD_ERRORS paired standard errors).
    Axes are visited in order, each against the law as it stands. Returns the programs, their held-out loss
    and a log of the chains adopted. A chain of the same structure as the axis's own is not tried: re-fitted,
    it is the same hypothesis."""
    adopted = []
    if reference.undefined is not None:
        return programs, reference, adopted
    for target in sorted(set(axes.values())):
        options = []  # (programs, loss, chain size, source axis, functions moved)
        for source in sorted(set(axes.values()) - {target}):
            chain = swapped_chain(programs, axes, source, target, edge_features, node_features)
            if chain is None or all(chain[n].structure_key() == programs[n].structure_key() for n in chain):
                continue
            if not options:
                options.append((programs, reference, sum(len(programs[n]) for n in chain), target, sorted(chain)))
            with np.errstate(all="ignore"):
                trial = refit(programs | chain)
                loss = evidence(trial)
            size = sum(len(chain[n]) for n in chain)
            if size <= options[0][2] or loss.clearly_better_than(reference, GROWTH_STANDARD_ERRORS):
                options.append((trial, loss, size, source, sorted(chain)))
        if len(options) < 2:
            continue
        pick = simplest_within_noise([o[1] for o in options], [o[2] for o in options])
        if pick:
            trial, loss, size, source, functions = options[pick]
            adopted.append({"axis": target, "from_axis": source, "functions": functions, "size": size,
                            "size_before": options[0][2], "held_out_loss": finite_or_none(loss.mean),
                            "held_out_loss_before": finite_or_none(reference.mean)})
            programs, reference = trial, loss
    return programs, reference, adopted
