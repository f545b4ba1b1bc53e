"""One island of age-regularized evolution, as a pure function of plain arrays.

``evolve_island(state, migrants, data, options, seed) -> (state, n_evaluations)`` can run in another
process: its inputs and output are numpy arrays and frozen dataclasses.
"""
from bisect import bisect_right
from dataclasses import dataclass, replace

import numpy as np

from symdistill.components.sr import mutate
from symdistill.components.sr.constants import fit_constants, fit_population, fit_population_serial
from symdistill.components.sr.constraints import Constraints
from symdistill.components.sr.evaluate import population_losses, population_losses_serial
from symdistill.components.sr.mutate import Grammar
from symdistill.components.sr.operators import CODE_OF
from symdistill.components.sr.options import SearchOptions
from symdistill.components.sr.program import Program, constant, pack
from symdistill.components.sr.units import UnitSpec, is_consistent

PARALLEL_THRESHOLD = 64  # below this many programs a thread pool costs more than it saves


@dataclass(frozen=True)
class SearchData:
    """XT: [n_features, n_rows]; y, weights: [n_rows]; baseline: loss of the best constant."""

    XT: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    baseline: float
    units: UnitSpec | None = None


@dataclass(frozen=True)
class IslandState:
    codes: np.ndarray
    args: np.ndarray
    values: np.ndarray
    offsets: np.ndarray
    losses: np.ndarray  # full-data loss per member
    births: np.ndarray  # birth order: the oldest member has the smallest


def make_data(XT, y, weights, options: SearchOptions, units: UnitSpec | None = None) -> SearchData:
    dtype = np.dtype(options.precision)
    XT, y = np.ascontiguousarray(XT, dtype=dtype), np.ascontiguousarray(y, dtype=dtype)
    weights = np.ones_like(y) if weights is None else np.ascontiguousarray(weights, dtype=dtype)
    mean = np.sum(weights * y) / np.sum(weights)
    baseline = float(losses_of([constant(mean)], XT, y, weights, options)[0])
    return SearchData(XT, y, weights, max(baseline, 1e-300), units)


def losses_of(programs, XT, y, weights, options: SearchOptions) -> np.ndarray:
    if not programs:
        return np.empty(0)
    kernel = population_losses if len(programs) >= PARALLEL_THRESHOLD else population_losses_serial
    return kernel(*pack(programs), XT, y, weights, options.loss_kind, options.huber_delta)


def unpack(state: IslandState) -> list[Program]:
    o = state.offsets
    return [Program(state.codes[o[i]:o[i + 1]], state.args[o[i]:o[i + 1]], state.values[o[i]:o[i + 1]])
            for i in range(len(o) - 1)]


def grammar_of(options: SearchOptions, n_features: int) -> Grammar:
    return Grammar(tuple(CODE_OF[n] for n in options.binary_operators),
                   tuple(CODE_OF[n] for n in options.unary_operators), n_features)


def init_island(data: SearchData, options: SearchOptions, seed, initial_guesses=()) -> IslandState:
    """A random population of small programs; ``initial_guesses`` take the first places."""
    rng = np.random.default_rng(seed)
    grammar = grammar_of(options, data.XT.shape[0])
    constraints = Constraints(options)
    programs = list(initial_guesses)[:options.population_size]
    while len(programs) < options.population_size:
        candidate = mutate.random_program(grammar, int(rng.integers(1, min(options.max_size, 10) + 1)), rng)
        if constraints.allows(candidate):
            programs.append(candidate)
    losses = losses_of(programs, data.XT, data.y, data.weights, options)
    return _state(programs, losses, np.arange(len(programs)))


def _state(programs, losses, births) -> IslandState:
    codes, args, values, offsets = pack(programs)
    return IslandState(codes, args, values, offsets, np.asarray(losses, float), np.asarray(births, np.int64))


