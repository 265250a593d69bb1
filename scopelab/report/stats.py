"""Statistics over repeated runs: mean and sample standard deviation of a group, and the difference of two
groups with a 95% confidence interval by Welch's t. Plain Python (math only): no SciPy to install for this."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Stat:
    n: int
    mean: float
    std: float | None  # the sample standard deviation (n - 1 in the denominator); None for one value


@dataclass(frozen=True)
class Difference:
    """The second group's mean minus the first's, with a 95% confidence interval by Welch's t when both
    groups have two or more runs (low = high = None otherwise)."""

    delta: float
    low: float | None = None
    high: float | None = None
    df: float | None = None


def describe(values: list[float]) -> Stat:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((value - mean) ** 2 for value in values) / (n - 1)) if n > 1 else None
    return Stat(n, mean, std)


def welch_difference(first: Stat, second: Stat, level: float = 0.95) -> Difference:
    """Welch's t interval: no assumption that the two groups have the same variance."""
    delta = second.mean - first.mean
    if first.std is None or second.std is None:
        return Difference(delta)
    first_var, second_var = first.std**2 / first.n, second.std**2 / second.n
    error = math.sqrt(first_var + second_var)
    if error == 0:  # every run gave the same number: the difference is exact
        return Difference(delta, delta, delta)
    df = (first_var + second_var) ** 2 / (first_var**2 / (first.n - 1) + second_var**2 / (second.n - 1))
    half = t_quantile(0.5 + level / 2, df) * error
    return Difference(delta, delta - half, delta + half, df)


def mean_interval(stat: Stat, level: float = 0.95) -> tuple[float, float] | None:
    """The t interval of one group's mean (None for a single value): for paired differences, whose
    run-to-run spread has already cancelled."""
    if stat.std is None:
        return None
    half = t_quantile(0.5 + level / 2, stat.n - 1) * stat.std / math.sqrt(stat.n)
    return stat.mean - half, stat.mean + half


def t_quantile(p: float, df: float) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with df degrees of freedom, df fractional as Welch's is.
    Bisection on the CDF: slow by numerical standards (~60 CDF calls), exact to 1e-9, and no table."""
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2
    while high - low > 1e-10 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0, through the regularized incomplete beta function."""
    return 1 - 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b). The continued fraction converges fast below the mean (a + 1) / (a + b + 2); above it,
    use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a)."""
    if x <= 0 or x >= 1:
        return max(0.0, min(1.0, x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _incomplete_beta(b, a, 1 - x)
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    log_front = a * math.log(x) + b * math.log1p(-x) - math.log(a) - log_beta
    return math.exp(log_front) * _beta_continued_fraction(a, b, x)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """1 / (1 + d1 / (1 + d2 / (1 + ...))) by the modified Lentz method, where
    d(2m+1) = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and d(2m) = m(b-m)x / ((a+2m-1)(a+2m))."""
    tiny = 1e-300

    def guard(value: float) -> float:
        return value if abs(value) > tiny else tiny

    numerator_c, denominator_d = 1.0, 1 / guard(1 - (a + b) * x / (a + 1))
    result = denominator_d
    for m in range(1, 10_000):
        for term in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            denominator_d = 1 / guard(1 + term * denominator_d)
            numerator_c = guard(1 + term / numerator_c)
            factor = denominator_d * numerator_c
            result *= factor
        if abs(factor - 1) < 1e-15:
            break
    return result
