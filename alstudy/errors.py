"""The one error type a user sees as a single line and exit code 2.

A `UsageError` keeps its parts apart — where it happened (`context`, e.g. the study file),
the key it is about (`key`, a dotted path such as `tuning.seeds`), the offending value and
the reason — so a caller adds a file name or a table path with `within` / `under` instead of
editing the message text. It reads `tuning.seeds = '0': expected a list of whole numbers`,
`evaluation.seeds is missing`, or, with a context, `study.toml: ...`.
"""

from __future__ import annotations

from typing import Any

_NO_VALUE = object()


class UsageError(Exception):
    """Bad input from a user (a name, a key, a value, a path): printed as one line, exit code 2.

    `reason` says what is wrong or what is allowed. With `key` the line starts with the key
    (and `= value` when a value is given); a reason phrased as a predicate of the key
    ("is missing", "is empty: ...") follows the key after a space, any other after ": ".
    """

    exit_code = 2

    def __init__(self, reason: str, *, key: str = "", value: Any = _NO_VALUE,
                 context: tuple[str, ...] = ()):
        self.reason, self.key, self.value, self.context = reason, key, value, tuple(context)
        super().__init__(str(self))

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def __str__(self) -> str:
        head = self.key
        if head and self.has_value:   # a flag reads as typed (`--device 'tpu'`), a file key as `key = value`
            head = f"{head} {self.value!r}" if head.startswith("-") else f"{head} = {self.value!r}"
        if not head:
            line = self.reason
        else:
            line = f"{head} {self.reason}" if self.reason.startswith("is ") else f"{head}: {self.reason}"
        return ": ".join((*self.context, line))

    def within(self, source: str) -> "UsageError":
        """The same error, said to come from `source` (a file, a dataset): `source: ...`."""
        return UsageError(self.reason, key=self.key, value=self.value, context=(source, *self.context))

    def under(self, prefix: str) -> "UsageError":
        """The same error with its key placed under the table `prefix` (`prefix.key`)."""
        key = f"{prefix}.{self.key}" if self.key else prefix
        return UsageError(self.reason, key=key, value=self.value, context=self.context)
