"""`kinject fn`: the KRM function (ResourceList on stdin, ResourceList on stdout)."""

from __future__ import annotations

import gc
import sys

from ..errors import KinjectError


def main() -> int:
    # A function process lives for one run; the cyclic GC would only rescan the parsed bundle again and
    # again (it doubled parse time on large bundles), and our data has no cycles to collect.
    gc.disable()
    from .. import krm
    from ..limits import read_limited
    from ..stream import decode

    try:
        text = decode(read_limited(sys.stdin.buffer, "stdin"), "stdin")
    except KinjectError as exc:
        print(f"kinject: {exc}", file=sys.stderr)
        return 1
    result = krm.run(text)
    for line in result.messages:
        print(line, file=sys.stderr)
    result.write_to(sys.stdout)
    sys.stdout.flush()
    return result.exit_code
