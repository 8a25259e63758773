"""One base error and its specific kinds.

Every error renders as one line: where, what was expected, what was found, what to do.
Library code raises these; only ``cli.py`` turns them into exit codes (2 for bad input,
1 for anything else).
"""

from __future__ import annotations

#: train's exit status when a signal stopped it at a checkpoint before its target steps
#: (EX_TEMPFAIL): the task is to be retried or requeued, and resumed with --resume. Not an
#: error: the CLI returns it, farm backends requeue on it and task records count it apart.
TRAIN_STOPPED = 75


class VfxDoubleError(Exception):
    """Base of every error this package raises on purpose.

    Args:
        where: the file (with ``:line`` when known), frame or field the problem is in.
        expected: what would have been valid.
        found: what was there instead.
        hint: what the user should do about it.
    """

    #: exit code the CLI uses; bad input is 2, internal failures are 1.
    exit_code = 2

    def __init__(
        self,
        where: str,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.where = where
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [self.where]
        if self.expected is not None:
            parts.append(f"expected {self.expected}")
        if self.found is not None:
            parts.append(f"found {self.found}")
        text = ": ".join(parts[:2]) + "".join(f", {p}" for p in parts[2:])
        if self.hint:
            text += f"; {self.hint}"
        return " ".join(text.split())


class ConfigError(VfxDoubleError):
    """A shot config or show defaults file is invalid."""


class LicenceError(VfxDoubleError):
    """A likeness licence is missing, tampered with, or does not grant the use."""


class MediaError(VfxDoubleError):
    """An image sequence, frame or header is missing, corrupt or of the wrong kind."""


class ColourError(VfxDoubleError):
    """An OCIO config cannot be read or a colourspace is unknown."""


class AuditError(VfxDoubleError):
    """The audit log has been edited, reordered or truncated."""


class WorkAreaError(VfxDoubleError):
    """A versioned output folder cannot be created or would overwrite earlier work."""


class TrackingError(VfxDoubleError):
    """Face tracking could not produce a usable track."""


class ProvenanceError(VfxDoubleError):
    """A signing credential, C2PA manifest or signed sidecar manifest is missing, broken
    or not what the studio trusts."""
