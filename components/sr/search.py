"""The search driver: islands in synchronous rounds, a hall of fame per complexity, and migration.

Each round every island runs one ``evolve_island`` step with a seed fixed by (seed, island, round)
and migrants chosen from the previous round's state, so the result does not depend on how many
processes ran the islands. An executor (``concurrent.futures``-like: ``submit`` and ``result``) runs the
islands of a round in parallel; without one they run in this process.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.constraints import Constraints
from symdistill.components.sr.island import (
    IslandState, SearchData, evolve_island, grammar_of, init_island, losses_of, subsample, unpack)
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.program import Program
from symdistill.components.sr.refine import Refiner
from symdistill.components.sr.scaling import rescale_variables
from symdistill.components.sr.selection import pareto_front
from symdistill.components.sr.siblings import SiblingExchange, finishing
from symdistill.components.sr.units import is_consistent


@dataclass
class HallOfFame:
    """The best program seen at each complexity."""

    entries: dict[int, tuple[Program, float]] = field(default_factory=dict)

    def update(self, programs, complexities, losses) -> None:
        for program, complexity, loss in zip(programs, complexities, losses):
            complexity = int(complexity)
            if np.isfinite(loss) and (complexity not in self.entries or loss < self.entries[complexity][1]):
                self.entries[complexity] = (program, float(loss))

    def front(self) -> list[tuple[int, float, Program]]:
        """Pareto-optimal (complexity, loss, program), simplest first."""
        if not self.entries:
            return []
        sizes = np.array(sorted(self.entries))
        losses = np.array([self.entries[c][1] for c in sizes])
        return [(int(sizes[i]), float(losses[i]), self.entries[int(sizes[i])][0]) for i in pareto_front(sizes, losses)]


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to continue a search exactly where it stopped."""

    states: list[IslandState]
    hall: dict[int, tuple[Program, float]]
    rounds: int
    evaluations: int


@dataclass(frozen=True)
class SearchResult:
    front: list[tuple[int, float, Program]]
    n_evaluations: int
    n_rounds: int
    seconds: float
    stopped_by: str
    checkpoint: Checkpoint


def run_search(data: SearchData, options: SearchOptions, seed: int, executor=None,
               progress: Callable[[int, int, float], None] | None = None, checkpoint: Checkpoint | None = None,
               initial_guesses: list[Program] = (), siblings: SiblingExchange | None = None,
               name: str = "", scales: np.ndarray | None = None) -> SearchResult:
    """Evolve ``options.n_islands`` islands up to round ``options.n_iterations``.

    With a ``checkpoint`` (same data, options and seed) the search continues after its last round and
    ends as an uninterrupted search would. ``initial_guesses`` join every island's first population.
    With ``siblings``, this search (called ``name`` there) trades fronts with the other searches in it;
    ``scales``: the search's features are the given ones divided by these (siblings trade in the given ones).
    """
    with finishing(siblings, name):
        return _run_search(data, options, seed, executor, progress, checkpoint, initial_guesses, siblings, name,
                           np.ones(data.XT.shape[0]) if scales is None else np.asarray(scales, dtype=np.float64))


def _run_search(data, options, seed, executor, progress, checkpoint, initial_guesses, siblings, name, scales):
    clock = time.perf_counter()
    constraints = Constraints(options)
    if checkpoint is None:
        island_seeds = np.random.SeedSequence(seed).spawn(options.n_islands)
        states = [init_island(data, options, s.spawn(1)[0], initial_guesses) for s in island_seeds]
        hall = HallOfFame()
        evaluations, first_round = options.population_size * options.n_islands, 1
        for state in states:
            _remember(hall, state, constraints, data)
    else:
        if len(checkpoint.states) != options.n_islands:
            raise ValueError(f"the checkpoint has {len(checkpoint.states)} islands, the options {options.n_islands}")
        states, hall = list(checkpoint.states), HallOfFame(dict(checkpoint.hall))
        evaluations, first_round = checkpoint.evaluations, checkpoint.rounds + 1
    rows = subsample(data, options.optimizer_rows, np.random.default_rng([seed, 13]))
    refiner = Refiner(grammar_of(options, data.XT.shape[0]), constraints, rows.XT, rows.y, rows.weights,
                      options.optimizer_iterations, options.loss_kind, options.huber_delta)
    sibling_migrants = None if siblings is None else _SiblingMigrants(siblings, name, refiner, scales)
    stopped_by, rounds = "", first_round - 1
    for rounds in range(first_round, options.n_iterations + 1):
        from_siblings = [] if sibling_migrants is None else sibling_migrants.exchange(hall, rounds - 1)
        if from_siblings:  # the hall remembers them even if no island keeps them
            _offer(hall, from_siblings, constraints, data, options)
        migrants = _migrants(states, hall, options, np.random.default_rng([seed, rounds, 7]), from_siblings)
        seeds = [np.random.SeedSequence([seed, island, rounds]) for island in range(options.n_islands)]
        steps = [(states[i], migrants[i], data, options, seeds[i]) for i in range(options.n_islands)]
        if executor is None:
            outcomes = [evolve_island(*step) for step in steps]
        else:
            outcomes = [future.result() for future in [executor.submit(evolve_island, *step) for step in steps]]
        states = [state for state, _ in outcomes]
        evaluations += sum(n for _, n in outcomes)
        for state in states:
            _remember(hall, state, constraints, data)
        if options.refine_every and rounds % options.refine_every == 0:
            _refine(hall, refiner, constraints, data, options)
        best = min((loss for _, loss, _ in hall.front()), default=np.inf)
        if progress is not None:
            progress(rounds, evaluations, best)
        stopped_by = _stop_reason(options, clock, evaluations, best)
        if stopped_by:
            break
    checkpoint = Checkpoint(states, dict(hall.entries), rounds, evaluations)
    final = HallOfFame(dict(hall.entries))  # refined once more if the last round was not; not in the checkpoint
    if options.refine_every and rounds % options.refine_every:
        _refine(final, refiner, constraints, data, options)
    front = _polish(final, data, options, constraints, np.random.default_rng([seed, 11]))
    return SearchResult(front, evaluations, rounds, time.perf_counter() - clock, stopped_by or "iterations",
                        checkpoint)


