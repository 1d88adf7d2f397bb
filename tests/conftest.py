"""Every test session gets its own kinject cache directory (compiled templates and renders), so no result
depends on what an earlier session, or the developer's own ~/.cache/kinject, left there."""

from __future__ import annotations

import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="kinject-test-cache-")  # mode 0700, as kinject requires
os.environ["KINJECT_CACHE_DIR"] = _CACHE
os.environ.pop("KINJECT_NO_CACHE", None)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)