class _Evolution:
    """The mutable working copy of one island during one step."""

    def __init__(self, state, data, options, rng):
        self.programs = unpack(state)
        self.losses = state.losses.copy()
        self.births = state.births.copy()
        self.next_birth = int(self.births.max()) + 1
        self.data, self.options, self.rng = data, options, rng
        self.grammar = grammar_of(options, data.XT.shape[0])
        self.constraints = Constraints(options)
        self.complexities = np.array([self.constraints.complexity(p) for p in self.programs])
        self._consistent = {}
        self.evaluations = 0
        names = list(options.mutation_weights)
        weights = np.array([options.mutation_weights[n] for n in names], float)
        # rng.choice(p=...)'s own draw (one uniform, searched in the normalised cumulative sum) without its
        # per-call checks: the same mutation stream, a tenth of the cost
        cdf = (weights / weights.sum()).cumsum()
        self.mutation_names, self.mutation_cdf = names, (cdf / cdf[-1]).tolist()

    def cost(self, losses, complexities, programs=()):
        with np.errstate(over="ignore"):  # a huge loss is an infinite cost: such members simply lose
            cost = losses / self.data.baseline + self.options.parsimony * complexities
        if self.data.units is not None:
            cost = cost + self.options.units_penalty * np.array([not self.consistent(p) for p in programs])
        return cost

    def consistent(self, program: Program) -> bool:
        key = program.structure_key()
        if key not in self._consistent:
            self._consistent[key] = is_consistent(program, self.data.units)
        return self._consistent[key]

    def frequency(self):
        counts = np.bincount(self.complexities, minlength=self.options.max_size + 2).astype(float)
        return counts / counts.sum()

    def selection_cost(self, frequency) -> np.ndarray:
        """Every member's tournament cost: loss and parsimony, scaled up where its complexity is crowded."""
        cost = self.cost(self.losses, self.complexities, self.programs)
        with np.errstate(over="ignore"):
            return cost * np.exp(self.options.adaptive_parsimony_scaling * frequency[self.complexities])

    def tournament(self, selection_cost: np.ndarray) -> int:
        options, rng = self.options, self.rng
        contestants = rng.choice(len(self.programs), size=options.tournament_size, replace=False)
        order = contestants[np.argsort(selection_cost[contestants], kind="stable")]
        p = options.tournament_p
        rank = min(int(rng.geometric(p)) - 1, len(order) - 1)
        return int(order[rank])

    def mutated(self, parent: Program, temperature: float) -> Program | None:
        for _ in range(10):
            child = self._apply(self.draw_mutation(), parent, temperature)
            if child is not None and self.allows(child):
                return child
        return None

    def draw_mutation(self) -> str:
        return self.mutation_names[bisect_right(self.mutation_cdf, self.rng.random())]

    def allows(self, program: Program) -> bool:
        if not self.constraints.allows(program):
            return False
        return not (self.data.units is not None and self.options.units_reject and not self.consistent(program))

    def _apply(self, name, parent, temperature):
        rng, grammar = self.rng, self.grammar
        if name == "nothing":
            return parent
        if name == "simplify":
            return mutate.fold_constants(parent)
        if name == "randomize":
            return mutate.random_program(grammar, int(rng.integers(1, self.options.max_size + 1)), rng)
        if name == "perturb_constant":
            return mutate.perturb_constant(parent, grammar, rng, temperature)
        return getattr(mutate, name)(parent, grammar, rng)

    def breed(self, temperature):
        cost = self.selection_cost(self.frequency())  # the population does not change while a generation breeds
        children, parents = [], []
        for _ in range(max(1, len(self.programs) // 4)):
            if self.rng.random() < self.options.crossover_probability:
                i, j = self.tournament(cost), self.tournament(cost)
                for child, parent in zip(mutate.crossover(self.programs[i], self.programs[j], self.rng), (i, j)):
                    if self.allows(child):
                        children.append(child), parents.append(parent)
                continue
            i = self.tournament(cost)
            child = self.mutated(self.programs[i], temperature)
            if child is not None:
                children.append(child), parents.append(i)
        return children, parents

    def replace_oldest(self, children, parents, child_losses, temperature):
        frequency = self.frequency()
        for child, parent, loss in zip(children, parents, child_losses):
            complexity = self.constraints.complexity(child)
            if not np.isfinite(loss):
                continue
            if self.options.annealing:
                delta = float(np.ravel(self.cost(loss, complexity, [child]) -
                                       self.cost(self.losses[parent], self.complexities[parent],
                                                 [self.programs[parent]]))[0])
                ratio = (frequency[self.complexities[parent]] + 1e-6) / (frequency[complexity] + 1e-6)
                if self.rng.random() > np.exp(-delta / (self.options.alpha * max(temperature, 1e-3))) * ratio:
                    continue
            oldest = int(np.argmin(self.births))
            self.programs[oldest], self.losses[oldest] = child, loss
            self.complexities[oldest], self.births[oldest] = complexity, self.next_birth
            self.next_birth += 1

    def optimize_constants(self):
        data, rng = self.data, self.rng
        chosen = np.flatnonzero(rng.random(len(self.programs)) < self.options.optimize_fraction)
        rows = subsample(data, self.options.optimizer_rows, rng)
        for i in chosen:
            program = mutate.fold_constants(self.programs[i])
            fitted, _ = fit_constants(program, rows.XT, rows.y, rows.weights, self.options.optimizer_iterations,
                                      self.options.loss_kind, self.options.huber_delta)
            if self.constraints.allows(fitted):
                self.programs[i] = fitted
                self.complexities[i] = self.constraints.complexity(fitted)
        if len(chosen):
            self.losses[chosen] = losses_of([self.programs[i] for i in chosen], data.XT, data.y, data.weights,
                                            self.options)
            self.evaluations += len(chosen)


def evolve_island(state: IslandState, migrants: list[Program], data: SearchData, options: SearchOptions,
                  seed) -> tuple[IslandState, int]:
    """One island iteration: migrants in, ``cycles_per_iteration`` breeding cycles, constants fitted."""
    rng = np.random.default_rng(seed)
    work = _Evolution(state, data, options, rng)
    if migrants:
        slots = rng.choice(len(work.programs), size=min(len(migrants), len(work.programs)), replace=False)
        migrant_losses = losses_of(migrants[:len(slots)], data.XT, data.y, data.weights, options)
        for slot, program, loss in zip(slots, migrants, migrant_losses):
            work.programs[slot], work.losses[slot] = program, loss
            work.complexities[slot] = work.constraints.complexity(program)
    cycles = options.cycles_per_iteration
    tail_orders = {}  # the batch is all rows unless batch_size is set: rank their tail once, not every cycle
    for cycle in range(cycles):
        temperature = 1.0 - cycle / cycles if options.annealing else 1.0
        children, parents = work.breed(temperature)
        batch = _batch(data, options, rng)
        if options.child_optimizer_iterations:  # Operon-style local search: fit each child's constants
            rows = child_rows(batch, options.child_optimizer_rows, options.child_optimizer_tail, rng,
                              tail_orders if batch is data else None)
            children = _fitted(children, rows, options)
        child_losses = losses_of(children, batch.XT, batch.y, batch.weights, options)
        if batch is not data:  # compare parents on the same rows as their children
            parent_losses = losses_of([work.programs[p] for p in parents], batch.XT, batch.y, batch.weights, options)
            child_losses = _full_losses_if_better(children, child_losses, parent_losses, data, options)
        work.evaluations += len(children)
        work.replace_oldest(children, parents, child_losses, temperature)
    work.optimize_constants()
    return _state(work.programs, work.losses, work.births), work.evaluations


def _fitted(programs: list[Program], data: SearchData, options: SearchOptions) -> list[Program]:
    """Programs with constants fitted by a few LM steps, all in one numba call."""
    if not programs:
        return programs
    codes, args, values, offsets = pack(programs)
    kernel = fit_population if len(programs) >= PARALLEL_THRESHOLD else fit_population_serial
    fitted, _ = kernel(codes, args, values, offsets, data.XT, data.y, data.weights, options.child_optimizer_iterations,
                       options.loss_kind, options.huber_delta)
    return [Program(p.codes, p.args, fitted[offsets[i]:offsets[i + 1]]) for i, p in enumerate(programs)]


def _batch(data: SearchData, options: SearchOptions, rng) -> SearchData:
    return data if options.batch_size is None else subsample(data, options.batch_size, rng)


def subsample(data: SearchData, n: int, rng) -> SearchData:
    if data.y.size <= n:
        return data
    return _rows(data, rng.choice(data.y.size, size=n, replace=False))


def child_rows(data: SearchData, n: int, tail_fraction: float, rng, tail_orders: dict | None = None) -> SearchData:
    """``n`` rows to fit children's constants on, by stratified sampling: the ``tail_fraction * n`` rows whose
    targets lie farthest from the median are always in, the rest is a uniform sample of the other rows, each
    weighted to stand for (other rows) / (sampled rows) of them, so the weighted loss estimates the loss on
    all rows. With a heavy tail, a uniform sample holds few or none of the rows that decide the constants.
    ``tail_orders``: a cache of the tail ranking for repeated calls on the same ``data``."""
    size = data.y.size
    n_tail = min(int(round(tail_fraction * n)), n - 1)  # at least one uniform row stands for the rest
    if size <= n or n_tail == 0:
        return subsample(data, n, rng)
    order = None if tail_orders is None else tail_orders.get(n_tail)
    if order is None:
        order = np.argpartition(-np.abs(data.y - np.median(data.y)), n_tail - 1)
        if tail_orders is not None:
            tail_orders[n_tail] = order
    rest = order[n_tail:]
    rows = np.concatenate([order[:n_tail], rng.choice(rest, size=n - n_tail, replace=False)])
    picked = _rows(data, rows)
    weights = picked.weights.copy()
    weights[n_tail:] *= rest.size / (n - n_tail)
    return replace(picked, weights=weights)


def _rows(data: SearchData, rows: np.ndarray) -> SearchData:
    return replace(data, XT=np.ascontiguousarray(data.XT[:, rows]), y=data.y[rows], weights=data.weights[rows])


def _full_losses_if_better(children, child_losses, parent_losses, data, options):
    """Children that beat their parent on the batch are scored on all rows; the rest are dropped."""
    promising = [i for i, (c, p) in enumerate(zip(child_losses, parent_losses)) if c <= p]
    out = np.full(len(children), np.inf)
    out[promising] = losses_of([children[i] for i in promising], data.XT, data.y, data.weights, options)
    return out