def _remember(hall: HallOfFame, state: IslandState, constraints: Constraints, data: SearchData) -> None:
    """Add an island's members to the hall; with units, only dimensionally consistent ones."""
    _update_consistent(hall, unpack(state), state.losses, constraints, data)


def _refine(hall: HallOfFame, refiner: Refiner, constraints, data: SearchData, options: SearchOptions) -> None:
    _offer(hall, refiner.neighbours([program for _, _, program in hall.front()]), constraints, data, options)


def _offer(hall: HallOfFame, programs: list[Program], constraints, data: SearchData, options: SearchOptions) -> None:
    if not programs:
        return
    _update_consistent(hall, programs, losses_of(programs, data.XT, data.y, data.weights, options), constraints, data)


def _update_consistent(hall, programs, losses, constraints, data) -> None:
    keep = [data.units is None or is_consistent(p, data.units) for p in programs]
    hall.update([p for p, k in zip(programs, keep) if k],
                [constraints.complexity(p) for p, k in zip(programs, keep) if k], np.asarray(losses)[np.array(keep)])


def _migrants(states, hall, options, rng, from_siblings=()) -> list[list[Program]]:
    """Per island: copies of hall-of-fame front members, of other islands' best members and of siblings'."""
    front = [program for _, _, program in hall.front()]
    bests = [unpack(s)[int(np.argmin(s.losses))] for s in states]
    out = []
    for island in range(len(states)):
        chosen = []
        n_hof = rng.binomial(options.population_size, options.migration_fraction_hof)
        if front and n_hof:
            chosen += [front[k] for k in rng.integers(len(front), size=n_hof)]
        others = [b for k, b in enumerate(bests) if k != island]
        n_other = rng.binomial(options.population_size, options.migration_fraction)
        if others and n_other:
            chosen += [others[k] for k in rng.integers(len(others), size=n_other)]
        n_sibling = rng.binomial(options.population_size, options.migration_fraction_sibling) if from_siblings else 0
        if n_sibling:
            chosen += [from_siblings[k] for k in rng.integers(len(from_siblings), size=n_sibling)]
        out.append(chosen)
    return out


class _SiblingMigrants:
    """Publishes this search's front each round; the siblings' fronts come back fitted to this search's data."""

    def __init__(self, siblings: SiblingExchange, name: str, refiner: Refiner, scales: np.ndarray):
        self.siblings, self.name, self.refiner = siblings, name, refiner  # the refiner's memoised fit
        self.scales = scales  # each sibling may scale its features differently: fronts travel unscaled

    def exchange(self, hall: HallOfFame, round_: int) -> list[Program]:
        self.siblings.publish(self.name, round_,
                              [rescale_variables(program, 1.0 / self.scales) for _, _, program in hall.front()])
        received = [rescale_variables(p, self.scales) for p in self.siblings.siblings_front(self.name, round_)]
        return [p for p in map(self.refiner.fit, received) if p is not None]


def _stop_reason(options: SearchOptions, clock: float, evaluations: int, best: float) -> str:
    if options.loss_threshold is not None and best <= options.loss_threshold:
        return "loss_threshold"
    if options.max_evaluations is not None and evaluations >= options.max_evaluations:
        return "max_evaluations"
    if options.timeout_seconds is not None and time.perf_counter() - clock >= options.timeout_seconds:
        return "timeout"
    return ""


def _polish(hall: HallOfFame, data: SearchData, options: SearchOptions, constraints, rng) -> list:
    """Fit the hall's constants once more (on up to ``optimizer_rows`` rows) and rebuild the front."""
    polished = HallOfFame()
    programs = []
    rows = subsample(data, options.optimizer_rows, rng)
    for complexity, (program, _) in sorted(hall.entries.items()):
        fitted, _ = fit_constants(program, rows.XT, rows.y, rows.weights, 100, options.loss_kind, options.huber_delta)
        programs.append(fitted)
    losses = losses_of(programs, data.XT, data.y, data.weights, options)
    polished.update(programs, [constraints.complexity(p) for p in programs], losses)
    polished.update([p for p, _ in hall.entries.values()], list(hall.entries), [l for _, l in hall.entries.values()])
    return polished.front()
