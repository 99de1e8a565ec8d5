"""Operator: embed a run's staged labels for the App's Embeddings panel
(delegated: a model runs over every staged label)."""

from ..pipeline import embed_labels
from .delegated import DelegatedOperator


class EmbedLabels(DelegatedOperator):
    operator_name = "embed_labels"
    label = "Auto Labeling: embed a run's labels"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        key = embed_labels(
            ctx.dataset,
            ctx.params["run"],
            model=ctx.params.get("model"),
            method=ctx.params.get("method"),
            progress=progress,
        )
        return {"run": ctx.params["run"], "brain_key": key}
