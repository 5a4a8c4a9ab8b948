"""Captured output stays bounded: the store keeps the end of each stream (with a note of what was cut), and the
dashboard (so the saved notebook) shows at most its last 16 KB, with a line saying where the rest is."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import hpmagic
from hpmagic import tune
from hpmagic.display.view_model import SHOWN_OUTPUT, trial_output
from hpmagic.execution._run import OUTPUT_KEPT, kept, storable


@given(size=st.integers(min_value=0, max_value=3 * OUTPUT_KEPT), ch=st.sampled_from(["x", "é", "\udcff", "😀"]))
@settings(max_examples=40)
def test_kept_output_is_bounded_and_ends_with_the_end(size: int, ch: str) -> None:
    text = ch * size + "THE END"
    out = kept(text)
    out.encode("utf-8")  # always storable
    assert len(out) <= OUTPUT_KEPT + 200
    assert out.endswith("THE END")
    if len(storable(text)) > OUTPUT_KEPT:  # escaped surrogates count as the characters that are stored
        assert out.startswith("[hpmagic kept the last 1,048,576 characters of this output;") and "were cut]" in out
    else:
        assert not out.startswith("[hpmagic kept")


def test_a_trial_printing_megabytes_is_stored_and_shown_bounded(tmp_path: Any) -> None:
    def chatty(params: dict[str, Any]) -> float:
        for i in range(60_000):
            print(f"line {i:06d} " + "." * 40)  # about 3 MB
        return params["x"]

    path = str(tmp_path / "hpmagic.db")
    study = hpmagic.optimize(chatty, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=1, storage=path)
    stored = hpmagic.load_study(study.name, path).trials[0].stdout
    assert len(stored) < OUTPUT_KEPT + 200 and stored.rstrip().endswith("line 059999 " + "." * 40)
    shown = trial_output(study.trials[0])
    assert len(shown) < SHOWN_OUTPUT + 200
    assert shown.startswith("[") and "tune.study.trials[0].stdout has them" in shown
