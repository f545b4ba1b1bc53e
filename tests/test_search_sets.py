"""Two operator sets searched apart: each function's candidates are both fronts, the richer set's found laws
beside the plain set's, neither filtered by the other."""
import numpy as np
import pytest
import sympy

from symdistill.catalogs.fronts import programs_of
from symdistill.components.search import FunctionData, FunctionFront, merged_front, search_operator_sets
from symdistill.components.sr.export import to_sympy
from symdistill.components.sr.operators import CODE_OF, CONST, VAR
from symdistill.config import SearchConfig
from symdistill.tasks.search import operator_sets, search_options

from conftest import run_stages

PLAIN = {"binary_operators": ["add", "sub", "mul", "div"], "unary_operators": []}
WITH_POW = {"binary_operators": ["add", "sub", "mul", "div", "pow"], "unary_operators": []}


def test_a_law_only_the_second_set_can_write_is_on_the_merged_front():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 3.0, size=(200, 1))
    function = FunctionData("f", x, x[:, 0] ** 2.5, ("x",))
    front, = search_operator_sets([function], [PLAIN, WITH_POW], seed=0, n_islands=2, population_size=20,
                                  n_iterations=6, max_size=10)
    assert np.all(np.diff(front.complexity) >= 0)  # simplest first, across both searches
    uses_pow = np.array([bool(np.any(p.codes == CODE_OF["pow"])) for p in front.programs])
    assert set(front.searches) == {0, 1} and not uses_pow[front.searches == 0].any()
    xs = sympy.Symbol("x", real=True)
    found = [sympy.nsimplify(to_sympy(p, ["x"]), tolerance=1e-6, rational=True)
             for p, k in zip(front.programs, front.searches) if k == 1]
    assert any(sympy.simplify(expr - xs ** sympy.Rational(5, 2)) == 0 for expr in found), found
    assert front.searches[front.best_index] == 0  # the search's own pick is the first set's


def test_operand_limits_reach_every_search_that_has_the_operator():
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 3.0, size=(200, 2))
    function = FunctionData("f", x, x[:, 0] ** 2.5 * x[:, 1], ("x", "y"))
    cfg = SearchConfig(unary_operators=[], second_search_binary_operators=["pow"], operand_limits={"pow": [-1, 1]})
    options = search_options(cfg)
    assert options["options"]["constraints"] == {"pow": [-1, 1]}
    options.pop("share_between_siblings")
    front, = search_operator_sets([function], operator_sets(cfg), seed=0, **options | dict(
        n_islands=2, population_size=20, n_iterations=6, max_size=10))
    pow_code = CODE_OF["pow"]
    exponents = [p.codes[i - 1] for p in front.programs for i in np.flatnonzero(p.codes == pow_code)]
    assert exponents and all(code in (CONST, VAR) for code in exponents)  # every exponent is one leaf


def _front(complexity, loss, tag, best):
    return FunctionFront("f", ("x",), np.array(complexity), np.array(loss), np.zeros(len(loss)),
                         tuple(f"{tag}{c}" for c in complexity), tuple(f"{tag}{c}" for c in complexity), best, 1.0)


def test_merging_keeps_members_the_other_search_dominates():
    plain = _front([1, 5, 11], [1.0, 1e-3, 1e-6], "plain", best=2)
    richer = _front([1, 3, 9], [1.0, 1e-4, 1e-7], "pow", best=2)  # dominates plain's 5 and 11 on search loss
    merged = merged_front([plain, richer])
    assert merged.expressions == ("plain1", "pow1", "pow3", "plain5", "pow9", "plain11")
    assert list(merged.searches) == [0, 1, 1, 0, 1, 0] and list(merged.loss) == [1.0, 1.0, 1e-4, 1e-3, 1e-7, 1e-6]
    assert merged.expressions[merged.best_index] == "plain11" and merged.seconds == 2.0
    assert merged_front([plain]) is plain


def test_the_second_search_adds_operators_and_is_left_out_when_it_adds_none():
    assert operator_sets(SearchConfig(unary_operators=[], second_search_binary_operators=["pow"])) == [PLAIN, WITH_POW]
    assert operator_sets(SearchConfig(unary_operators=[])) == [PLAIN, WITH_POW]  # the default: a second with pow
    assert operator_sets(SearchConfig(unary_operators=[], second_search_binary_operators=[])) == [PLAIN]
    assert operator_sets(SearchConfig(unary_operators=[], binary_operators=["add", "pow"],
                                      second_search_binary_operators=["pow"])) == [
        {"binary_operators": ["add", "pow"], "unary_operators": []}]
    assert operator_sets(SearchConfig(unary_operators=["sin"], second_search_binary_operators=[],
                                      second_search_unary_operators=["abs", "sin"]))[1] == {
        "binary_operators": ["add", "sub", "mul", "div"], "unary_operators": ["sin", "abs"]}


@pytest.mark.slow
def test_a_run_with_a_second_search_keeps_both_fronts_and_says_which_search_compose_chose(tiny_config, tmp_path):
    config = tiny_config()
    config.write_text(config.read_text().replace("[search]\n", '[search]\nsecond_search_binary_operators = ["pow"]\n'))
    ctx = run_stages(config, tmp_path / "store", ("simulate", "split", "train_surrogate", "capture", "search",
                                                   "compose"))
    fronts = {name: ds for name, ds in ctx.store.read(ctx.ref("search")).items() if name != "figures"}
    for front in fronts.values():
        searches = front["search"].values
        assert set(searches) == {0, 1} and np.all(np.diff(front["complexity"].values) >= 0)
        uses_pow = np.array([bool(np.any(p.codes == CODE_OF["pow"])) for p in programs_of(front)])
        assert not uses_pow[searches == 0].any()  # pow comes only from the second search
    summary = ctx.store.provenance(ctx.ref("search"))["figures"]
    assert [s["binary_operators"][-1] for s in summary["operator_sets"]] == ["div", "pow"]
    compose = ctx.store.provenance(ctx.ref("compose"))["figures"]
    choice = compose["search_choice"]
    assert choice["chosen"] in (0, 1) and "held-out loss" in choice["rule"]
    if not choice["same_composition"]:  # both final laws were scored, and the chosen one is simplest within noise
        laws = choice["final_laws"]
        assert [law["searches"] for law in laws] == ["first", "both"]
        assert laws[choice["chosen"]]["excess_over_best"] <= 0 and set(laws[0]["expressions"]) == {"acc_x", "acc_y"}
    for name, rows in compose["candidates"].items():  # the chosen run's table: the first search's alone, or both
        assert {row["search"] for row in rows} == ({0} if choice["chosen"] == 0 else {0, 1})
        chosen = next(row for row in rows if row["chosen"])
        assert (chosen["complexity"], chosen["search"]) == (compose["selected_complexity"][name],
                                                            compose["selected_search"][name])
