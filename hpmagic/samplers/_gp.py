"""The Gaussian-process machinery behind ``BayesSampler``: encoding, model fitting, acquisition and its optimiser.

scikit-optimize provides the model (``skopt.learning.GaussianProcessRegressor`` with its Matern and white-noise
kernels); how it is driven is ours, because skopt's ``Optimizer`` is slow (every ``tell`` refits the
hyperparameters from scratch and scores 10,000 points with an O(m n^2) einsum: seconds per trial at 200 trials) and
leaves out what benchmarks/bayes_tuning.py showed to matter at 40 evaluations: a space-filling start, warped
losses, priors on the kernel's hyperparameters, and candidates near the incumbent. The hyperparameter fit computes the
regressor's log marginal likelihood and its gradient itself (``log_marginal_likelihood``): scikit-learn's generic
kernel gradients made that fit most of bayes's time per trial.

Everything here works in "u-space": one coordinate in [0, 1] per dimension, as ``Dimension.to_unit`` maps it (log
dimensions in the log domain, integers owning equal slices, categoricals by index). The GP sees floats and integers
as their u coordinate and categoricals one-hot.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import erfcx, log_ndtr, ndtr

from hpmagic.space import Categorical, Dimension, Int

__all__ = [
    "AtBudget",
    "Encoding",
    "GPModel",
    "initial_design",
    "log_ei",
    "optimize_acquisition",
    "warp_losses",
]

# Knobs that benchmarks/bayes_tuning.py varies (``bayes@KNOB=value``); the values are the ones that won there.
INIT_PER_DIM = 3  # default design points per dimension (at least 5, at most 20)...
INIT_FRACTION = 0.375  # ...and at most this fraction of the study's budget
WARP = True  # Yeo-Johnson warp of the losses before standardising
PLUGIN_BEST = True  # improvement counted from the lowest posterior mean at a tried point, not the lowest loss
XI = 0.01  # improvement margin, in standardised loss units
LOCAL_FRACTION = 0.1  # perturbations of the best points, as a fraction of the uniform candidates
N_STARTS = 5  # candidates refined by L-BFGS-B
LS_WALL = 0.1  # weight of the soft walls on the length scales (prior)
LS_CENTER = 1.0  # where the walls meet, in unit-cube lengths
# ...times (number of features) ** this: the "vanilla BO in high dimensions" prior (Hvarfner et al., 2024) centres
# length scales at sqrt(d). Measured at 20 evaluations (7 synthetic problems, 3 seeds, bayes_tuning.py): 0.0 (off)
# 0.378, 0.5 gave 0.506, 1.0 gave 0.629 mean regret: worse at short budgets with these walls, so off.
LS_DIM_POWER = 0.0
NOISE_MEDIAN = 3e-3  # prior median of the noise variance, in standardised units
NOISE_SD = 1.0  # prior spread of the log noise variance
# Trials in a row (each returning a value some earlier trial returned, bit for bit) after which the next trial leaves
# the plateau; 0: never. Measured on the flat `conditional` benchmark at 20 evaluations (10 seeds): 1.36 mean regret
# without, 0.66 with 4 (0.70 with 3, which cost more at 40).
STALL_TIES = 4
# How it leaves: the acquisition's best point at least this many length scales (in the model's own metric) from every
# tried point; 0: a uniform random draw instead. Mean regret on the eight scikit-learn benchmarks (10 seeds) at 20 / 40
# / 100 evaluations: a random draw 0.453 / 0.264 / 0.358; 0.25 gave 0.510 / 0.254 / 0.340, 0.5 gave 0.447 / 0.234 /
# 0.311, 1.0 gave 0.513 / 0.291 / 0.354 (the synthetic functions never repeat a value, so never leave this way).
STALL_REACH = 0.5
# Multi-fidelity mode (trials that carry budgets: bayes under hyperband or asha); plain bayes never reads these.
MF_BUDGET_INPUT = True  # one GP over every budget with log(budget) as an input, scored at the largest budget
MF_MIN_BUDGETS = 2  # the model waits for results at this many different budgets (random draws until then)

JITTER = 1e-8  # added to the kernel's diagonal, as scikit-learn's ``alpha``, for a stable factorisation
_SQRT_HALF_PI = math.sqrt(math.pi / 2)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# -- encoding ---------------------------------------------------------------------------------------------------


class Encoding:
    """Vectorised maps between configurations, u-space and the GP's features, for one list of dimensions."""

    def __init__(self, dims: Sequence[Dimension]) -> None:
        self.dims = list(dims)
        self.d = len(self.dims)
        #: Positions (in u-space) of the dimensions the acquisition optimiser moves continuously (floats, ints).
        self.numeric = np.array([i for i, dim in enumerate(self.dims) if not isinstance(dim, Categorical)], dtype=int)
        self.categorical = [i for i, dim in enumerate(self.dims) if isinstance(dim, Categorical)]
        self.n_choices = {i: len(dim.choices) for i, dim in enumerate(self.dims) if isinstance(dim, Categorical)}
        self.n_features = len(self.numeric) + sum(self.n_choices.values())
        self._ints = [(i, dim) for i, dim in enumerate(self.dims) if isinstance(dim, Int)]

    def snap(self, u: np.ndarray) -> np.ndarray:
        """Move every coordinate to the point its value decodes to: integers and choices to their slice's centre.

        The model then scores the configuration that would really run, not a point between two integers.
        """
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        out = u.copy()
        for i, dim in self._ints:
            a, b = dim._edges()
            x = a + u[:, i] * (b - a)
            v = np.rint(np.exp(x)) if dim.log else np.rint(x)
            v = np.clip(v, dim.low, dim.high)
            out[:, i] = ((np.log(v) if dim.log else v) - a) / (b - a)
        for i in self.categorical:
            k = self.n_choices[i]
            out[:, i] = (np.minimum(np.floor(u[:, i] * k), k - 1) + 0.5) / k
        return out

    def features(self, u: np.ndarray) -> np.ndarray:
        """The GP's inputs: numeric coordinates as they are, each categorical as a one-hot block."""
        u = np.atleast_2d(u)
        blocks = [u[:, self.numeric]]
        for i in self.categorical:
            k = self.n_choices[i]
            idx = np.minimum(np.floor(u[:, i] * k), k - 1).astype(int)
            blocks.append(np.eye(k)[idx])
        return np.hstack(blocks) if blocks else np.zeros((len(u), 0))

    def decode(self, u: np.ndarray) -> list[Any]:
        """Values for one point (Python types: ``from_unit`` returns float, int or the choice object itself)."""
        return [dim.from_unit(float(x)) for dim, x in zip(self.dims, u, strict=True)]

    def encode(self, values: Sequence[Any]) -> np.ndarray:
        return np.array([dim.to_unit(v) for dim, v in zip(self.dims, values, strict=True)], dtype=float)


