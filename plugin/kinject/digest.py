"""SHA-256 hex digests without `import hashlib`.

Why: `import hashlib` loads OpenSSL's libcrypto (about 3.5 MB of resident memory, a tenth of a 1,000-workload
run), and kinject only hashes a few short strings per workload. CPython's built-in SHA-256 module gives the
same digests; hashlib is the fallback on interpreters without it.
"""

from __future__ import annotations

try:
    from _sha2 import sha256 as _sha256  # CPython >= 3.12
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # CPython 3.10, 3.11
    except ImportError:  # pragma: no cover - other interpreters
        from hashlib import sha256 as _sha256


def sha256_hex(text: str, length: int = 64) -> str:
    """The first `length` hex digits of the SHA-256 of `text` (UTF-8)."""
    return _sha256(text.encode("utf-8")).hexdigest()[:length]
