"""Operator: embed a run's staged labels for the App's Embeddings panel
(delegated: a model runs over every staged label)."""

import fiftyone.operators as foo

from ..pipeline import embed_labels


class EmbedLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="embed_labels",
            label="Auto Labeling: embed a run's labels",
            allow_delegated_execution=True,
            allow_immediate_execution=True,
            default_choice_to_delegated=True,
            unlisted=True,
        )

    def execute(self, ctx):
        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        key = embed_labels(
            ctx.dataset,
            ctx.params["run"],
            model=ctx.params.get("model"),
            method=ctx.params.get("method"),
            progress=progress,
        )
        return {"run": ctx.params["run"], "brain_key": key}
