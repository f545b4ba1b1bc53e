"""``SymbolicRegressor``: the SR engine behind scikit-learn's estimator conventions.

Constructor arguments are keyword-only and stored verbatim; ``fit`` validates and resolves them.
Fitted attributes end in ``_``.
"""
import dataclasses
import inspect
import time

import numpy as np
import pandas as pd

from symdistill.components.sr.checkpoint import checkpoint_from_dict, checkpoint_to_dict
from symdistill.components.sr.constants import fit_constants
from symdistill.components.sr.constraints import Constraints
from symdistill.components.sr.crossval import (out_of_fold_errors, prune_by_cross_validation,
                                               simplest_within_one_standard_error)
from symdistill.components.sr.description import select_by_description_length
from symdistill.components.sr.dimensionless import find_reduction, lift
from symdistill.components.sr.export import default_names, from_sympy, to_latex, to_numpy, to_sympy
from symdistill.components.sr.island import make_data, losses_of
from symdistill.components.sr.options import OptionsError, SearchOptions
from symdistill.components.sr.program import Program, constant
from symdistill.components.sr.scaling import feature_scales, rescale_variables
from symdistill.components.sr.search import HallOfFame, run_search
from symdistill.components.sr.siblings import finishing
from symdistill.components.sr.selection import scores, select
from symdistill.components.sr.snap import snap_program
from symdistill.components.sr.units import UnitSpec, describe, dimension_of, is_consistent


SELECTION_RULES = ("best", "accuracy", "validation", "cross_validation", "description_length")


