"""Experiment files: shipped ones load, bad ones fail before any work with a message naming the problem."""
import numpy as np
import pytest

from conftest import REPO
from symdistill.config import ConfigError, load_experiment


@pytest.mark.parametrize("name", ["spring2d", "gravity2d", "charge3d"])
def test_shipped_experiments_load(name):
    experiment = load_experiment(REPO / "config" / f"{name}.toml")
    assert experiment.data_stage == "simulate"
    assert experiment.experiment.name == name


def test_the_measured_example_plans_every_stage_from_its_shipped_file():
    from symdistill.tasks.plan import build_plan
    config = REPO / "config" / "spring2d_measured.toml"
    plan = build_plan(load_experiment(config), config.parent)
    assert list(plan) == ["ingest", "split", "train_surrogate", "capture", "search", "compose", "refit",
                          "validate_ood"]
    assert plan["split"].config["ood"] == {"kind": "pair_distance", "variable": "", "low": None, "high": 4.0}
    assert "ood" not in plan["train_surrogate"].config  # training sees the rule only through the split's masks


def test_ood_section_needs_a_bound(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[experiment]\nname = "x"\n[simulate]\nlaw = "spring"\n[split.ood]\nkind = "pair_distance"\n')
    with pytest.raises(ConfigError, match="give low, high or both"):
        load_experiment(path)


def test_defaults_are_filled_in(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[experiment]\nname = "e"\n[simulate]\nlaw = "r1"\n')
    sim = load_experiment(path).simulate
    assert (sim.n_bodies, sim.dim, sim.integrator, sim.units.length) == (4, 2, "auto", "m")
    assert (sim.dt, sim.duration, sim.record_interval, sim.fixed_masses, sim.masses) == ("auto", 10.0, 0.1, False,
                                                                                          None)


def failure(tmp_path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    return str(err.value)


BASE = '[experiment]\nname = "e"\n[simulate]\nlaw = "spring"\n'


def test_unknown_key_names_file_key_value_and_allowed_keys(tmp_path):
    message = failure(tmp_path, BASE + "nbodies = 4\n")
    assert "bad.toml" in message and "simulate.nbodies = 4" in message
    assert "unknown key" in message and "n_bodies" in message


def test_wrong_type_is_not_coerced(tmp_path):
    message = failure(tmp_path, BASE + 'n_bodies = "4"\n')
    assert "simulate.n_bodies = '4'" in message and "integer" in message


@pytest.mark.parametrize("line, expected", [
    ("n_bodies = 65", "less than or equal to 64"),
    ("dim = 4", "2 or 3"),
    ("dt = 0.0", "greater than 0"),
    ('integrator = "euler"', "'leapfrog' or 'rk4'"),
])
def test_bad_values_say_what_is_allowed(tmp_path, line, expected):
    message = failure(tmp_path, BASE + line + "\n")
    assert line.split(" = ")[0] in message and expected in message


def test_unknown_law_lists_the_laws(tmp_path):
    message = failure(tmp_path, '[experiment]\nname = "e"\n[simulate]\nlaw = "hooke"\n')
    assert "simulate.law = 'hooke'" in message
    assert "'r2', 'r1', 'spring', 'damped', 'charge' or 'discontinuous'" in message


def test_damped_law_needs_rk4(tmp_path):
    message = failure(tmp_path, '[experiment]\nname = "e"\n[simulate]\nlaw = "damped"\nintegrator = "leapfrog"\n')
    assert "rk4" in message


def test_steps_of_a_fixed_dt_are_the_record_grid_in_time(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(BASE + "dt = 0.0001\nn_steps = 50000\nrecord_every = 500\n")
    sim = load_experiment(path).simulate
    assert sim.duration == pytest.approx(5.0) and sim.record_interval == pytest.approx(0.05)


@pytest.mark.parametrize("lines, expected", [
    ("n_steps = 1000\nrecord_every = 10\n", "count steps of a fixed dt; with dt = 'auto' give duration"),
    ("dt = 0.03\n", "a fixed dt (0.03) must divide record_interval (0.1)"),
    ("duration = 1.05\n", "duration (1.05) must be a whole number of record intervals"),
    ("dt = 0.01\ntolerance = 1e-4\n", "tolerance applies to dt = 'auto'"),
    ("masses = [1.0, 2.0]\n", "masses lists 2 values but n_bodies is 4"),
    ("masses = [1.0, 2.0, 0.0, 1.0]\n", "masses must all be positive and finite"),
    ("fixed_masses = true\nmasses = [1.0, 1.0, 1.0, 1.0]\n", "give fixed_masses or masses, not both"),
])
def test_inconsistent_time_grids_and_bodies_fail(tmp_path, lines, expected):
    assert expected in failure(tmp_path, BASE + lines)


def test_unknown_unit(tmp_path):
    message = failure(tmp_path, BASE + '[simulate.units]\nlength = "furlongz"\n')
    assert "simulate.units.length = 'furlongz'" in message and "unknown unit" in message


def test_exactly_one_data_stage(tmp_path):
    assert "exactly one data stage" in failure(tmp_path, '[experiment]\nname = "e"\n')
    both = BASE + '[ingest]\npath = "x.csv"\n'
    assert "exactly one data stage" in failure(tmp_path, both)


def test_missing_file_and_broken_toml(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_experiment(tmp_path / "nope.toml")
    assert "not valid TOML" in failure(tmp_path, "[experiment\n")


def test_missing_required_key(tmp_path):
    assert "simulate.law: required key is missing" in failure(tmp_path, '[experiment]\nname = "e"\n[simulate]\n')


def test_the_config_reference_is_generated_from_the_schema_and_current():
    from symdistill.config.reference import config_reference
    reference = config_reference()
    assert (REPO / "docs" / "config.md").read_text() == reference, (
        "docs/config.md is stale: python -m symdistill.config.reference > docs/config.md")
    for section in ("experiment", "simulate", "simulate.units", "ingest", "train_surrogate", "capture", "search",
                    "compose", "refit", "validate_ood"):
        assert f"## `[{section}]`" in reference
    assert "| `max_size` | integer, ≥ 3, ≤ 60 | `20` |" in reference


def test_the_readme_reads_in_ten_minutes():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


def test_the_halo_example_reads_its_shipped_catalog_as_a_node_split_radius_graph():
    from symdistill.components.halo_catalog import halo_catalog
    from symdistill.catalogs.datasets import read_ingest_file
    from symdistill.tasks.plan import build_plan
    config = REPO / "config" / "halos3d.toml"
    experiment = load_experiment(config)
    assert experiment.split.unit == "node" and experiment.split.ood.kind == "target"
    assert list(build_plan(experiment, config.parent)) == ["ingest", "split", "train_surrogate", "capture", "search",
                                                          "compose", "refit", "validate_ood"]
    data = read_ingest_file(config.parent / experiment.ingest.path, target="delta")
    made = halo_catalog(10000, 20, seed=0)  # the shipped file is what its generator makes
    np.testing.assert_array_equal(data["delta"].values, made["delta"].values)
    assert data.attrs["box"] == made.attrs["box"]
    assert experiment.train_surrogate.radius == pytest.approx(made.attrs["radius"], rel=1e-12)
