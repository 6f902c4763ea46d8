"""The bad-input matrix (tests/bad_inputs.py), one test per case: every bad input is
refused with the expected exception type and a message naming what was wrong, within the
case's timeout (a hang fails its case instead of hanging the suite).

benchmarks/bad_input_sweep.py counts the same cases (clear / unclear / hang / accepted).
"""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bad_inputs  # noqa: E402  (a plain module beside this file: not collected)

sys.path.pop(0)


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    bad_inputs.warm()


@pytest.fixture(autouse=True)
def _backstop():
    """A case stuck in C code that never returns to Python (where SIGALRM cannot reach) ends
    the run with every thread's traceback rather than hanging it."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("case", bad_inputs.CASES, ids=[c.id for c in bad_inputs.CASES])
def test_bad_input_is_refused_clearly(case):
    out = bad_inputs.classify(case)
    want = f"{' or '.join(t.__name__ for t in case.raises)} containing {list(case.contains)}"
    if out.kind == "hang":
        pytest.fail(f"{case.id}: no answer within {case.timeout:g} s (expected {want})")
    if out.kind == "accepted":
        pytest.fail(f"{case.id}: the bad input was accepted without an error (expected {want})")
    assert out.kind == "clear", (f"{case.id}: raised {out.exc_type}: {out.message[:400]!r}; expected {want}"
                                 + (f"; missing {list(out.missing)}" if out.missing else ""))
