"""One exception family. Only the CLI prints these, as one line, and picks the exit code."""


class SeqgenError(Exception):
    """A failure the user can act on. `exit_code` 1: something went wrong at run time."""

    exit_code = 1
    label = "error"  # the CLI prints "label: message"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(SeqgenError):
    """Bad options or arguments: exit code 2, like any command-line usage error."""

    exit_code = 2


class InputError(SeqgenError):
    """An input file or corpus that cannot be used as it is."""


class RunError(SeqgenError):
    """A run or dataset folder that is missing files, corrupt, or from elsewhere."""


class TrainingDiverged(SeqgenError):
    """The loss became NaN or exploded."""


class Interrupted(SeqgenError):
    """Training stopped by a signal after saving a checkpoint; exit 128 + signal number.

    Printed as "stopped: ..." rather than "error: ...": the user asked for it and nothing was lost."""

    label = "stopped"

    def __init__(self, message: str, signum: int, hint: str | None = None):
        super().__init__(message, hint)
        self.exit_code = 128 + signum
