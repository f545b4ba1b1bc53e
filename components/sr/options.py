"""Search options: every knob of the engine, validated once, with PySR's defaults where they apply."""
from dataclasses import dataclass, field

from symdistill.components.sr.operators import CODE_OF, N_CODES, OPERATOR_OF_CODE, arity_of_code, operator_code

MUTATIONS = ("rotate", "insert_node", "delete_node", "change_operator", "nothing", "swap_operands",
             "change_feature", "perturb_constant", "simplify", "randomize")
# Relative weights, after PySR's defaults (its add_node and insert_node are one operator here).
DEFAULT_MUTATION_WEIGHTS = {"rotate": 1.42, "insert_node": 2.52, "delete_node": 0.369, "change_operator": 3.63,
                            "nothing": 0.431, "swap_operands": 0.00608, "change_feature": 0.1,
                            "perturb_constant": 0.0353, "simplify": 0.00148, "randomize": 0.00695}
LOSSES = {"l2": 0, "l1": 1, "huber": 2}
PRECISIONS = ("float64", "float32")


class OptionsError(ValueError):
    pass


@dataclass(frozen=True)
class SearchOptions:
    """Options of one search; see the estimator's docstring for each one's meaning."""

    binary_operators: tuple[str, ...] = ("add", "sub", "mul", "div")
    unary_operators: tuple[str, ...] = ()
    max_size: int = 30
    max_depth: int = 12
    n_islands: int = 8
    population_size: int = 40
    n_iterations: int = 40
    cycles_per_iteration: int = 60
    tournament_size: int = 12
    tournament_p: float = 0.86
    parsimony: float = 0.001
    adaptive_parsimony_scaling: float = 20.0
    crossover_probability: float = 0.066
    annealing: bool = False
    alpha: float = 3.17
    optimize_fraction: float = 0.14
    child_optimizer_iterations: int = 4
    child_optimizer_rows: int = 128
    # of those rows, the share always taken from the targets farthest from their median (the rest: a uniform
    # sample weighted up to stand for every other row): a heavy tail (1/r^2 near an encounter) then cannot
    # make a child's constants a draw of the sample (docs/engine.md, child fits)
    child_optimizer_tail: float = 0.25
    optimizer_rows: int = 4096  # rows used to fit constants of members and of the final front
    optimizer_iterations: int = 20
    migration_fraction_hof: float = 0.0614
    migration_fraction: float = 0.00036
    scale_features: bool = True  # search on features divided by a power of two near their RMS (scaling.py)
    refine_every: int = 10  # rounds between structural local searches around the front (0: never)
    migration_fraction_sibling: float = 0.05  # of a population, taken from sibling searches' fronts
    loss: str = "l2"
    precision: str = "float64"  # of evaluation during the search; constants are always fitted in float64
    huber_delta: float = 1.0
    batch_size: int | None = None
    timeout_seconds: float | None = None
    max_evaluations: int | None = None
    loss_threshold: float | None = None
    units_penalty: float = 1000.0
    units_reject: bool = True
    # with units, this share of the time and evaluation budgets first searches y / M over the dimensionless
    # groups (dimensionless.py), whose front seeds the search over the features; 0: never
    dimensionless_share: float = 0.5
    operator_complexity: dict = field(default_factory=dict)
    constant_complexity: int = 1
    variable_complexity: int = 1
    constraints: dict = field(default_factory=dict)
    nested_constraints: dict = field(default_factory=dict)
    mutation_weights: dict = field(default_factory=lambda: dict(DEFAULT_MUTATION_WEIGHTS))

    def validate(self) -> "SearchOptions":
        for name in (*self.binary_operators, *self.unary_operators):
            operator_code(name)
        for name in self.binary_operators:
            if arity_of_code(CODE_OF[name]) != 2:
                raise OptionsError(f"{name!r} is unary; list it in unary_operators")
        for name in self.unary_operators:
            if arity_of_code(CODE_OF[name]) != 1:
                raise OptionsError(f"{name!r} is binary; list it in binary_operators")
        if not 0 <= self.dimensionless_share < 1:
            raise OptionsError(f"dimensionless_share must be in [0, 1), got {self.dimensionless_share!r}")
        if not self.binary_operators and not self.unary_operators:
            raise OptionsError("at least one operator is needed")
        if not 0 <= self.child_optimizer_tail < 1:
            raise OptionsError(f"child_optimizer_tail must be in [0, 1), got {self.child_optimizer_tail}")
        _positive(self, "max_size", "max_depth", "n_islands", "population_size", "n_iterations",
                  "cycles_per_iteration", "tournament_size")
        if self.tournament_size > self.population_size:
            raise OptionsError(f"tournament_size ({self.tournament_size}) exceeds population_size "
                               f"({self.population_size})")
        for name in ("crossover_probability", "optimize_fraction", "migration_fraction_hof", "migration_fraction",
                     "migration_fraction_sibling"):
            if not 0 <= getattr(self, name) <= 1:
                raise OptionsError(f"{name} must be a fraction in [0, 1], got {getattr(self, name)!r}")
        if not isinstance(self.refine_every, int) or self.refine_every < 0:
            raise OptionsError(f"refine_every must be a non-negative integer, got {self.refine_every!r}")
        if not 0 < self.tournament_p <= 1:
            raise OptionsError(f"tournament_p must be in (0, 1], got {self.tournament_p!r}")
        if self.loss not in LOSSES:
            raise OptionsError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.precision not in PRECISIONS:
            raise OptionsError(f"unknown precision {self.precision!r}; choose float64 or float32")
        if self.batch_size is not None and self.batch_size < 1:
            raise OptionsError("batch_size must be a positive integer or None")
        unknown = set(self.mutation_weights) - set(MUTATIONS)
        if unknown:
            raise OptionsError(f"unknown mutation(s) {sorted(unknown)}; valid: {', '.join(MUTATIONS)}")
        for table in (self.operator_complexity, self.constraints, self.nested_constraints):
            for name in table:
                operator_code(name)
        for outer, inner in self.nested_constraints.items():
            for name in inner:
                operator_code(name)
        return self

    def complexity_table(self):
        """Complexity per code, as a list indexed by code."""
        table = [self.constant_complexity, self.variable_complexity] + [1] * (N_CODES - 2)
        for code, operator in OPERATOR_OF_CODE.items():
            table[code] = operator.complexity
        for name, value in self.operator_complexity.items():
            table[CODE_OF[name]] = int(value)
        return table

    @property
    def loss_kind(self) -> int:
        return LOSSES[self.loss]


def _positive(options, *names):
    for name in names:
        value = getattr(options, name)
        if not isinstance(value, int) or value < 1:
            raise OptionsError(f"{name} must be a positive integer, got {value!r}")


