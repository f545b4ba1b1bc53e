"""The discovery matrix: the whole pipeline on every law, each case from ONE shared default configuration.

Cases (``--list`` prints them):
- every simulator law (r2 at the paper's softening 0.01, r1, spring, damped, charge, discontinuous) in 2D
  and 3D: only the law and the dimension differ;
- two cases with unknown masses (Lemos et al.): the same bodies keep their masses in every simulation, the
  masses are withheld from the network (``latent_per_body = 1``), and the law and each mass (after one
  global scale factor) must come back;
- one case read through ``[ingest]`` from a file;
- laws the simulator does not have (``benchmarks/novel_laws.py`` writes them), read through ``[ingest]``.

Each case runs ``symdistill run`` on a fresh store, then reads the run back: the composed per-pair law,
recovered yes/no (``benchmarks/laws.py``: 3 significant digits, symbolic equivalence, constants within
1%, softening taken to 0 on both sides), the largest constant error, the GNN's and the equation's errors,
the verdict, and the wall time per stage. Results are appended to a JSON-lines file, so the matrix
resumes and runs in parts:
    .venv/bin/python benchmarks/discovery_matrix.py --cases spring-2d,r2-2d      # some cases
    .venv/bin/python benchmarks/discovery_matrix.py                              # every case not yet done
    .venv/bin/python benchmarks/discovery_matrix.py --table                      # print the table
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "discovery_matrix.jsonl"
SIMULATOR_LAWS = ("r2", "r1", "spring", "damped", "charge", "discontinuous")
CHECK_SECONDS = 120

# The one shared default: what a new user would write. Only the data section differs between cases.
SHARED = """
[experiment]
name = "{name}"
description = "discovery matrix case {name}"

{data}

[train_surrogate]
latent_per_body = {latent}

