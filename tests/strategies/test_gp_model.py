"""bayes's own fast paths compute what scikit-optimize and SciPy compute, on generated data.

The GP's likelihood and its gradient, its predictions and the Yeo-Johnson warp replace library calls for speed
(they were most of bayes's time per trial); each must agree with the library it replaces.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import yeojohnson

from hpmagic.samplers import _gp

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n=st.integers(2, 40), d=st.integers(1, 8))
def test_log_marginal_likelihood_and_gradient_match_scikit_optimize(seed: int, n: int, d: int) -> None:
    from skopt.learning import GaussianProcessRegressor

    rng = np.random.default_rng(seed)
    x, y = rng.random((n, d)), rng.normal(size=n) * rng.uniform(0.1, 3)
    model = _gp.GPModel(d)
    # Hyperparameters anywhere in their bounds: amplitude and length scales 0.01..100, noise 1e-6..1.
    theta = np.concatenate([rng.uniform(np.log(1e-2), np.log(1e2), d + 1), [rng.uniform(np.log(1e-6), 0.0)]])
    gp = GaussianProcessRegressor(kernel=model._kernel(theta), alpha=_gp.JITTER, optimizer=None).fit(x, y)
    expected, expected_grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    value, grad = _gp.log_marginal_likelihood(theta, x, y)
    if not np.isfinite(expected):
        assert not np.isfinite(value)
        return
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5 * (1 + np.abs(expected_grad).max()))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n=st.integers(3, 30), d=st.integers(1, 6))
def test_predictions_are_the_noise_free_posterior_of_the_fitted_regressor(seed: int, n: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, d)), rng.normal(size=n)
    model = _gp.GPModel(d)
    model.fit(x, y, optimize=True)
    at = rng.random((7, d))
    mean, std = model.predict(at)
    sk_mean, sk_std = model.gp.predict(at, return_std=True)  # scikit-learn's std includes the fitted noise
    noise = float(np.exp(model._theta[-1]))
    np.testing.assert_allclose(mean, sk_mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(std**2 + noise), sk_std, rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    n=st.integers(3, 60),
    shape=st.sampled_from(["normal", "lognormal", "negative", "cauchy", "ties"]),
)
def test_yeo_johnson_matches_scipy(seed: int, n: int, shape: str) -> None:
    rng = np.random.default_rng(seed)
    z = {
        "normal": lambda: rng.normal(size=n),
        "lognormal": lambda: np.exp(2 * rng.normal(size=n)),
        "negative": lambda: -np.exp(rng.normal(size=n)),
        "cauchy": lambda: rng.standard_cauchy(n),
        "ties": lambda: rng.integers(0, 3, n).astype(float),
    }[shape]()
    if not z.std() > 0:
        return
    z = (z - z.mean()) / z.std()
    expected, expected_lambda = yeojohnson(z)
    lam = _gp._yeo_johnson_lambda(z)
    assert lam == pytest.approx(expected_lambda, rel=1e-4, abs=1e-4)
    np.testing.assert_allclose(_gp._yeo_johnson(z, expected_lambda), expected, rtol=1e-9, atol=1e-12)
