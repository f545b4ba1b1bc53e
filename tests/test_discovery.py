"""search -> compose -> refit -> validate_ood on a planted capture, and what a search-only change reruns."""
import numpy as np
import pytest
import sympy

import symdistill.tasks.capture as capture_task_module
import symdistill.tasks.search as search_task_module
import symdistill.tasks.train_surrogate as train_task_module
from symdistill.catalogs.fronts import composition_of
from symdistill.components.compose import sympy_model
from symdistill.tasks.context import open_run
from symdistill.tasks.status import stage_status

from conftest import run_stages

pytestmark = pytest.mark.slow

PLANTED = """
[search]
n_islands = 4
population_size = 30
n_iterations = 15
max_rows = 300
max_size = 14
n_workers = 1

[split.ood]
kind = "body_property"
variable = "mass"
high = 3.6
"""  # with 10 simulations (seed 1): the validation and test ones stay in distribution, two training ones do not


def plant_true_messages(monkeypatch):
    """Make capture record the simulator's pair forces as messages and its accelerations as outputs."""
    real = capture_task_module.capture

    def planted(model, graphs, *, true_force, significance):
        datasets = real(model, graphs, true_force=true_force, significance=significance)
        edge, node = datasets["edge"], datasets["node"]
        force = edge["force"].values
        edge["messages"].values[:] = force
        edge["message_std"].values[:] = force.std(axis=0)
        edge["message_rank"].values[:] = np.argsort(-force.std(axis=0))
        edge.attrs["significant_components"] = 2
        n_bodies = int(node["body"].max()) + 1
        receiver = np.unique(np.stack([edge["sim"].values, edge["time"].values], 1), axis=0, return_inverse=True)[1]
        sums = np.zeros((node.sizes["node"], 2))
        np.add.at(sums, receiver.ravel() * n_bodies + edge["receiver"].values, force)
        names = list(node["node_feature"].values)
        for k in (0, 1):
            node["inputs"].values[:, names.index(f"sum_message{k}")] = sums[:, k]
        node["outputs"].values[:] = node["target"].values
        return datasets
    monkeypatch.setattr(capture_task_module, "capture", planted)


STAGES = ("simulate", "split", "train_surrogate", "capture", "search", "compose", "refit", "validate_ood")


def test_planted_messages_give_back_the_spring_law(tiny_config, tmp_path, monkeypatch):
    config = tiny_config(10)
    config.write_text(config.read_text().split("[search]")[0] + PLANTED)
    plant_true_messages(monkeypatch)
    ctx = run_stages(config, tmp_path / "store", STAGES)
    assert ctx.executed == list(STAGES)
    refit = ctx.store.provenance(ctx.ref("refit"))["figures"]
    assert refit["relative_mae_after"] < 1e-3, refit
    assert refit["law_training_errors"]["relative_mae"] < 1e-3, refit["simplification"]
    dx, r, mass = sympy.symbols("dx_ij r_ij mass", real=True)
    truth = -2 * (r + sympy.Rational(1, 100) - 1) * dx / r / mass
    composed = sympy_model(composition_of(ctx.store.read(ctx.ref("refit"))["model"]))["acc_x"]
    found = composed.replace(lambda e: isinstance(e, sympy.Sum), lambda e: e.args[0])  # one pair's term
    # SRBench-style: 3 significant digits, and constants that vanish (below 1e-6) become 0
    rounded = found.xreplace({f: 0 if abs(f) < 1e-6 else sympy.Rational(f"{float(f):.3g}")
                              for f in found.atoms(sympy.Float)})
    assert sympy.simplify(rounded - truth) == 0, found
    # the simulation is in SI units: the spring's stiffness and its force at rest length as a person writes them
    units = refit["constant_units"]["acc_x"]
    assert units["consistent"] and {u for _, u in units["constants"]} == {"kg/s²", "kg·m/s²"}, units
    ood = ctx.store.provenance(ctx.ref("validate_ood"))["figures"]["errors"]
    assert ood["symbolic"]["out_of_distribution"]["relative_mae"] < 1e-3
    assert set(ood["gnn"]) == {"in_distribution", "out_of_distribution"}


def test_a_search_only_change_reruns_search_and_after_but_nothing_upstream(tiny_config, tmp_path, monkeypatch):
    config, store = tiny_config(8), tmp_path / "store"
    calls = []
    for module, name in ((train_task_module, "train"), (capture_task_module, "capture"),
                         (search_task_module, "search_operator_sets")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    first = run_stages(config, store, STAGES)
    assert first.executed == list(STAGES) and calls.count("train") == 1
    config.write_text(config.read_text().replace("max_size = 12", "max_size = 10"))
    second_ctx, _ = open_run(config, store, log=lambda _: None)
    states = {r["stage"]: r["state"] for r in stage_status(second_ctx.plan, second_ctx.store, "tiny")}
    assert states == {"simulate": "complete", "split": "complete", "train_surrogate": "complete", "capture": "complete",
                      "search": "stale", "compose": "stale", "refit": "stale", "validate_ood": "stale"}
    searches_before = calls.count("search_operator_sets")
    second = run_stages(config, store, STAGES)
    assert second.executed == ["search", "compose", "refit", "validate_ood"]
    assert calls.count("train") == 1 and calls.count("capture") == 1
    assert calls.count("search_operator_sets") > searches_before


THROUGH_THE_NETWORK = """
[experiment]
name = "through-the-network"

[simulate]
law = "spring"
n_bodies = 4
dim = 2
n_sims = 200
n_steps = 200
dt = 0.01
record_every = 10
seed = 1

[train_surrogate]
edge_features = ["dx", "r"]
hidden = 64
layers = 2
epochs = 50
patience = 50
batch_size = 64
threads = 1

[capture]
max_graphs = 300

[search]
unary_operators = []
n_islands = 4
population_size = 40
n_iterations = 30
max_rows = 1000
max_size = 20
n_workers = 1
"""


def test_the_spring_law_comes_back_from_the_networks_own_messages(tmp_path):
    """No planted capture: simulate, train, capture the messages the network learned, search, compose by
    held-out evidence, refit; the per-pair law must equal the simulated one (3 digits, symbolically)."""
    config = tmp_path / "through.toml"
    config.write_text(THROUGH_THE_NETWORK)
    ctx = run_stages(config, tmp_path / "store", STAGES)
    composed = sympy_model(composition_of(ctx.store.read(ctx.ref("refit"))["model"]))["acc_x"]
    pair = sum((t.args[0] for t in sympy.Add.make_args(composed) if isinstance(t, sympy.Sum) and
                t.args[0].free_symbols), sympy.Integer(0))
    dx, r, mass = sympy.symbols("dx_ij r_ij mass", real=True)
    truth = -2 * (r + sympy.Rational(1, 100) - 1) * dx / r / mass
    rounded = pair.xreplace({f: 0 if abs(f) < 1e-6 else sympy.Rational(f"{float(f):.3g}")
                             for f in pair.atoms(sympy.Float)})
    assert sympy.simplify(rounded - truth) == 0, composed
    verdict = ctx.store.provenance(ctx.ref("validate_ood"))["figures"]["verdict"]
    assert verdict["status"] == "validated", verdict