# Frames in which two bodies come closer than 0.1 length units are withheld: close encounters are the OOD
# test. (Withholding far pairs instead, > 3, left 5-20% of the frames of unbound laws, r2 and charge, to train.)
[split.ood]
kind = "pair_distance"
low = 0.1
"""
SIMULATE = """[simulate]
law = "{law}"
dim = {dim}
n_bodies = 4
n_sims = 500
seed = 0
"""
INGEST = """[ingest]
path = "{path}"
target = "acc"
"""


def cases() -> dict[str, dict]:
    out = {f"{law}-{dim}d": {"kind": "simulate", "law": law, "dim": dim} for law in SIMULATOR_LAWS for dim in (2, 3)}
    out |= {f"{law}-unknown-mass-2d": {"kind": "unknown_mass", "law": law, "dim": 2} for law in ("r2", "spring")}
    out["spring-ingest-2d"] = {"kind": "ingest", "law": "spring", "dim": 2}
    from laws import NOVEL_LAWS
    out |= {f"novel-{law}-2d": {"kind": "novel", "law": law, "dim": 2} for law in NOVEL_LAWS}
    return out


def settings_text(settings: list[str]) -> str:
    """``section.key=value`` settings (value a TOML literal) as TOML tables, for an ablation of a default."""
    import tomllib
    tables: dict[str, list[str]] = {}
    for setting in settings:
        name, equals, value = setting.partition("=")
        section, dot, key = name.strip().rpartition(".")
        if not (equals and dot and section and key):
            raise SystemExit(f"--set {setting!r}: write section.key=value, e.g. search.weighting=\"relative\"")
        try:
            tomllib.loads(f"x = {value}")
        except tomllib.TOMLDecodeError as err:
            raise SystemExit(f"--set {setting!r}: the value is not a TOML literal ({err})") from None
        tables.setdefault(section, []).append(f"{key} = {value.strip()}")
    return "".join(f"\n[{section}]\n" + "\n".join(lines) + "\n" for section, lines in tables.items())


def write_case(name: str, case: dict, folder: Path, settings: list[str] = ()) -> tuple[Path, dict]:
    """The case's config (and data file, for ingest cases), with any ablation ``settings`` added; returns the
    config path and the true law."""
    folder.mkdir(parents=True, exist_ok=True)
    latent = 0
    if case["kind"] == "simulate":
        data = SIMULATE.format(law=case["law"], dim=case["dim"])
        law = {"name": case["law"], "parameters": {"softening": 0.01, "damping": 0.5}}
    elif case["kind"] == "novel":
        from laws import NOVEL_LAWS
        from novel_laws import generate
        path = folder / f"{case['law']}{case['dim']}d.nc"
        if not path.exists():  # kept, so a resumed case reads the same file (its hash is in the keys)
            generate(case["law"], folder, dim=case["dim"], n_sims=500, n_bodies=4, n_frames=101, seed=0)
        law = {"name": case["law"], "parameters": NOVEL_LAWS[case["law"]]["parameters"]}
        data = INGEST.format(path=path.name)
    else:
        path, law = simulated_file(case, folder)
        data = INGEST.format(path=path.name)
        latent = 1 if case["kind"] == "unknown_mass" else 0
    config = folder / f"{name}.toml"
    config.write_text(SHARED.format(name=name, data=data, latent=latent) + settings_text(list(settings)))
    return config, law


def simulated_file(case: dict, folder: Path) -> tuple[Path, dict]:
    """A simulator law written to NetCDF, as a lab's file would be; unknown-mass cases keep the same masses
    in every simulation and leave every per-body variable out of the file."""
    from symdistill.components.simulate import ForceLaw, simulate
    law = ForceLaw(case["law"])
    unknown = case["kind"] == "unknown_mass"
    path, truth_file = folder / "data.nc", folder / "truth.json"
    if path.exists() and truth_file.exists():  # kept, so a resumed case reads the same file
        return path, json.loads(truth_file.read_text())
    options = {"fixed_masses": True} if unknown else {}
    ds = simulate(law, n_bodies=4, dim=case["dim"], n_sims=500, duration=10.0, record_interval=0.1, seed=0,
                  **options)
    truth = {"name": case["law"], "parameters": law.as_attrs()["parameters"]}
    if unknown:
        truth["masses"] = ds["mass"].isel(sim=0).values.tolist()
        ds = ds.drop_vars(["mass", "charge"])
    ds.attrs = {}
    ds.to_netcdf(path, engine="h5netcdf")
    truth_file.write_text(json.dumps(truth))
    return path, truth


def run_case(name: str, case: dict, work: Path, settings: list[str] = ()) -> dict:
    folder = work / name
    config, law = write_case(name, case, folder, settings)
    store, catalog = folder / "store.zarr", folder / "catalog.sqlite"
    shutil.rmtree(store, ignore_errors=True)  # each case on a fresh store; the data file is kept
    catalog.unlink(missing_ok=True)
    clock = time.perf_counter()
    log = folder / "run.log"
    # the log is a file, not a pipe, and the run has a session of its own: a run killed mid-way (by the
    # kernel's OOM killer, say) once left Prefect's server holding the pipe, and the matrix waited forever
    with log.open("w") as out:
        run = subprocess.Popen([sys.executable, "-m", "symdistill.flows.cli", "run", str(config), "--store",
                                str(store), "--catalog", str(catalog)], stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
        code = run.wait()
    try:
        os.killpg(run.pid, signal.SIGTERM)  # whatever the run left behind
    except ProcessLookupError:
        pass
    wall = time.perf_counter() - clock
    row = {"case": name, **case, "wall_s": round(wall, 1), "exit": code, "commit": _commit(),
           **({"settings": list(settings)} if settings else {})}
    if code:
        lines = log.read_text().strip().splitlines()
        tail = lines[-1] if lines else "(no output)"
        if code < 0:
            tail = f"killed by signal {-code} (the kernel's OOM killer sends 9) after: {tail}"
        return row | {"recovered": False, "why": f"run failed: {tail}"}
    return row | read_back(config, store, law)


def read_back(config: Path, store: Path, law: dict) -> dict:
    """The finished run read back, bounded in time: SymPy can take unbounded time on a deeply nested
    found expression, and past CHECK_SECONDS the row says undetermined."""
    from read_back import read_run
    signal.signal(signal.SIGALRM, _too_slow)
    signal.alarm(CHECK_SECONDS)
    try:
        return read_run(config, store, law)
    except TimeoutError:
        return {"recovered": False, "why": f"reading the law back took over {CHECK_SECONDS} s (undetermined)"}
    finally:
        signal.alarm(0)


def _too_slow(signum, frame):
    raise TimeoutError


def _commit() -> str:
    """The code the case ran: the checkout's commit, marked when the work tree had changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                            ":(top,exclude)benchmarks/results"],  # the whole checkout, the results file aside
                           capture_output=True, text=True, cwd=HERE).stdout.strip()
    return head.stdout.strip() + ("+changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="comma-separated case names (default: every case not yet in the results)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/symdistill-matrix"), help="stores and data files")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--rerun", action="store_true", help="run the named cases again even if they have results")
    parser.add_argument("--reread", action="store_true",
                        help="read the named cases' finished stores back again (after a change of the checker)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a setting added to every case's config, for an ablation of a default (repeatable; "
                             "use a results file of its own)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--table", action="store_true", help="only print the table of the results file")
    args = parser.parse_args()
    every = cases()
    if args.list:
        print("\n".join(every))
        return
    if not args.table:
        wanted = args.cases.split(",") if args.cases else list(every)
        unknown = [c for c in wanted if c not in every]
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; cases: {', '.join(every)}")
        done = {row["case"]: row for row in load(args.results)}
        if args.reread:
            for name in wanted:
                if name in done:
                    append(args.results, reread(name, every[name], done[name], args.work))
            wanted = []
        for name in wanted:
            if name in done and not args.rerun:
                continue
            print(f"== {name}", flush=True)
            row = run_case(name, every[name], args.work, args.set)
            append(args.results, row)
            print(json.dumps(row, indent=1), flush=True)
    print_table(load(args.results))