def require_skopt() -> None:
    """Raise a short OptionError when scikit-optimize cannot be imported (bayes cannot model without it)."""
    try:
        import skopt.learning  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install failing on import
        from hpmagic.errors import OptionError

        raise OptionError(
            f"the bayes strategy needs scikit-optimize, which cannot be imported ({type(exc).__name__}: {exc}); "
            "pip install scikit-optimize, or choose --strategy random"
        ) from None


def initial_design(d: int, n: int, seed: Sequence[int]) -> np.ndarray:
    """``n`` space-filling points in [0, 1]^d: a Latin hypercube improved for centred discrepancy.

    Every one of the ``n`` equal strata of every coordinate holds exactly one point, so even a handful of starting
    points spreads over each dimension (and balances the choices of a categorical), unlike independent draws.
    Large designs (a long exploration phase) skip the O(n^2) discrepancy optimisation.
    """
    from scipy.stats import qmc

    if d == 0 or n == 0:
        return np.zeros((n, d))
    rng = np.random.default_rng(list(seed))
    optimization = "random-cd" if n <= 128 and d > 1 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = qmc.LatinHypercube(d=d, optimization=optimization, rng=rng)
        return sampler.random(n)


# -- outputs ----------------------------------------------------------------------------------------------------


def warp_losses(y: np.ndarray) -> np.ndarray:
    """Standardised losses, first reshaped by a Yeo-Johnson power transform fitted to them.

    Losses of real objectives are often heavy-tailed (Rosenbrock, a diverging learning rate): a stationary GP then
    spends its whole variance on the few worst points and sees the good region as flat. The power transform (as
    in HEBO) compresses the tail while keeping the order, so the incumbent stays the incumbent.
    """
    y = np.asarray(y, dtype=float)
    std = y.std()
    if not WARP:
        return (y - y.mean()) / std if std > 0 else y - y.mean()
    if len(y) < 3 or not std > 0:
        return y - y.mean()
    z = (y - y.mean()) / std
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            w = _yeo_johnson(z, _yeo_johnson_lambda(z))
        if np.all(np.isfinite(w)) and w.std() > 0:
            z = w
    except Exception:  # noqa: BLE001 - a failed transform leaves the losses standardised
        pass
    return (z - z.mean()) / z.std()


