"""Bad configs and bad data: `symdistill run` exits 2 with one line naming the problem and what is allowed,
before any stage runs, and leaves no store behind."""
import pandas as pd
import pytest

from conftest import DATA, TINY_SPRING
from symdistill.flows.cli import main

INGEST = """
[experiment]
name = "measured"

[ingest]
path = "{path}"
target = "{target}"

[ingest.units]
pos = "m"
vel = "m/s"
acc = "m/s**2"
mass = "kg"
time = "s"
{extra_units}
{extra}
"""


def _simulated(extra: str = "", n_sims: int = 6) -> str:
    return TINY_SPRING.format(n_sims=n_sims) + extra


def _ingested(path: str = "data.csv", target: str = "acc", extra: str = "", extra_units: str = "") -> str:
    return INGEST.format(path=path, target=target, extra=extra, extra_units=extra_units)


def _table(n_copies: int = 3) -> pd.DataFrame:
    """The shipped 2-simulation CSV, repeated as 2 * n_copies simulations."""
    base = pd.read_csv(DATA / "spring_long.csv")
    return pd.concat([base.assign(sim=base["sim"] + 2 * k) for k in range(n_copies)], ignore_index=True)


def _with_nan() -> pd.DataFrame:
    table = _table()
    table.loc[7, "vel_x"] = float("nan")
    return table


CASES = {
    "unknown binary operator": (_simulated('binary_operators = ["add", "mull"]\n'), None,
                                "[search] binary_operators: unknown operator 'mull'; allowed: add, sub, mul, div"),
    "unknown unary operator": (_simulated('unary_operators = ["sin", "cosh"]\n'), None,
                               "[search] unary_operators: unknown operator 'cosh'; allowed: neg, inv"),
    "unary operator listed as binary": (_simulated('binary_operators = ["add", "sin"]\n'), None,
                                        "'sin' takes 1 argument(s); list it in unary_operators"),
    "binary operator for the second search listed as unary": (
        _simulated('second_search_unary_operators = ["pow"]\n'), None,
        "[search] second_search_unary_operators: 'pow' takes 2 argument(s); list it in second_search_binary_operators"),
    "operand limits of the wrong arity": (
        _simulated('operand_limits = { pow = [1] }\n'), None,
        "[search] operand_limits: pow = [1]: give 2 limit(s), one per operand, each a largest complexity or -1"),
    "OOD variable the simulation lacks": (
        _simulated('[split.ood]\nkind = "body_property"\nvariable = "radius"\nhigh = 2.0\n'), None,
        "[split.ood] variable = 'radius': not a per-body variable of the simulation; allowed: mass, charge"),
    "too few simulations to split": (_simulated(n_sims=2), None,
                                     "[split] needs at least 3 simulations (train, validation, test); the data has 2"),
    "unknown key": (_simulated("populations = 3\n"), None, "search.populations = 3: unknown key; allowed keys here"),
    "not TOML": ("[experiment\nname = 'x'\n", None, "not valid TOML"),
    "two data stages": (_simulated() + '[ingest]\npath = "data.csv"\n', None, "exactly one data stage section"),
    "OOD bounds reversed": (_simulated('[split.ood]\nkind = "pair_distance"\nlow = 3.0\nhigh = 1.0\n'), None,
                            "low (3.0) must be below high (1.0)"),
    "OOD rule where it was before [split]": (
        _simulated('[validate_ood]\nkind = "pair_distance"\nhigh = 3.0\n'), None,
        "[validate_ood] kind, high: moved to [split.ood] kind, [split.ood] high"),
    "split fraction where it was before [split]": (
        _ingested(extra='[train_surrogate]\ntest_fraction = 0.3\n'), None,
        "[train_surrogate] test_fraction: moved to [split] test_fraction"),
    "unknown unit": (_simulated('[simulate.units]\nlength = "furlong_per_blip"\n'), None,
                     "unknown unit 'furlong_per_blip'"),
    "missing data file": (_ingested(path="nowhere.csv"), None, "[ingest] path 'nowhere.csv': no such file"),
    "unknown file format": (_ingested(path="data.txt"), ("data.txt", _table()), "cannot tell the format"),
    "CSV without the long-table columns": (_ingested(), ("data.csv", "a,b\n1,2\n"), "CSV lacks column(s)"),
    "NaN in the data": (_ingested(), ("data.csv", _with_nan()), "data.csv: 'vel' has 1 NaN/Inf value(s)"),
    "unknown target": (_ingested(target="jerk"), ("data.csv", _table()), "data.csv: missing target variable 'jerk'"),
    "units for a variable the data lacks": (_ingested(extra_units='charge = "C"'), ("data.csv", _table()),
                                            "[ingest.units] names ['charge']"),
    "too few simulations in the file": (_ingested(), ("data.csv", _table(1)),
                                        "[split] needs at least 3 simulations (train, validation, test); "
                                        "the data has 2"),
    "OOD rule that leaves no training frame": (
        _ingested(extra='[split.ood]\nkind = "pair_distance"\nhigh = 0.001\n'), ("data.csv", _table()),
        "[split.ood] the training split has no frame inside [-inf, 0.001] left"),
    "OOD variable the data lacks": (
        _ingested(extra='[split.ood]\nkind = "body_property"\nvariable = "charge"\nhigh = 1.0\n'),
        ("data.csv", _table()), "[split.ood] OOD variable 'charge' is not a per-body property of the data; "
                                "per-body variables: "),
    "node split with a frame rule": (
        _ingested(extra='[split]\nunit = "node"\n[split.ood]\nkind = "pair_distance"\nhigh = 3.0\n'), None,
        "kind = 'pair_distance' withholds whole frames; with unit = 'node' use 'target' or 'body_property'"),
    "node split whose rule leaves no training node": (
        _ingested(extra='[split]\nunit = "node"\n[split.ood]\nkind = "target"\nhigh = 1e-9\n'),
        ("data.csv", _table()), "[split.ood] the training split has no node inside [-inf, 1e-09] left"),
    "OOD rule that withholds nothing": (
        _ingested(extra='[split.ood]\nkind = "pair_distance"\nhigh = 1e9\n'), ("data.csv", _table()),
        "no frame of the data lies outside [-inf, 1e+09]: there is nothing to test out of distribution"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_in_one_line_before_any_work(case, tmp_path, capsys):
    text, data, expected = CASES[case]
    config = tmp_path / "experiment.toml"
    config.write_text(text)
    if data is not None:
        name, content = data
        if isinstance(content, pd.DataFrame):
            content.to_csv(tmp_path / name, index=False)
        else:
            (tmp_path / name).write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["run", str(config), "--store", str(tmp_path / "store.zarr")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("symdistill: error: ") and expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no store, nothing else written


def test_an_unknown_stage_is_named_with_the_allowed_ones(tiny_config, tmp_path, capsys):
    config = tiny_config(6)
    code = main(["run", str(config), "--store", str(tmp_path / "s.zarr"), "--until", "serch"])
    err = capsys.readouterr().err
    assert code == 2 and "stage 'serch' is not in this experiment; its stages are simulate" in err
    assert not (tmp_path / "s.zarr").exists()
