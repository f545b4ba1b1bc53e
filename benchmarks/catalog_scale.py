"""What a point catalog costs: one periodic box of 10^3 to 10^5 halos as a sparse radius graph.

    .venv/bin/python benchmarks/catalog_scale.py [--sizes 1000 10000 100000] [--neighbours 20 70] [--epochs 20]

Per case (halos, mean neighbours), as a run with the paper's split makes it (the densest third of the
halos withheld, as delta > 1 does with 20 neighbours; the others 70/10/20 to train, validation and test by
node): the graph build time (KD-tree, edge
features, the three role graphs with only the edges into their counted halos), the training time per
epoch (the default surrogate: mini-batches of 128 training halos, each with its incoming edges, then one
evaluation of the validation halos), the capture time (test halos), and the peak resident memory of the
process. Each case runs in its own process, so its peak is its own. Rows are appended to
benchmarks/results/catalog_scale.jsonl; a case already there is not rerun (delete its row to redo it), so
the table can be filled in parts.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "catalog_scale.jsonl"


def one_case(n_halos: int, neighbours: float, epochs: int) -> dict:
    import numpy as np
    import torch

    from symdistill.components.capture import capture
    from symdistill.components.halo_catalog import halo_catalog
    from symdistill.components.ood import OODRule
    from symdistill.components.split import SplitSettings, make_split
    from symdistill.components.train_surrogate import from_arrays, train
    from symdistill.config import Experiment
    from symdistill.tasks.surrogate_io import role_graphs
    from symdistill.tasks.train_surrogate import surrogate_spec, training_settings

    torch.set_num_threads(2)
    data = halo_catalog(n_halos, neighbours, seed=0)
    data.attrs["target"] = "delta"
    # the paper's split: the densest halos withheld (delta > 1 there, a third of them; delta grows with the
    # number of neighbours, so here the top third whatever that number), the rest 70 / 10 / 20 at random
    high = float(np.quantile(data["delta"].values, 2 / 3))
    masks = {"masks": make_split(data, SplitSettings(ood=OODRule("target", high=high), unit="node"))}
    # every epoch runs: the cost of `epochs` epochs is what is measured, not when early stopping would end them
    experiment = Experiment.model_validate({
        "experiment": {"name": "catalog-scale"}, "simulate": {"law": "r2"},
        "train_surrogate": {"edge_features": ["dx", "r", "sender_properties"], "node_features": ["properties"],
                            "epochs": epochs, "patience": epochs,
                            "radius": float(data.attrs["radius"])}})
    cfg = experiment.train_surrogate
    clock = time.perf_counter()
    train_set, validation_set, test_set = role_graphs(experiment, data, masks, "train", "validation", "test")
    build = time.perf_counter() - clock
    spec = surrogate_spec(cfg, train_set)
    clock = time.perf_counter()
    result = train(spec, training_settings(cfg), train_set, validation_set)
    training = time.perf_counter() - clock
    model = from_arrays(spec, result.weights).eval()
    clock = time.perf_counter()
    recorded = capture(model, test_set)
    capturing = time.perf_counter() - clock
    return {"halos": n_halos, "neighbours_asked": neighbours, "edges": int(n_halos * data.attrs["mean_neighbours"]),
            "neighbours": round(float(data.attrs["mean_neighbours"]), 1), "train_edges": train_set.n_edges,
            "epochs": len(result.curves["epoch"]), "build_s": round(build, 2),
            "epoch_s": round(training / len(result.curves["epoch"]), 2), "train_s": round(training, 1),
            "capture_s": round(capturing, 2), "train_and_capture_s": round(training + capturing, 1),
            "captured_edges": int(recorded["edge"].sizes["edge"]),
            "final_validation_loss": float(np.asarray(result.curves["validation_loss"])[-1]),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--neighbours", type=float, nargs="+", default=[20.0, 70.0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--one", nargs=3, metavar=("HALOS", "NEIGHBOURS", "EPOCHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_case(int(args.one[0]), float(args.one[1]), int(args.one[2]))))
        return 0
    done = {}
    if RESULTS.exists():
        for line in RESULTS.read_text().splitlines():
            row = json.loads(line)
            done[(row["halos"], row["neighbours_asked"], row["epochs_asked"])] = row
    RESULTS.parent.mkdir(exist_ok=True)
    rows = []
    for neighbours in args.neighbours:
        for n_halos in args.sizes:
            key = (n_halos, neighbours, args.epochs)
            if key not in done:
                run = subprocess.run([sys.executable, __file__, "--one", str(n_halos), str(neighbours),
                                      str(args.epochs)], capture_output=True, text=True)
                if run.returncode != 0:
                    print(f"{n_halos} halos, {neighbours} neighbours: failed\n{run.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(run.stdout.strip().splitlines()[-1]) | {"epochs_asked": args.epochs}
                with RESULTS.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done[key] = row
            rows.append(done[key])
            print(f"{n_halos} halos, {neighbours:g} neighbours: done", file=sys.stderr, flush=True)
    columns = ("halos", "neighbours", "edges", "train_edges", "build_s", "epoch_s", "epochs", "capture_s",
               "train_and_capture_s", "peak_rss_gb")
    print(" ".join(f"{c:>19}" for c in columns))
    for row in rows:
        print(" ".join(f"{row[c]:>19}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