def _yeo_johnson(x: np.ndarray, lam: float) -> np.ndarray:
    """The Yeo-Johnson transform of ``x`` with parameter ``lam`` (as ``scipy.stats.yeojohnson`` computes it)."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = np.log1p(x[pos]) if abs(lam) < 1e-12 else np.expm1(lam * np.log1p(x[pos])) / lam
    neg = ~pos
    out[neg] = -np.log1p(-x[neg]) if abs(lam - 2) < 1e-12 else -np.expm1((2 - lam) * np.log1p(-x[neg])) / (2 - lam)
    return out


def _yeo_johnson_lambda(x: np.ndarray) -> float:
    """The maximum-likelihood Yeo-Johnson parameter, searched as ``scipy.stats.yeojohnson_normmax`` does (bounded
    Brent, same bounds and tolerance), without SciPy's per-call array-API machinery: it cost 10 ms per ask."""
    from scipy.optimize import fminbound

    n = len(x)
    signed_log = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))

    def neg_llf(lam: float) -> float:
        var = _yeo_johnson(x, lam).var()
        if not var > np.finfo(float).tiny:
            return math.inf
        return -(-n / 2 * math.log(var) + (lam - 1) * signed_log)

    log1p_max = math.log1p(20 * float(np.max(np.abs(x))))
    eps = math.log(np.finfo(float).eps)
    lb = (math.log(np.finfo(float).tiny) - eps) / 2 / log1p_max
    ub = (math.log(np.finfo(float).max) + eps) / 2 / log1p_max
    if np.all(x < 0):
        lb, ub = 2 - ub, 2 - lb
    elif np.any(x < 0):
        lb, ub = max(2 - ub, lb), min(2 - lb, ub)
    return float(fminbound(neg_llf, lb, ub, xtol=1.48e-08))


# -- model ------------------------------------------------------------------------------------------------------


