"""N-body simulation of the paper's six pair force laws, as an xarray Dataset.

Output schema (shared with ``symdistill.components.ingest``): dims ``(sim, time, body, dim)``
for ``pos``, ``vel``, ``acc``; ``(sim, body)`` for ``mass`` and ``charge``; units in each
variable's ``units`` attribute; the true pair force law, as data, in ``attrs["force_law"]``; the
integration actually done (integrator, step control, steps) in ``attrs["integrator"]``.
"""
from symdistill.components.simulate.forces import FORCE_LAWS, ForceLaw, pair_force
from symdistill.components.simulate.dataset import simulate, total_energy, total_momentum

__all__ = ["FORCE_LAWS", "ForceLaw", "pair_force", "simulate", "total_energy", "total_momentum"]
