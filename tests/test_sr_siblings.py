"""Sibling searches trade fronts: a form found for one function reaches the others, deterministically."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sympy

from symdistill.components.search import FunctionData, axis_swap, search_function, sibling_exchanges
from symdistill.components.sr.export import from_sympy, to_sympy
from symdistill.components.sr.island import make_data
from symdistill.components.sr.options import OptionsError, SearchOptions
from symdistill.components.sr.search import run_search
from symdistill.components.sr.siblings import SiblingExchange

SMALL = dict(binary_operators=("add", "sub", "mul", "div"), unary_operators=("cube", "inv"), n_islands=2,
             population_size=20, n_iterations=3, max_size=16)


def rotated_inverse_cube(a, b):
    """m (a dx + b dy) / r^3 on random pairs: the shape of a gravity message component."""
    rng = np.random.default_rng(1)
    dx, dy, m = rng.uniform(-1, 1, 400), rng.uniform(-1, 1, 400), rng.uniform(0.5, 2, 400)
    r = np.hypot(dx, dy) + 0.3
    return np.stack([dx, dy, r, m], axis=1), m * (a * dx + b * dy) / r ** 3


def test_a_siblings_form_reaches_the_front_with_this_functions_constants():
    X, y = rotated_inverse_cube(0.7, -1.3)
    names = ["dx", "dy", "r", "m"]
    data = make_data(X.T, y, None, SearchOptions(**_options()))
    dx, dy, r, m = sympy.symbols(names)
    inverse_cube = sympy.Pow(r ** 3, -1, evaluate=False)  # cube, then inv: operators of the search
    sibling_form = from_sympy(m * (2 * dx + sympy.Rational(1, 2) * dy) * inverse_cube, names)  # wrong constants
    exchange = SiblingExchange(["other", "this"])
    exchange.publish("other", 0, [sibling_form])
    exchange.finish("other")
    helped = run_search(data, SearchOptions(**_options()), seed=0, siblings=exchange, name="this")
    best_helped = min(loss for _, loss, _ in helped.front)
    assert best_helped < 1e-20  # the sibling's form, constants re-fitted to 0.7 and -1.3


def test_concurrent_siblings_give_the_same_fronts_in_any_timing():
    functions = [FunctionData(f"edge_message{k}", *rotated_inverse_cube(a, b), ("dx", "dy", "r", "m"))
                 for k, (a, b) in enumerate([(1.0, 0.2), (-0.4, 0.9)])]

    def search_all(delays):
        exchanges = sibling_exchanges(functions)
        assert exchanges["edge_message0"] is exchanges["edge_message1"] is not None

        def one(index):
            def progress(rounds, evaluations, best):
                threading.Event().wait(delays[index])  # one sibling lags behind the other
            return search_function(functions[index], seed=5, progress=progress,
                                   siblings=exchanges[functions[index].name], **SMALL)
        with ThreadPoolExecutor(2) as pool:
            return [f.result(timeout=300) for f in [pool.submit(one, i) for i in range(2)]]
    first, second = search_all([0.0, 0.05]), search_all([0.05, 0.0])
    for a, b in zip(first, second):
        assert a.expressions == b.expressions
        np.testing.assert_array_equal(a.loss, b.loss)


def test_a_failing_sibling_does_not_block_the_others():
    X, y = rotated_inverse_cube(1.0, 0.0)
    good = FunctionData("good", X, y, ("dx", "dy", "r", "m"))
    broken = FunctionData("broken", X, np.full_like(y, np.nan), ("dx", "dy", "r", "m"))
    exchanges = sibling_exchanges([good, broken])
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(search_function, f, seed=0, siblings=exchanges[f.name], **SMALL) for f in (good, broken)]
        assert futures[0].result(timeout=300).expressions
        with pytest.raises(ValueError, match="NaN"):
            futures[1].result(timeout=300)


def test_only_functions_of_the_same_inputs_are_siblings():
    X, y = rotated_inverse_cube(1.0, 0.0)
    functions = [FunctionData("edge_message0", X, y, ("dx", "dy", "r", "m")),
                 FunctionData("edge_message1", X, y, ("dx", "dy", "r", "m")),
                 FunctionData("node_acc_x", X, y, ("mass", "sum_message0", "sum_message1", "vx"))]
    exchanges = sibling_exchanges(functions)
    assert exchanges["edge_message0"].names == ("edge_message0", "edge_message1")
    assert exchanges["node_acc_x"] is None


def test_components_along_different_axes_receive_each_others_forms_with_the_axes_swapped():
    X, y = rotated_inverse_cube(1.0, 0.0)
    names = ("dx", "dy", "r", "dvx", "dvy", "mass_j")
    functions = [FunctionData("edge_message0", X, y, names, axis=0), FunctionData("edge_message1", X, y, names, axis=1)]
    exchange = sibling_exchanges(functions)["edge_message0"]
    m_dx = from_sympy(sympy.Symbol("mass_j") * sympy.Symbol("dx") + sympy.Symbol("dvx"), list(names))
    exchange.publish("edge_message0", 0, [m_dx])
    exchange.finish("edge_message0")
    received = {str(sympy.simplify(to_sympy(p, list(names)))) for p in exchange.siblings_front("edge_message1", 0)}
    assert received == {"dvx + dx*mass_j", "dvy + dy*mass_j"}  # as found, and along y


def test_axis_swap_exchanges_every_per_axis_feature_and_needs_a_counterpart():
    names = ("mass", "sum_message1", "sum_message0", "vx", "vy")
    assert axis_swap(names, 0, 1).tolist() == [0, 2, 1, 4, 3]
    assert axis_swap(("dx", "r"), 0, 1) is None  # no dy to exchange dx with
    assert axis_swap(names, 0, None) is None


def test_exchange_and_option_errors():
    exchange = SiblingExchange(["a", "b"])
    with pytest.raises(KeyError, match="'c' is not one of the siblings"):
        exchange.publish("c", 0, [])
    with pytest.raises(ValueError, match="distinct"):
        SiblingExchange(["a", "a"])
    with pytest.raises(OptionsError, match="migration_fraction_sibling must be a fraction"):
        SearchOptions(migration_fraction_sibling=1.5).validate()


def _options():
    return dict(binary_operators=SMALL["binary_operators"], unary_operators=SMALL["unary_operators"],
                n_islands=1, population_size=20, n_iterations=3, max_size=16)


def test_captured_functions_can_be_weighted_by_their_targets_own_size():
    import xarray as xr

    from symdistill.components.search import functions_from_capture, magnitude_weights
    X, y = rotated_inverse_cube(1.0, 0.0)  # heavy-tailed, as messages near close pairs are
    edge = xr.Dataset({"inputs": (("edge", "edge_feature"), X), "messages": (("edge", "message_component"), y[:, None]),
                       "message_rank": ("rank", [0])}, coords={"edge_feature": ["dx", "dy", "r", "mass_j"]},
                      attrs={"significant_components": 1})
    node = xr.Dataset({"inputs": (("node", "node_feature"), y[:, None]),
                       "outputs": (("node", "output_component"), y[:, None])},
                      coords={"node_feature": ["sum_message0"], "output_component": ["acc_x"]})
    weighted = functions_from_capture(edge, node, 10_000, "relative")
    plain = functions_from_capture(edge, node, 10_000)
    assert all(f.weights is None for f in plain)
    weights = weighted[0].weights
    np.testing.assert_allclose(weights, magnitude_weights(y))
    assert weights.mean() == pytest.approx(1.0)
    # the error each row contributes is relative to its own size, floored at the typical size
    floor = np.median(y ** 2)
    np.testing.assert_allclose(weights * (y ** 2 + floor), weights[0] * (y[0] ** 2 + floor))
    with pytest.raises(ValueError, match="weighting must be 'relative' or 'none'"):
        functions_from_capture(edge, node, 10, "inverse")