@dataclass
class Prior:
    """Priors on the kernel's log-parameters that turn the likelihood fit into a MAP fit.

    With 10-40 points the marginal likelihood alone often picks tiny length scales (an interpolant of every ripple,
    which sends the search chasing local wiggles: Ackley, Levy) or no noise at all. Soft walls keep the length
    scales within about [0.1, 10] of the unit cube, and the noise variance near a few thousandths of the losses'
    variance; they matter less and less as data accumulate.
    """

    wall: float = LS_WALL
    wall_center: float = LS_CENTER
    amplitude: float = 0.0
    amplitude_sd: float = 1.5
    noise: float = math.log(NOISE_MEDIAN)
    noise_sd: float = NOISE_SD

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density (up to a constant) and its gradient; theta = [log amplitude, log length scales, log noise].

        Length scales l get -w ((l/c)^2 + (c/l)^2), quadratic in 1/l below c and in l above; amplitude and noise
        are log-normal.
        """
        grad = np.zeros(len(theta))
        za = (theta[0] - self.amplitude) / self.amplitude_sd
        zn = (theta[-1] - self.noise) / self.noise_sd
        t = theta[1:-1] - math.log(self.wall_center)
        up, down = np.exp(2 * t), np.exp(-2 * t)
        value = -0.5 * (za**2 + zn**2) - self.wall * float(np.sum(up + down))
        grad[0] = -za / self.amplitude_sd
        grad[-1] = -zn / self.noise_sd
        grad[1:-1] = -2 * self.wall * (up - down)
        return float(value), grad


class GPModel:
    """A Matern-5/2 GP with one length scale per feature and a fitted noise level, refit on demand.

    ``fit(..., optimize=True)`` fits the kernel's hyperparameters (MAP, L-BFGS from the previous fit's values and
    from the prior's median); ``optimize=False`` keeps them and only factorises the kernel matrix, which is what
    makes asks cheap once a study has hundreds of trials.
    """

    def __init__(self, n_features: int, prior: Prior | None = None) -> None:
        self.n_features = n_features
        center = LS_CENTER * max(n_features, 1) ** LS_DIM_POWER
        self.prior = prior or Prior(LS_WALL, center, noise=math.log(NOISE_MEDIAN), noise_sd=NOISE_SD)
        self.gp: Any = None
        self._theta: np.ndarray | None = None
        #: Hyperparameter fits so far (the refit schedule is checked through it).
        self.n_hyper_fits = 0

    def _kernel(self, theta: np.ndarray | None) -> Any:
        from skopt.learning.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        p = self.prior
        amplitude = math.exp(p.amplitude)
        scales = np.full(self.n_features, p.wall_center)
        noise = math.exp(p.noise)
        if theta is not None:
            amplitude, scales, noise = math.exp(theta[0]), np.exp(theta[1:-1]), math.exp(theta[-1])
        return ConstantKernel(amplitude, (1e-2, 1e2)) * Matern(
            length_scale=scales, length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(noise, (1e-6, 1.0))

    def fit(self, x: np.ndarray, y: np.ndarray, *, optimize: bool, restart: bool = True) -> None:
        """Fit to ``x``, ``y``; ``optimize`` refits the hyperparameters, also from the prior's median if ``restart``.

        The hyperparameters are fitted here, with ``log_marginal_likelihood`` (the same function scikit-learn
        computes, at about a fifth of its cost); scikit-optimize's regressor is then built with them fixed, which costs
        one Cholesky factorisation.
        """
        from skopt.learning import GaussianProcessRegressor

        optimize = optimize or self._theta is None
        theta = self._theta
        if optimize:
            theta = self._map_theta(x, y, restart)
        gp = GaussianProcessRegressor(kernel=self._kernel(theta), alpha=JITTER, optimizer=None, normalize_y=False)
        gp.fit(x, y)
        self.gp = gp
        self._theta = np.array(gp.kernel_.theta)
        if optimize:
            self.n_hyper_fits += 1

    def _map_theta(self, x: np.ndarray, y: np.ndarray, restart: bool) -> np.ndarray:
        """MAP hyperparameters: L-BFGS on minus (log likelihood + log prior), from the last fit's values and, if
        ``restart``, from the prior's median."""
        from scipy.optimize import minimize

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = log_marginal_likelihood(theta, x, y)
            if not np.isfinite(value):
                return 1e10, np.zeros_like(theta)
            lp, lp_grad = self.prior(theta)
            return -(value + lp), -(grad + lp_grad)

        default = np.asarray(self._kernel(None).theta, dtype=float)
        starts = [default if self._theta is None else self._theta]
        if restart and not np.allclose(default, starts[0]):
            starts.append(default)
        bounds = np.log([(1e-2, 1e2)] * (1 + self.n_features) + [(1e-6, 1.0)])
        best: tuple[np.ndarray, float] | None = None
        for start in starts:
            res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})
            if best is None or res.fun < best[1]:
                best = (res.x, float(res.fun))
        assert best is not None
        return best[0]

    @property
    def length_scales(self) -> np.ndarray:
        assert self._theta is not None
        return np.exp(self._theta[1:-1])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the noise-free function at the rows of ``x``.

        Computed from the fitted factor with one triangular solve: O(m n^2) in BLAS, not skopt's einsum.
        """
        gp = self.gp
        assert self._theta is not None
        amplitude = math.exp(self._theta[0])
        k = amplitude * _matern52(_scaled_sq_dists(x, gp.X_train_, self.length_scales))
        mean = k @ gp.alpha_
        v = solve_triangular(gp.L_, k.T, lower=True, check_finite=False)
        var = amplitude - np.einsum("ij,ij->j", v, v)
        return mean, np.sqrt(np.maximum(var, 1e-12))


def _scaled_sq_dists(a: np.ndarray, b: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Squared distances between the rows of ``a`` and ``b``, each coordinate divided by its length scale."""
    a, b = np.atleast_2d(a) / scales, np.atleast_2d(b) / scales
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def _matern52(r2: np.ndarray) -> np.ndarray:
    """The Matern-5/2 correlation at squared scaled distances ``r2``."""
    s = np.sqrt(5.0 * r2)
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def log_marginal_likelihood(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """log p(y | x, theta) and its gradient for ``GPModel``'s kernel, amplitude * Matern-5/2 + noise (+ jitter).

    theta = [log amplitude, log length scales..., log noise], as scikit-learn orders it. The same value scikit-learn's
    ``GaussianProcessRegressor.log_marginal_likelihood`` returns, without its generic per-kernel gradient tensors:
    a hyperparameter fit evaluates this about 40 times, so it is most of bayes's time per trial.
    """
    from scipy.linalg import cho_solve, cholesky

    n = len(y)
    amplitude, scales, noise = math.exp(theta[0]), np.exp(theta[1:-1]), math.exp(theta[-1])
    diffs2 = (x[:, None, :] - x[None, :, :]) ** 2 / scales**2  # n x n x features
    r2 = diffs2.sum(axis=2)
    s = np.sqrt(5.0 * r2)
    e = np.exp(-s)
    corr = (1.0 + s + s * s / 3.0) * e
    k = amplitude * corr
    k[np.diag_indices(n)] += noise + JITTER
    try:
        low = cholesky(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return -np.inf, np.zeros_like(theta)
    alpha = cho_solve((low, True), y, check_finite=False)
    value = -0.5 * float(y @ alpha) - float(np.log(np.diag(low)).sum()) - 0.5 * n * math.log(2 * math.pi)
    # d log p / d theta_j = 0.5 tr((alpha alpha^T - K^-1) dK/dtheta_j)
    w = np.outer(alpha, alpha) - cho_solve((low, True), np.eye(n), check_finite=False)
    grad = np.empty(len(theta))
    grad[0] = 0.5 * float(np.sum(w * amplitude * corr))
    # dK/d log l_k = amplitude * 5/3 * (1 + s) exp(-s) * (x_ik - x_jk)^2 / l_k^2
    g = w * (amplitude * 5.0 / 3.0 * (1.0 + s) * e)
    grad[1:-1] = 0.5 * np.einsum("ij,ijk->k", g, diffs2)
    grad[-1] = 0.5 * noise * float(np.trace(w))
    return value, grad


class AtBudget:
    """A GP with log(budget) as its last input, seen as a model of the other inputs at one fixed budget.

    ``predict`` and ``length_scales`` take and describe the configuration's features only, so the
    acquisition machinery is the same as for a model without budgets.
    """

    def __init__(self, model: GPModel, z: float) -> None:
        self.model = model
        self.z = z

    def _with_budget(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        return np.hstack([x, np.full((len(x), 1), self.z)])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(self._with_budget(x))

    @property
    def length_scales(self) -> np.ndarray:
        return self.model.length_scales[:-1]


# -- acquisition ------------------------------------------------------------------------------------------------


class Surrogate(Protocol):
    """What the acquisition optimiser needs of a model: a GP, a GP at one budget, or one GP per objective."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def length_scales(self) -> np.ndarray: ...


def log_ei(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """log of the expected improvement below ``best``, accurate where EI itself underflows to 0.

    With plain EI most candidates far from the data score exactly 0 and the optimiser cannot tell them apart.
    """
    z = (best - mean) / std
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(zh * ndtr(zh) + np.exp(-0.5 * zh**2 - _LOG_SQRT_2PI))
    zl = z[~hi]
    # h(z) = phi(z) * (1 + z * Phi(z) / phi(z)), and Phi(z) / phi(z) = sqrt(pi/2) * erfcx(-z / sqrt(2)) for z < 0.
    tail = 1.0 + zl * _SQRT_HALF_PI * erfcx(-zl / math.sqrt(2))
    asymptotic = -2.0 * np.log(np.maximum(-zl, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_tail = np.where((zl > -1e3) & (tail > 0), np.log(np.maximum(tail, 1e-300)), asymptotic)
    out[~hi] = -0.5 * zl**2 - _LOG_SQRT_2PI + log_tail
    return out + np.log(std)


def acquisition(name: str, mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Scores to maximise: log-EI, log-PI, or minus the lower confidence bound."""
    if name == "LCB":
        return -(mean - 1.96 * std)
    # Improvement counts from a little below the best (in standardised units): without the margin, EI keeps
    # polishing a point on the boundary or in a shallow local minimum by ever smaller steps.
    target = best - XI
    if name == "PI":
        return log_ndtr((target - mean) / std)
    return log_ei(mean, std, target)


def optimize_acquisition(
    model: Surrogate,
    enc: Encoding,
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x_seen: np.ndarray,
    y_seen: np.ndarray,
    rng: np.random.Generator,
    *,
    n_candidates: int,
    exclude: set[tuple[float, ...]],
    log_weight: Callable[[np.ndarray], np.ndarray] | None = None,
    reach: float = 0.0,
    impute: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray | None:
    """The u-space point that maximises ``score(mean, std)``, among points not in ``exclude``; None if none.

    ``log_weight(features)``, if given, is added to the score (the log probability that a point is feasible, in a
    study with constraints). ``reach`` > 0 keeps the answer at least that many length scales from every point of
    ``x_seen``, in the model's own metric: nearer points score 1000 lower (the scores are logs), so one wins only if
    nothing farther is left. ``impute(u)``, if given, maps candidates to the points the model knows them as (a cell's
    parameters that a candidate's branch never reaches set as they are recorded) when they are snapped.

    Candidates: ``n_candidates`` uniform points for the whole space, plus perturbations of the best observed
    points at several scales relative to the fitted length scales (most improvements at small budgets are found
    near the incumbent). The best few are refined with L-BFGS-B over the numeric coordinates (categoricals stay
    as they are), then snapped to real integers and choices.
    """
    d = enc.d
    seen_features = enc.features(x_seen) if reach > 0 and len(x_seen) else None

    def snap(u: np.ndarray) -> np.ndarray:
        return enc.snap(u) if impute is None else impute(enc.snap(u))

    def evaluate(u: np.ndarray) -> np.ndarray:
        features = enc.features(u)
        mean, std = model.predict(features)
        values = score(mean, std)
        if log_weight is not None:
            values = values + log_weight(features)
        if seen_features is not None:
            near = _scaled_sq_dists(features, seen_features, model.length_scales).min(axis=1) < reach**2
            values = np.where(near, values - 1000.0, values)
        return values

    uniform = rng.random((n_candidates, d))
    local = _local_candidates(
        model, enc, x_seen, y_seen, rng, max(64, int(n_candidates * LOCAL_FRACTION)) if LOCAL_FRACTION > 0 else 0
    )
    cands = snap(np.vstack([uniform, local]))
    values = evaluate(cands)
    order = np.argsort(-values)

    # Refine the best few distinct starts; numeric coordinates move, categoricals stay.
    starts: list[np.ndarray] = []
    for i in order:
        if len(starts) >= N_STARTS:
            break
        if not any(np.allclose(cands[i], s) for s in starts):
            starts.append(cands[i])
    refined = [_refine(evaluate, enc, s) for s in starts] if len(enc.numeric) else []
    pool = np.vstack([*refined, cands[order[:200]]]) if refined else cands[order[:200]]
    pool = snap(pool)
    pool_values = evaluate(pool)
    for i in np.argsort(-pool_values):
        key = tuple(np.round(pool[i], 12))
        if key not in exclude:
            return pool[i]
    for i in order[200:]:
        key = tuple(np.round(cands[i], 12))
        if key not in exclude:
            return cands[i]
    return None


def _local_candidates(
    model: Surrogate, enc: Encoding, x_seen: np.ndarray, y_seen: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Gaussian perturbations of the best few observed points, scaled by the length scales, plus choice flips."""
    d = enc.d
    if len(x_seen) == 0 or d == 0 or n == 0:
        return np.zeros((0, d))
    top = x_seen[np.argsort(y_seen)[: min(3, len(x_seen))]]
    weights = np.array([0.6, 0.25, 0.15][: len(top)])
    parents = top[rng.choice(len(top), size=n, p=weights / weights.sum())]
    scales = np.ones(d)
    if len(enc.numeric):
        ls = model.length_scales[: len(enc.numeric)]
        scales[enc.numeric] = np.clip(ls, 0.02, 1.0)
    level = rng.choice(np.array([0.3, 0.1, 0.03]), size=(n, 1))
    out = parents + rng.normal(size=(n, d)) * scales * level
    # Perturb only some coordinates now and then (in higher dimensions moving all at once rarely helps).
    if d > 1:
        keep = rng.random((n, d)) < np.where(rng.random((n, 1)) < 0.5, 1.0, min(1.0, 2.0 / d))
        keep[np.arange(n), rng.integers(d, size=n)] = True
        out = np.where(keep, out, parents)
    for i in enc.categorical:
        flip = rng.random(n) < 0.2
        out[flip, i] = rng.random(int(flip.sum()))
    return np.clip(out, 0.0, 1.0)


def _refine(evaluate: Callable[[np.ndarray], np.ndarray], enc: Encoding, start: np.ndarray) -> np.ndarray:
    """L-BFGS-B on the numeric coordinates from ``start``, with forward-difference gradients in one batch."""
    from scipy.optimize import minimize

    idx = enc.numeric
    h = 1e-6

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        batch = np.repeat(start[None, :], len(idx) + 1, axis=0)
        batch[:, idx] = z
        batch[np.arange(1, len(idx) + 1), idx] += np.where(z + h <= 1.0, h, -h)
        values = evaluate(batch)
        step = np.where(z + h <= 1.0, h, -h)
        grad = (values[1:] - values[0]) / step
        return -float(values[0]), -grad

    res = minimize(
        fun, start[idx], jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * len(idx), options={"maxiter": 40}
    )
    out = start.copy()
    if np.all(np.isfinite(res.x)):
        out[idx] = res.x
    return out
