"""The error every layer raises for user errors."""


class AutolabelError(ValueError):
    """A user error: bad input or an action that the run's state forbids.

    The message is one line that names the problem and what to do. Whatever
    raised it changed nothing.
    """
