"""The base of this plugin's background operators: unlisted, delegated by
default, run by ``fiftyone delegated launch`` (or here and now), with their
progress reported to the delegated operation."""

import fiftyone.operators as foo


class DelegatedOperator(foo.Operator):
    """An unlisted operator that runs in a delegated operation by default.

    Subclasses set :attr:`operator_name` and :attr:`label` and implement
    ``execute``; :meth:`progress_of` gives them the ``progress(fraction,
    label)`` callable the pipeline functions take.
    """

    #: the operator's name (the last part of its URI)
    operator_name = None
    #: what the App's operations list calls it
    label = None

    @property
    def config(self):
        return foo.OperatorConfig(
            name=self.operator_name,
            label=self.label,
            allow_delegated_execution=True,
            allow_immediate_execution=True,
            default_choice_to_delegated=True,
            unlisted=True,
        )

    @staticmethod
    def progress_of(ctx):
        """The ``progress(fraction, label)`` callable that reports to the
        operation.

        Args:
            ctx: the :class:`fiftyone.operators.ExecutionContext`

        Returns:
            a callable
        """

        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        return progress
