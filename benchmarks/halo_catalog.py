"""Write a halo catalog with the paper's overdensity law (components/halo_catalog.py) to a file.

    .venv/bin/python benchmarks/halo_catalog.py --halos 20000 --neighbours 20 -o halos.nc [--seed 0]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from symdistill.components.halo_catalog import halo_catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halos", type=int, default=20000)
    parser.add_argument("--neighbours", type=float, default=20.0)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    ds = halo_catalog(args.halos, args.neighbours, args.seed, args.noise)
    ds.to_netcdf(args.output)
    delta = ds["delta"].values.ravel()
    print(f"{args.output}: {args.halos} halos, {ds.attrs['mean_neighbours']:.1f} neighbours each, delta from "
          f"{delta.min():.3f} to {delta.max():.3f} (median {np.median(delta):.3f}, {np.mean(delta > 1):.1%} above 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
