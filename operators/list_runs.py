"""Operator: list the auto-labeling runs of the dataset."""

import fiftyone.operators as foo

from ..pipeline import list_runs


class ListRuns(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="list_runs",
            label="Auto Labeling: list runs",
            unlisted=True,
        )

    def execute(self, ctx):
        return {"runs": [r.to_dict() for r in list_runs(ctx.dataset)]}
