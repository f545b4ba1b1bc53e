"""Compose with two searches' fronts: which search's candidates the law is composed from, decided on the final laws."""
import sympy

from symdistill.components.compose import Composition, sympy_model
from symdistill.components.compose_choice import choose_by_search
from symdistill.components.evidence import Candidate
from symdistill.components.refit import final_law, refitted_evidence, trial_budget
from symdistill.components.sr.export import from_sympy

from test_compose import EDGE, NODE, spring_composition
from test_evidence import graphs, with_targets  # noqa: F401  (graphs: the same spring frames, a fixture)

dx, dy, r, mass_j = sympy.symbols("dx dy r mass_j", real=True)


def choose(graphs, pair_law, first: list, second: list):
    """Both edge messages get the ``first`` search's and the ``second`` search's candidate forms of the pair law
    (a function of d = dx or dy); the node functions are the truth. Returns the choice's record and the chosen
    edge_message0 candidate's search."""
    node = spring_composition().node
    truth = Composition({k: from_sympy(pair_law(d), EDGE) for k, d in enumerate((dx, dy))}, node, EDGE, NODE)
    train = with_targets(graphs.subset(slice(0, 120)), truth)
    held_out = with_targets(graphs.subset(slice(120, None)), truth)
    candidates = {f"edge_message{k}": [Candidate(9, 1e-3, from_sympy(form(d), EDGE), 0) for form in first] +
                  [Candidate(11, 1e-5, from_sympy(form(d), EDGE), 1) for form in second]
                  for k, d in enumerate((dx, dy))}
    candidates |= {f"node_{name}": [Candidate(3, 0.0, program)] for name, program in node.items()}

    def compose(programs):
        return Composition.from_functions(programs, EDGE, NODE)

    def law_of(programs):
        law = final_law(compose(programs), None, train, held_out)
        return law.evidence, {name: str(e) for name, e in sympy_model(law.law).items()}
    choice, tables, record = choose_by_search(
        candidates, lambda programs: refitted_evidence(compose(programs), None, trial_budget(train), held_out), law_of)
    return record, candidates["edge_message0"][choice["edge_message0"]].search


def test_the_first_search_s_law_is_kept_when_only_refit_shows_it_beats_a_closer_fitting_power(graphs):
    """As charge-2d's run had it: the first search holds r (r² + c), which only refit's offset growth turns into
    the softened law r (r + ε)²; the second holds a fitted power (r + a)^2.9, closer before refit."""
    record, search = choose(graphs, lambda d: -mass_j * d / (r * (r + sympy.Rational(1, 20)) ** 2),
                            [lambda d: -0.93 * mass_j * d / (r * (r ** 2 + 0.02))],
                            [lambda d: -1.05 * mass_j * d / (r + 0.04) ** 2.9])
    laws = record["final_laws"]
    assert not record["same_composition"] and record["chosen"] == 0 and search == 0
    assert laws[0]["held_out_loss"] < 1e-12 < laws[1]["held_out_loss"], laws


def test_the_second_search_s_law_is_taken_when_its_final_law_is_better_beyond_noise(graphs):
    record, search = choose(graphs, lambda d: -mass_j * d / r ** 3.5,
                            [lambda d: -0.8 * mass_j * d * (3 - 2 * r)],
                            [lambda d: -0.9 * mass_j * d * r ** -3.4])
    laws = record["final_laws"]
    assert record["chosen"] == 1 and search == 1
    assert laws[1]["held_out_loss"] < 1e-12 and laws[0]["excess_over_best"] > 0, laws


def test_with_one_search_there_is_nothing_to_choose_between(graphs):
    record, search = choose(graphs, lambda d: -mass_j * d / r ** 3, [lambda d: -0.9 * mass_j * d / r ** 3], [])
    assert record is None and search == 0


def test_the_report_shows_both_final_laws_and_which_was_taken():
    from symdistill.catalogs.report import _choices
    laws = [{"searches": "first", "expressions": {"acc_x": "Sum(-dx_ij/r_ij**3, (j, 1, N))"}, "held_out_loss": 1e-15,
             "held_out_standard_error": 1e-16, "excess_over_best": 0.0},
            {"searches": "both", "expressions": {"acc_x": "Sum(-dx_ij/(r_ij + 0.0066)**3.0, (j, 1, N))"},
             "held_out_loss": None, "held_out_standard_error": None, "excess_over_best": None,
             "undefined": "3 of 500 held-out frames have non-finite predictions (first: frame 7)"}]
    html = _choices({"search_choice": {"rule": "the rule", "same_composition": False, "chosen": 0,
                                       "final_laws": laws}})
    assert "Which search" in html and "acc_x = Sum(-dx_ij/(r_ij + 0.0066)**3.0" in html
    assert "3 of 500 held-out frames have non-finite predictions" in html and html.count("✓") == 1
    assert "Which search" not in _choices({"search_choice": {"rule": "r", "same_composition": True, "chosen": 0}})
