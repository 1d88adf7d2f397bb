"""Istio conformance corpus: every case runs through the real function path (kinject.krm.process).

Prints a table (case, result, first difference) and the lines `conformance: N/61 default cases pass` and
`conformance: N/104 pass` (run with -s, or see the summary test's output).
"""

from __future__ import annotations

import pytest

import conformance
from conformance import CaseResult, corpus_available, load_cases, run_case, summary_table

if not corpus_available():
    pytest.skip(f"conformance corpus not found at {conformance.CORPUS} (expected ../shared/conformance/istio "
                "next to the repository)", allow_module_level=True)

DEFAULTS, CASES = load_cases()
RESULTS: dict[str, CaseResult] = {}


def _result(case: conformance.Case) -> CaseResult:
    if case.id not in RESULTS:
        RESULTS[case.id] = run_case(DEFAULTS, case)
    return RESULTS[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: conformance.Case) -> None:
    result = _result(case)
    assert result.passed, f"{case.id} ({case.exercises}): {result.difference}"


def test_summary(capsys: pytest.CaptureFixture) -> None:
    results = [_result(case) for case in CASES]
    with capsys.disabled():
        print()
        print(summary_table(results))
    assert len(results) == 104
    assert sum(1 for c in CASES if c.default) == 61


def test_normalisation_detects_real_differences() -> None:
    """The comparison must not be so loose that different goldens compare equal."""
    import yaml

    def load(name: str) -> list:
        return [conformance.normalise_object(d) for d in
                yaml.safe_load_all((conformance.CORPUS / "goldens" / name).read_text()) if d]

    hello, classic = load("hello.yaml.injected"), load("hello-old-version.yaml.injected")
    assert conformance.first_difference(hello, hello) is None
    assert conformance.first_difference(hello, classic) is not None
    assert conformance.first_difference(hello, load("hello-never.yaml.injected")) is not None