def append(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(row) + "\n")


def reread(name: str, case: dict, row: dict, work: Path) -> dict:
    """The case's row with its finished run read back again by the current checker (run, commit kept)."""
    folder = work / name
    config, law = write_case(name, case, folder, row.get("settings", []))
    kept = {k: row[k] for k in ("case", "kind", "law", "dim", "wall_s", "exit", "commit", "settings") if k in row}
    return kept | {"read_back": _commit()} | read_back(config, folder / "store.zarr", law)


def load(path: Path) -> list[dict]:
    """The newest row per case."""
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["case"]] = row
    return list(rows.values())


def print_table(rows: list[dict]) -> None:
    print("| case | law found (one pair, acc_x) | recovered | max const. err | GNN ID / OOD | equation ID / OOD "
          "| verdict | energy drift | stage times (s) | wall (s) | why not |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def pair(model):
            e = r.get("errors", {}).get(model, {})
            return " / ".join(_fmt(e.get(s, {}).get("relative_mae")) for s in ("in_distribution", "out_of_distribution"))
        times = ", ".join(f"{k[:5]} {v:.0f}" for k, v in r.get("stage_seconds", {}).items())
        print(f"| {r['case']} | `{r.get('found', '-')}` | {'yes' if r.get('recovered') else 'no'} "
              f"| {_fmt(r.get('max_constant_error'))} | {pair('gnn')} | {pair('symbolic')} | {r.get('verdict', '-')} "
              f"| {_fmt(r.get('energy_drift'))} | {times} | {r.get('wall_s')} | {r.get('why', '')} |")
    print(f"\nrecovered: {sum(bool(r.get('recovered')) for r in rows)} of {len(rows)}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    main()
