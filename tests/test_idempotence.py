"""Over Istio's whole conformance corpus, through the real function path:
- a second run of `kinject fn` on its own output changes nothing, byte for byte;
- `kinject uninject` of the output gives back the input objects exactly (as data).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import conformance

ROOT = Path(__file__).resolve().parent.parent
KINJECT = str(Path(sys.executable).with_name("kinject"))

if not conformance.corpus_available():
    pytest.skip(f"Istio conformance corpus not found at {conformance.CORPUS}", allow_module_level=True)

DEFAULTS, CASES = conformance.load_cases()
CASES = [c for c in CASES if not c.expect_error]


def items_of(resource_list: str) -> str:
    """The ResourceList without its results (a second run reports 'already current' instead of 'injected')."""
    return resource_list.split("\nresults:\n")[0].rstrip("\n") + "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_second_run_is_byte_identical(case):
    from kinject.krm import process

    text, _ = conformance.resource_list(DEFAULTS, case)
    first, code = process(text)
    assert code == 0
    second, code = process(items_of(first))
    assert code == 0
    assert items_of(second) == items_of(first)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_uninject_restores_the_input(case):
    from kinject.krm import process

    text, _ = conformance.resource_list(DEFAULTS, case)
    injected, code = process(text)
    assert code == 0
    proc = subprocess.run([KINJECT, "uninject", "--quiet", "-"], input=items_of(injected), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["items"] == yaml.safe_load(text)["items"]