class SymbolicRegressor:
    """Find analytic expressions y = f(X) by island-model genetic programming.

    Parameters
    ----------
    binary_operators, unary_operators : operator names (``operators.BUILTINS``, or registered with
        ``register_operator``).
    max_size : largest complexity (node count, or weighted by ``options['operator_complexity']``).
    n_islands, population_size, n_iterations : islands, members per island, rounds of evolution.
    parsimony : cost per unit of complexity, added to the normalized loss.
    loss : "l2", "l1" or "huber".
    batch_size : rows per mini-batch for large data (None: all rows).
    model_selection : "description_length" (the default: the shortest two-part code of the data,
        ``description.py``; ``pareto_front_`` gains the columns "description_length" in nats and
        "noise_model", "relative" where errors proportional to y code the data shorter, in which case the
        returned law's constants are fitted for relative errors), "best" (PySR's score rule), "accuracy",
        "validation" (needs X_val, y_val in fit), or "cross_validation" (k-fold out-of-fold errors and the
        one-standard-error rule, ``crossval.py``; the chosen law is then pruned by the same evidence and, if
        that changed it, appended to ``pareto_front_`` with ``origin`` "pruned from complexity N").
    timeout_seconds, max_evaluations, loss_threshold : early stops (a timeout makes runs timing-dependent).
    units_reject : with units, drop dimensionally inconsistent candidates (default; False penalizes them:
        on the Feynman dev list rejecting recovered 53% and penalizing 43%, docs/engine.md "Units").
    free_constants : with units, constants may carry any dimension (else they are dimensionless).
        With units, ``options['dimensionless_share']`` (default 0.5) of the time and evaluation budgets first
        searches y / M over the dimensionless groups π (``dimensionless.py``; ``dimensionless_`` records M, the
        groups and that search's front, lifted); its front seeds the search over the features, which gets
        what is left, and members it contributed show ``origin`` "dimensionless search" in ``pareto_front_``.
    options : further ``SearchOptions`` fields by name (constraints, nested_constraints, precision, ...).
    random_state : seed; the same seed gives the same result whatever the executor.
    """

    def __init__(self, *, binary_operators=("add", "sub", "mul", "div"), unary_operators=(), max_size=30,
                 n_islands=8, population_size=40, n_iterations=40, parsimony=0.001, loss="l2", batch_size=None,
                 model_selection="description_length", timeout_seconds=None, max_evaluations=None,
                 loss_threshold=None, units_reject=True, free_constants=True, options=None, random_state=0):
        self.binary_operators = binary_operators
        self.unary_operators = unary_operators
        self.max_size = max_size
        self.n_islands = n_islands
        self.population_size = population_size
        self.n_iterations = n_iterations
        self.parsimony = parsimony
        self.loss = loss
        self.batch_size = batch_size
        self.model_selection = model_selection
        self.timeout_seconds = timeout_seconds
        self.max_evaluations = max_evaluations
        self.loss_threshold = loss_threshold
        self.units_reject = units_reject
        self.free_constants = free_constants
        self.options = options
        self.random_state = random_state

    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(f"invalid parameter {name!r}; valid: {', '.join(self._param_names())}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items() if v != _DEFAULTS[k]}
        return f"SymbolicRegressor({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _resolve_options(self) -> SearchOptions:
        extra = dict(self.options or {})
        fields = {"binary_operators": tuple(self.binary_operators), "unary_operators": tuple(self.unary_operators),
                  "max_size": self.max_size, "n_islands": self.n_islands, "population_size": self.population_size,
                  "n_iterations": self.n_iterations, "parsimony": self.parsimony, "loss": self.loss,
                  "batch_size": self.batch_size, "timeout_seconds": self.timeout_seconds,
                  "max_evaluations": self.max_evaluations, "loss_threshold": self.loss_threshold,
                  "units_reject": self.units_reject}
        clash = set(extra) & set(fields)
        if clash:
            raise OptionsError(f"options repeats constructor parameter(s) {sorted(clash)}; set them directly")
        valid = set(SearchOptions.__dataclass_fields__)
        unknown = set(extra) - valid
        if unknown:
            raise OptionsError(f"unknown option(s) {sorted(unknown)}; valid: {', '.join(sorted(valid - set(fields)))}")
        if self.model_selection not in SELECTION_RULES:
            raise OptionsError(f"unknown model_selection {self.model_selection!r}; choose {', '.join(SELECTION_RULES)}")
        return SearchOptions(**fields, **extra).validate()

    def fit(self, X, y, *, sample_weight=None, feature_names=None, units=None, y_units=None,
            X_val=None, y_val=None, initial_guesses=None, resume_from=None, executor=None, progress=None,
            siblings=None, sibling_name=""):
        """Search for expressions of y in X; returns self.

        units : one pint unit string per feature; y_units : the target's. Both or neither.
        initial_guesses : SymPy expressions in the feature names, seeded into every island.
        resume_from : ``checkpoint_`` of an earlier fit on the same data and parameters; the search
            continues to ``n_iterations`` rounds as if it had never stopped.
        executor : runs island steps in parallel (``submit``/``result``); results do not depend on it.
        siblings : a ``SiblingExchange`` shared with concurrent fits on the same features, which this fit
            (called ``sibling_name`` there) trades fronts with each round.
        """
        with finishing(siblings, sibling_name):  # also when the fit fails early, so no sibling waits for it
            options = self._resolve_options()
            X, y = _check_data(X, y)
            weights = None if sample_weight is None else _check_weights(sample_weight, len(y))
            names = _feature_names(feature_names, X.shape[1])
            spec = _unit_spec(units, y_units, X.shape[1], self.free_constants)
            # dimensionless constants could not take a feature's scale, so their features stay as given
            scaled = options.scale_features and (spec is None or self.free_constants)
            scales = feature_scales(X) if scaled else np.ones(X.shape[1])
            data = make_data(np.ascontiguousarray((X / scales).T), y, weights, options, spec)
            guesses = [rescale_variables(from_sympy(expr, names), scales) for expr in (initial_guesses or [])]
            checkpoint = None if resume_from is None else checkpoint_from_dict(resume_from, X.shape[1])
            lifted, reduced = [], None
            if spec is not None and options.dimensionless_share > 0 and checkpoint is None:
                lifted, options, reduced = self._dimensionless_search(X, y, weights, names, spec, options, executor)
                guesses = [rescale_variables(p, scales) for p in lifted] + guesses
            result = run_search(data, options, int(self.random_state), executor=executor, progress=progress,
                                checkpoint=checkpoint, initial_guesses=guesses, siblings=siblings, name=sibling_name,
                                scales=scales)
        front = _in_given_features(result.front, scales, X, y, weights, options)
        if not front:
            raise RuntimeError("the search found no valid expression; widen the operators or check the data")
        self.n_features_in_, self.feature_names_in_ = X.shape[1], np.array(names, dtype=object)
        self.feature_scales_ = scales
        self.programs_ = [program for _, _, program in front]
        complexities = np.array([c for c, _, _ in front])
        losses = np.array([l for _, l, _ in front])
        validation = None
        if self.model_selection == "validation":
            Xv, yv = _check_data(X_val, y_val)
            validation = losses_of(self.programs_, np.ascontiguousarray(Xv.T), yv, np.ones_like(yv), options)
        from_groups = {p.structure_key() for p in lifted}
        origins = ["dimensionless search" if p.structure_key() in from_groups else "search" for p in self.programs_]
        if self.model_selection == "cross_validation":
            XT64, y64 = np.ascontiguousarray(X.T, dtype=np.float64), y.astype(np.float64)
            w64 = np.ones_like(y64) if weights is None else weights.astype(np.float64)
            folds = dict(loss_kind=options.loss_kind, delta=options.huber_delta,
                         iterations=options.optimizer_iterations, seed=int(self.random_state))
            fold_errors = out_of_fold_errors(self.programs_, XT64, y64, w64, **folds)
            self.best_index_ = simplest_within_one_standard_error(fold_errors, complexities)
            chosen = self.programs_[self.best_index_]
            pruned, sizes = prune_by_cross_validation(
                chosen, XT64, y64, w64, allowed=(lambda p: True) if spec is None else (lambda p: is_consistent(p, spec)),
                **folds)
            if len(sizes) > 1:  # the pruned law joins the table as its own row, so the front stays inspectable
                pruned, _ = fit_constants(pruned, XT64, y64, w64, options.optimizer_iterations, options.loss_kind,
                                          options.huber_delta)
                self.programs_.append(pruned)
                complexities = np.append(complexities, Constraints(options).complexity(pruned))
                losses = np.append(losses, losses_of([pruned], XT64, y64, w64, options))
                origins.append(f"pruned from complexity {complexities[self.best_index_]}")
                self.best_index_ = len(self.programs_) - 1
        elif self.model_selection == "description_length":
            XT64, y64 = np.ascontiguousarray(X.T, dtype=np.float64), y.astype(np.float64)
            symbols = len(options.binary_operators) + len(options.unary_operators) + X.shape[1] + 1
            self.best_index_, lengths, noise_models, refitted = select_by_description_length(
                self.programs_, complexities, losses, XT64, y64, weights, symbols, loss_kind=options.loss_kind,
                delta=options.huber_delta, iterations=options.optimizer_iterations)
            if noise_models[self.best_index_] == "relative":  # the law's constants are those of its noise model
                self.programs_[self.best_index_] = refitted[self.best_index_]
                losses[self.best_index_] = losses_of([refitted[self.best_index_]], XT64, y64, np.ones_like(y64),
                                                     options)[0]
        else:
            self.best_index_ = select(complexities, losses, self.model_selection, validation)
        self.program_ = self.programs_[self.best_index_]
        # Snapped on the training data now, since sympy() has no data: only snaps that leave the loss unchanged.
        self.snapped_expressions_ = [snap_program(p, X, y, options.loss, weights=weights,
                                                  huber_delta=options.huber_delta, feature_names=names)[1]
                                     for p in self.programs_]
        self.pareto_front_ = pd.DataFrame({
            "complexity": complexities, "loss": losses, "score": _scores_of(complexities, losses, origins),
            "expression": [str(to_sympy(p, names)) for p in self.programs_],
            "snapped": [str(expr) for expr in self.snapped_expressions_], "origin": origins,
            # Only dimensionally consistent programs reach the front, so each carries y's units.
            "units": [describe(spec.target) if spec is not None else ""] * len(self.programs_)})
        if self.model_selection == "description_length":
            self.pareto_front_["description_length"] = lengths
            self.pareto_front_["noise_model"] = noise_models
        self.history_ = {"n_evaluations": result.n_evaluations, "n_rounds": result.n_rounds,
                         "seconds": result.seconds, "stopped_by": result.stopped_by}
        self.y_units_ = y_units
        self.dimensionless_ = reduced
        self.checkpoint_ = checkpoint_to_dict(result.checkpoint)
        return self

    def _dimensionless_search(self, X, y, weights, names, spec, options, executor):
        """Search y / M over the dimensionless groups with ``dimensionless_share`` of the budgets; its front,
        lifted to the features and re-fitted there, seeds the main search, which gets what is left.
        Returns (lifted programs, the main search's options, the record kept as ``dimensionless_``)."""
        reduction = find_reduction(spec.features, spec.target, X)
        if reduction is None:
            return [], options, None
        share, start = options.dimensionless_share, time.perf_counter()
        M, groups = reduction.evaluate(X)
        with np.errstate(all="ignore"):
            target = y / M
        if not np.all(np.isfinite(target)):  # y / M overflows: the main search goes on alone
            return [], options, None
        if groups.shape[1] == 0:  # no dimensionless group: y = C M, only C to fit
            found, evaluations = [constant(float(np.median(target)))], 0
        else:
            params = self.get_params() | {"model_selection": "best",
                                          "n_iterations": max(1, round(self.n_iterations * share))}
            if self.timeout_seconds is not None:
                params["timeout_seconds"] = self.timeout_seconds * share
            if self.max_evaluations is not None:
                params["max_evaluations"] = max(1, int(self.max_evaluations * share))
            if self.loss_threshold is not None:  # the same threshold relative to the target's spread
                params["loss_threshold"] = self.loss_threshold * float(np.var(target)) / max(float(np.var(y)), 1e-300)
            try:
                inner = SymbolicRegressor(**params).fit(groups, target, sample_weight=weights, executor=executor,
                                                        feature_names=[f"pi{i}" for i in range(groups.shape[1])])
            except RuntimeError:  # no valid expression of the groups: the main search goes on alone
                return [], options, None
            found, evaluations = inner.programs_, inner.history_["n_evaluations"]
        XT64, y64 = np.ascontiguousarray(X.T, dtype=np.float64), y.astype(np.float64)
        w64 = None if weights is None else weights.astype(np.float64)
        lifted = [fit_constants(lift(p, reduction), XT64, y64, w64, options.optimizer_iterations, options.loss_kind,
                                options.huber_delta)[0] for p in found]
        seconds = time.perf_counter() - start
        monomial, group_names = reduction.describe(names)
        record = {"monomial": monomial, "groups": group_names, "seconds": seconds,
                  "front": [str(to_sympy(p, names)) for p in lifted]}
        remaining = {}
        if options.timeout_seconds is not None:
            remaining["timeout_seconds"] = max(options.timeout_seconds - seconds, 0.0)
        if options.max_evaluations is not None:
            remaining["max_evaluations"] = max(options.max_evaluations - evaluations, 1)
        return lifted, dataclasses.replace(options, **remaining), record

    def _program(self, index) -> Program:
        if not hasattr(self, "program_"):
            raise RuntimeError("this SymbolicRegressor is not fitted yet; call fit first")
        return self.program_ if index is None else self.programs_[index]

    def predict(self, X, index=None) -> np.ndarray:
        program = self._program(index)
        X = _check_X(X, self.n_features_in_)
        return to_numpy(program)(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Coefficient of determination R^2 of the selected expression."""
        X, y = _check_data(X, y)
        prediction = self.predict(X)
        weights = np.ones_like(y) if sample_weight is None else _check_weights(sample_weight, len(y))
        mean = np.average(y, weights=weights)
        return float(1.0 - np.sum(weights * (y - prediction) ** 2) / np.sum(weights * (y - mean) ** 2))

    def sympy(self, index=None, snapped: bool = True):
        """The expression with constants snapped to simple exact numbers where the training loss does not
        change (``snap.snap_program``'s default tolerance); ``snapped=False`` gives the constants as fitted."""
        program = self._program(index)
        if not snapped:
            return to_sympy(program, list(self.feature_names_in_))
        return self.snapped_expressions_[self.best_index_ if index is None else index]

    def latex(self, index=None, precision: int = 4) -> str:
        return to_latex(self._program(index), list(self.feature_names_in_), precision)


def _in_given_features(front, scales, X, y, weights, options) -> list:
    """The search's front (programs of X / scales) as programs of X, re-scored: a mapped program can be
    longer where no constant takes a scale, so the front is rebuilt on complexity and loss in X."""
    if np.all(scales == 1.0):
        return front
    programs = [rescale_variables(program, 1.0 / scales) for _, _, program in front]
    data = make_data(np.ascontiguousarray(X.T), y, weights, options)
    hall = HallOfFame()
    hall.update(programs, [Constraints(options).complexity(p) for p in programs],
                losses_of(programs, data.XT, data.y, data.weights, options))
    return hall.front()


def _scores_of(complexities, losses, origins) -> np.ndarray:
    """PySR's score along the search's front; a pruned law appended after it has no neighbour, so 0."""
    n = sum(not origin.startswith("pruned") for origin in origins)
    return np.concatenate([scores(complexities[:n], losses[:n]), np.zeros(len(origins) - n)])


_DEFAULTS = {name: p.default for name, p in inspect.signature(SymbolicRegressor.__init__).parameters.items()
             if name != "self"}


def _check_X(X, n_features=None) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D [n_samples, n_features], got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model was fitted with {n_features}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"X has {int(bad.sum())} NaN/Inf value(s); first at row {row}, column {col}")
    return X


def _check_data(X, y):
    if X is None or y is None:
        raise ValueError("X and y are both required")
    X = _check_X(X)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D [n_samples], got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(f"y has {int(bad.sum())} NaN/Inf value(s); first at index {int(np.argmax(bad))}")
    return X, y


def _check_weights(weights, n):
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"sample_weight must be {n} finite, non-negative values with a positive sum")
    return weights


def _feature_names(names, n_features):
    if names is None:
        return default_names(n_features)
    names = [str(n) for n in names]
    if len(names) != n_features or len(set(names)) != n_features:
        raise ValueError(f"feature_names must be {n_features} distinct names, got {names}")
    return names


def _unit_spec(units, y_units, n_features, free_constants):
    if units is None and y_units is None:
        return None
    if units is None or y_units is None:
        raise ValueError("give both units (one per feature) and y_units, or neither")
    if len(units) != n_features:
        raise ValueError(f"units has {len(units)} entries for {n_features} features")
    return UnitSpec.from_strings(list(units), y_units, free_constants)


__all__ = ["SymbolicRegressor", "dimension_of"]
