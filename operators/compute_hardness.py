"""Operator: compute the Brain's hardness of a classification run's samples
(delegated: the entropy of every staged label's logits)."""

from ..pipeline.brain import compute_hardness
from .delegated import DelegatedOperator


class ComputeHardness(DelegatedOperator):
    operator_name = "compute_hardness"
    label = "Auto Labeling: compute the hardness of a run's samples"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        summary = compute_hardness(
            ctx.dataset, ctx.params["run"], progress=progress
        )
        return {"run": ctx.params["run"], "summary": summary}
