"""Writing files so that an error or a crash never leaves one half-written."""

from __future__ import annotations

import os
import tempfile


def write_all_atomic(changes: list[tuple[str, str]]) -> None:
    """Write several files so that either all of them change or none does.

    Every new text is first written to a temporary file beside its target, and every target is hard-linked
    to a backup; only then are the temporary files renamed over the targets. If a rename fails, the targets
    already replaced are put back from their backups. Raises KinjectError naming the file and the reason."""
    from .errors import KinjectError

    temps: list[tuple[str, str]] = []
    backups: dict[str, str] = {}
    done: list[str] = []
    try:
        for path, text in changes:
            directory = os.path.dirname(os.path.abspath(path))
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else None
            fd, tmp = tempfile.mkstemp(prefix=".kinject-", dir=directory)
            temps.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            if os.path.lexists(path):
                backup = tempfile.mktemp(prefix=".kinject-backup-", dir=directory)
                os.link(path, backup, follow_symlinks=False)
                backups[path] = backup
        for tmp, path in temps:
            os.replace(tmp, path)
            done.append(path)
    except OSError as exc:
        for path in reversed(done):  # put back what was already replaced
            if path in backups:
                os.replace(backups.pop(path), path)
        raise KinjectError(f"cannot write {exc.filename or 'the files'}: {exc.strerror}; no file was changed") \
            from None
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for backup in backups.values():
            if os.path.lexists(backup):
                os.unlink(backup)
