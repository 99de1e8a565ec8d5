"""Operator: find a run's likely mistakes against another run or field
(delegated: the Brain's mistakenness and an evaluation over every staged
label)."""

import fiftyone.operators as foo

from ..pipeline import compute_mistakes


class ComputeMistakes(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="compute_mistakes",
            label="Auto Labeling: find a run's likely mistakes",
            allow_delegated_execution=True,
            allow_immediate_execution=True,
            default_choice_to_delegated=True,
            unlisted=True,
        )

    def execute(self, ctx):
        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        summary = compute_mistakes(
            ctx.dataset,
            ctx.params["run"],
            ctx.params["against"],
            progress=progress,
        )
        return {"run": ctx.params["run"], "summary": summary}
