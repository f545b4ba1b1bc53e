"""The vectorizable exp, sin and cos against numpy (glibc) over the whole double range."""
import numpy as np
import pytest
from numba import njit

from symdistill.components.sr.vectormath import FAST_LIMIT, exp_block, log_block, scratch, sin_cos_block

BLOCK = 128


@njit(cache=True)
def _blocks(x, kind):
    out = x.copy()
    work = np.empty((4, BLOCK))
    for start in range(0, x.size, BLOCK):
        n = min(BLOCK, x.size - start)
        block = out[start:start + n]
        if kind == 0:
            exp_block(block, n, work)
        elif kind == 3:
            log_block(block, n, work)
        else:
            sin_cos_block(block, n, work, kind == 2)
    return out


def ulps(ours, reference):
    """|ours - reference| in units of the reference's last place; 0 where both are the same (inf, nan)."""
    with np.errstate(invalid="ignore"):
        same = (ours == reference) | (np.isnan(ours) & np.isnan(reference))
        return np.where(same, 0.0, np.abs(ours - reference) / np.spacing(np.abs(reference)))


def test_exp_is_within_one_ulp_from_underflow_to_overflow():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-750, 720, 300_000), rng.uniform(-1, 1, 100_000), rng.normal(0, 1e-8, 1000),
                        [709.782712893384, 709.7827128933841, 710.0, -745.1332191019411, -745.1332191019412,
                         -708.4, -708.3964185322641, -744.0, 0.0, -0.0, 5e-324]])
    with np.errstate(over="ignore"):
        reference = np.exp(x)
    ours = _blocks(x, 0)
    assert ulps(ours, reference).max() <= 1.0
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(reference))
    np.testing.assert_array_equal(ours == 0, reference == 0)  # underflow to 0 at the same place, subnormals kept


def test_log_is_within_one_ulp_over_every_positive_double_and_falls_back_elsewhere():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 0x7FF0000000000000, 300_000, dtype=np.int64).view(np.float64)  # every positive double
    x = np.concatenate([bits, rng.uniform(0.5, 2.0, 200_000), 1 + rng.normal(0, 1e-9, 1000),
                        [1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 3), 2.2250738585072014e-308, 5e-324,
                         1.7976931348623157e308, 0.0, -1.0, np.inf, np.nan]])
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = np.log(x)
    ours = _blocks(x, 3)
    assert ulps(ours, reference).max() <= 1.0


@pytest.mark.parametrize("kind, reference", [(1, np.sin), (2, np.cos)])
def test_sin_and_cos_are_within_one_ulp_and_fall_back_beyond_their_range(kind, reference):
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2 ** 63, 300_000, dtype=np.int64)
    bits[::2] |= np.int64(-2 ** 63)  # the sign bit: every exponent, both signs
    bits = bits.view(np.float64)
    x = np.concatenate([rng.uniform(-7, 7, 200_000), rng.uniform(-FAST_LIMIT, FAST_LIMIT, 200_000),
                        np.exp(rng.uniform(-40, 13, 200_000)) * rng.choice([-1, 1], 200_000),
                        bits[np.isfinite(bits)], np.pi / 2 * np.arange(-50, 51), [FAST_LIMIT, -FAST_LIMIT, 0.0, -0.0]])
    ours = _blocks(x, kind)
    error = ulps(ours, reference(x))
    fast = np.abs(x) <= FAST_LIMIT
    assert error[fast].max() <= 1.0
    assert error[~fast].max() == 0.0  # blocks with a larger argument use libm itself


def test_non_finite_arguments_give_what_numpy_gives():
    x = np.array([np.inf, -np.inf, np.nan, 1.0])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(_blocks(x, 1)), np.isnan(np.sin(x)))
        np.testing.assert_array_equal(np.isnan(_blocks(x, 2)), np.isnan(np.cos(x)))


def test_float32_blocks_are_computed_in_float64_and_rounded_once():
    x = np.random.default_rng(2).uniform(-20, 20, 1000).astype(np.float32)
    for kind, reference, values in ((0, np.exp, x), (1, np.sin, x), (2, np.cos, x), (3, np.log, np.abs(x))):
        np.testing.assert_array_equal(_blocks(values, kind), reference(values.astype(np.float64)).astype(np.float32))


def test_scratch_has_room_for_a_block():
    assert scratch(BLOCK).shape == (4, BLOCK)
