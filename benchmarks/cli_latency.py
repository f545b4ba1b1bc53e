"""Wall time of the command line as a user sees it: a first run, then `status` and a fully cached `run`.

    python benchmarks/cli_latency.py [--config config/spring2d.toml] [--repeats 5]

Each command is a fresh process (`symdistill ...` via the venv's interpreter) in a scratch folder with its own
store and catalog; the first run computes every stage, the later ones find everything cached. Targets
(issue 15): status <= 1 s and a cached run <= 3 s on 2 cores. Prints a table, appends one row per
command to benchmarks/results/cli_latency.jsonl.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cli_latency.jsonl"
TARGETS = {"status": 1.0, "cached run": 3.0}


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    clock = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - clock
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=HERE.parent / "config" / "spring2d.toml")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of status and the cached run")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="symdistill-latency-"))
    config = scratch / args.config.name
    shutil.copy(args.config, config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # as a user runs it
    env["SYMDISTILL_CATALOG"] = str(scratch / "catalog.sqlite")
    cli = [sys.executable, "-m", "symdistill.flows.cli"]
    rows = []
    first, done = timed([*cli, "run", str(config)], scratch, env)
    rows.append(("first run", [first], done.stdout.strip().splitlines()[-2]))
    for name, command in (("status", [*cli, "status", str(config)]), ("cached run", [*cli, "run", str(config)])):
        times = []
        for _ in range(args.repeats):
            elapsed, done = timed(command, scratch, env)
            times.append(elapsed)
        rows.append((name, times, done.stdout.strip().splitlines()[-1]))
    print(f"config {args.config.name}, {args.repeats} repeats; wall time of a fresh process per command\n")
    print(f"| command | median (s) | min (s) | max (s) | target (s) | last line of output |")
    print("|---|---|---|---|---|---|")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as out:
        for name, times, last in rows:
            target = TARGETS.get(name)
            print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | "
                  f"{'-' if target is None else target} | {last[:70]} |")
            out.write(json.dumps({"when": stamp, "config": args.config.name, "command": name,
                                  "seconds": [round(t, 3) for t in times]}) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
