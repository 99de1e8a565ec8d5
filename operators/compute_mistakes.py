"""Operator: find a run's likely mistakes against another run or field
(delegated: the Brain's mistakenness and an evaluation over every staged
label)."""

from ..pipeline import compute_mistakes
from .delegated import DelegatedOperator


class ComputeMistakes(DelegatedOperator):
    operator_name = "compute_mistakes"
    label = "Auto Labeling: find a run's likely mistakes"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        summary = compute_mistakes(
            ctx.dataset,
            ctx.params["run"],
            ctx.params["against"],
            progress=progress,
        )
        return {"run": ctx.params["run"], "summary": summary}
