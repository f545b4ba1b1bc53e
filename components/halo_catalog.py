"""Halo-like point catalogs with the paper's overdensity law: the dark-matter case (METHOD.md; Cranmer et al.
2020, section 4.3) as data a run can read.

One periodic box: positions uniform, masses log-normal, and each halo's target

    delta_i = C1 + (sum over j with r_ij < R of (C4 + M_j) / (C5 + (C6 r_ij)^C7)) / (C2 + C3 M_i)

with the constants the paper found (C1 -0.156, C2 3.80, C3 0.0809, C4 0.438, C5 7.06, C6 15.5, C7 20.3), plus
Gaussian noise. C7 = 20.3 makes a steep cut-off near r = 1/C6; the radius R is chosen for the requested mean
number of neighbours, and lengths are rescaled so that the cut-off falls inside R. The dataset holds pos
[sim=1, time=1, body, dim], mass [sim, body], delta [sim, time, body], the box side (attribute ``box``, so
radius graphs are periodic) and the constants.
"""
import numpy as np
import xarray as xr

from symdistill.components.neighbours import radius_edges

PAPER_CONSTANTS = {"C1": -0.156, "C2": 3.80, "C3": 0.0809, "C4": 0.438, "C5": 7.06, "C6": 15.5, "C7": 20.3}


def overdensity(mass: np.ndarray, receiver: np.ndarray, sender: np.ndarray, distance: np.ndarray,
                constants: dict = PAPER_CONSTANTS) -> np.ndarray:
    """The paper's law on an edge list (edges with r_ij < R only)."""
    c = constants
    pair = (c["C4"] + mass[sender]) / (c["C5"] + (c["C6"] * distance) ** c["C7"])
    summed = np.bincount(receiver, weights=pair, minlength=mass.size)
    return c["C1"] + summed / (c["C2"] + c["C3"] * mass)


def halo_catalog(n_halos: int, neighbours: float, seed: int = 0, noise: float = 0.01, dim: int = 3) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    # radius for the requested mean number of neighbours in a unit box, and a length unit that puts the law's
    # cut-off (C6 r = 1) at 80% of it, so the sum sees both the plateau and the fall
    ball = {2: np.pi, 3: 4 * np.pi / 3}[dim]
    radius = (neighbours / (ball * n_halos)) ** (1 / dim)
    length_unit = 0.8 * radius * PAPER_CONSTANTS["C6"]
    positions = rng.uniform(0, 1, size=(n_halos, dim))
    mass = rng.lognormal(mean=0.0, sigma=1.0, size=n_halos)
    receiver, sender, displacement = radius_edges(positions, radius, box=1.0)
    distance = np.sqrt((displacement ** 2).sum(axis=1)) / length_unit
    clean = overdensity(mass, receiver, sender, distance)
    delta = clean + noise * rng.standard_normal(n_halos)
    return xr.Dataset(
        {"pos": (("sim", "time", "body", "dim"), (positions / length_unit)[None, None], {"units": "Mpc"}),
         "mass": (("sim", "body"), mass[None], {"units": "dimensionless",
                                                "description": "halo mass in units of 1e12 solar masses"}),
         "delta": (("sim", "time", "body"), delta[None, None], {"units": "dimensionless"})},
        coords={"sim": [0], "time": ("time", [0.0], {"units": "s"}), "dim": ["x", "y", "z"][:dim]},
        attrs={"law": "delta_i = C1 + sum_j (C4 + M_j)/(C5 + (C6 r_ij)^C7) / (C2 + C3 M_i), r_ij < R",
               **PAPER_CONSTANTS, "radius": radius / length_unit, "box": 1 / length_unit, "noise": noise,
               "mean_neighbours": len(receiver) / n_halos, "seed": seed})
