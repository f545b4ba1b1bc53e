"""Radius graphs as edge lists: every ordered pair of points closer than a radius, found by a KD-tree.

Memory and time grow with the number of edges, not with the square of the number of points, so a catalog of
10^5 halos with tens of neighbours each is a few million edges. Periodic boxes use the minimum image: the
displacement to the nearest copy of the other point. ``build_graphs`` uses it for radius graphs.
"""
import numpy as np
from scipy.spatial import cKDTree


class NeighbourError(ValueError):
    """Points, radius or box that a radius graph cannot be built from."""


def radius_edges(positions: np.ndarray, radius: float, box: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(receiver, sender, displacement receiver - sender) of every ordered pair with |x_i - x_j| < radius.

    ``positions``: [n, dim]; ``box``: side of a periodic cube [0, box)^dim (None: no periodicity). Edges are
    sorted by receiver, then sender; a point is never its own neighbour.
    """
    positions = _checked(positions, radius, box)
    tree = cKDTree(positions, boxsize=box)
    pairs = tree.query_pairs(radius, output_type="ndarray", eps=0.0)
    receiver = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64)
    sender = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64)
    order = np.lexsort((sender, receiver))
    receiver, sender = receiver[order], sender[order]
    displacement = positions[receiver] - positions[sender]
    if box is not None:
        displacement -= box * np.round(displacement / box)
    # query_pairs uses <= radius; a pair exactly at the radius is not "closer than" it
    inside = np.einsum("ij,ij->i", displacement, displacement) < radius * radius
    return receiver[inside], sender[inside], displacement[inside]


def _checked(positions, radius: float, box: float | None) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] not in (1, 2, 3):
        raise NeighbourError(f"positions must be [n, dim] with dim 1, 2 or 3; got shape {positions.shape}")
    if not np.isfinite(positions).all():
        raise NeighbourError("positions contain NaN or Inf")
    if not (np.isfinite(radius) and radius > 0):
        raise NeighbourError(f"radius must be a positive number, got {radius!r}")
    if box is not None:
        if not (np.isfinite(box) and box > 0):
            raise NeighbourError(f"box must be a positive side length, got {box!r}")
        if positions.size and (positions.min() < 0 or positions.max() >= box):
            raise NeighbourError(f"with a periodic box every coordinate must lie in [0, {box}); got "
                                 f"[{positions.min():g}, {positions.max():g}]")
        if radius >= box / 2:
            raise NeighbourError(f"radius {radius} must be below half the box ({box / 2}) for one image per pair")
    return positions
