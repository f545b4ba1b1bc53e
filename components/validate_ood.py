"""The validate_ood stage's science: is the equation at least as accurate as the network it came from?

A discovery is only presented as one when the symbolic model's error in distribution (held-out
simulations) is at most the network's; otherwise the run says so and names the numbers or the cause.
"""

VALIDATED, FAILED = "validated", "failed_validation"


def verdict(errors: dict) -> dict:
    """``errors[model][split]`` as ``prediction_errors`` gives them -> {"status", "reason"}."""
    symbolic = errors.get("symbolic", {}).get("in_distribution", {})
    network = errors.get("gnn", {}).get("in_distribution", {})
    if symbolic.get("relative_mae") is None:
        cause = symbolic.get("undefined", "no in-distribution frames")
        return {"status": FAILED, "reason": f"the equation's error in distribution is undefined: {cause}"}
    if network.get("relative_mae") is None:
        return {"status": FAILED, "reason": "the network's error in distribution is undefined: "
                                            f"{network.get('undefined', 'no in-distribution frames')}"}
    ours, theirs = symbolic["relative_mae"], network["relative_mae"]
    if ours >= 1:  # predicting zero everywhere has relative MAE 1
        return {"status": FAILED, "reason": f"the equation's relative MAE in distribution ({ours:.3g}) is no better "
                                            f"than predicting zero (1); the network's is {theirs:.3g}"}
    if ours <= theirs:
        return {"status": VALIDATED, "reason": f"the equation's relative MAE in distribution ({ours:.3g}) is at "
                                               f"most the network's ({theirs:.3g})"}
    return {"status": FAILED, "reason": f"the equation's relative MAE in distribution ({ours:.3g}) is above the "
                                        f"network's ({theirs:.3g}): it is not a discovery"}
