"""Objective values as libraries return them, in a real IPython shell: a scalar that converts with float() but is
neither a Python nor a NumPy number (a TensorFlow tensor, a Decimal) is its number; a complex or a bool is not."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpmagic import TrialState
from tests.magic.conftest import run

#: Like TensorFlow's EagerTensor: a shape, float(), and no .item().
TENSOR = """
class Tensor:
    def __init__(self, value):
        self.value = value
    shape = ()
    def __float__(self):
        return float(self.value)
    def __repr__(self):
        return f"<tf.Tensor: shape=(), numpy={self.value}>"
"""


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.floats(-1e6, 1e6, allow_nan=False),
    kind=st.sampled_from(["Tensor(v)", "Decimal(repr(v))"]),
)
def test_a_scalar_that_converts_with_float_is_its_number(ip, offset, kind):
    ip.run_cell(TENSOR + "\nfrom decimal import Decimal")
    cell = f"x = tune.uniform(0, 1)\nv = x + {offset!r}\n{kind}\n"
    assert run(ip, "--strategy random --trials 3 --seed 0 --storage :memory:", cell).success
    for trial in ip.user_ns["tune"].study.trials:
        assert trial.state is TrialState.COMPLETE
        assert trial.value == pytest.approx(trial.params["x"] + offset, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("value", ["float('nan')", "float('inf')"])
def test_a_converted_scalar_that_is_not_finite_fails_its_trial(ip, value):
    ip.run_cell(TENSOR)
    assert run(
        ip, "--strategy random --trials 2 --seed 0 --storage :memory:", f"x = tune.uniform(0, 1)\nTensor({value})\n"
    )
    for trial in ip.user_ns["tune"].study.trials:
        assert trial.state is TrialState.FAILED and "not a finite number" in trial.error
