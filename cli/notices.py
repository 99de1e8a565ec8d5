"""Keeps the terminal for what autolabel says: FiftyOne's notices that
repeat on every command and say nothing about the command (the bundled
MongoDB's version notice, "App launched", whose address the demo prints
itself) are left out of the CLI's and the demo's output. FiftyOne's own
``fiftyone`` commands still show them."""

import logging

#: the notices left out: (FiftyOne's logger, how the message starts)
DROPPED_NOTICES = (
    (
        "fiftyone.core.odm.database",
        "You are running the oldest supported major version of MongoDB",
    ),
    ("fiftyone.core.session.session", "App launched."),
)


class _DropNotices(logging.Filter):
    def __init__(self, prefixes):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record):
        return not record.getMessage().startswith(self.prefixes)


def quiet_fiftyone_notices():
    """Leaves :data:`DROPPED_NOTICES` out of this process's output (once per
    process; FiftyOne connects to its database on first use, after this)."""
    by_logger = {}
    for name, prefix in DROPPED_NOTICES:
        by_logger.setdefault(name, []).append(prefix)

    for name, prefixes in by_logger.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotices) for f in logger.filters):
            logger.addFilter(_DropNotices(prefixes))
