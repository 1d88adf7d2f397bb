"""kinject's private per-user cache directory, shared by the compiled-template and the render caches.

Entries are only ever read from a directory this user owns and nobody else can write (else nothing is
cached), and are written atomically, so a concurrent run reads an old entry or a new one, never half of one.
"""

from __future__ import annotations

import os
from functools import lru_cache

from .digest import sha256_hex


def private_cache_dir() -> str | None:
    """$KINJECT_CACHE_DIR, else $XDG_CACHE_HOME/kinject, else ~/.cache/kinject; None when caching is off
    (KINJECT_NO_CACHE), the directory cannot be made (a read-only home), or others could write to it."""
    if os.environ.get("KINJECT_NO_CACHE"):
        return None
    return _usable(os.environ.get("KINJECT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kinject"
    ))


@lru_cache(maxsize=None)
def _usable(base: str) -> str | None:
    """Made and checked once per process and directory, whichever cache asks first."""
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.stat(base)
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return base


def entry_path(kind: str, key_text: str, suffix: str) -> str | None:
    """Where the entry for `key_text` lives (`<kind>-<digest><suffix>`), or None when there is no cache."""
    directory = private_cache_dir()
    return None if directory is None else os.path.join(directory, f"{kind}-{sha256_hex(key_text, 32)}{suffix}")


def read_entry(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a private temporary file and a rename; errors are ignored (a cache)."""
    tmp = os.path.join(os.path.dirname(path), f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
