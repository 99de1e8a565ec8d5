"""Operator: embed the images of a run's samples and compute their
uniqueness (delegated: a model runs over every image of the run)."""

from ..pipeline.brain import embed_images
from .delegated import DelegatedOperator


class EmbedImages(DelegatedOperator):
    operator_name = "embed_images"
    label = "Auto Labeling: embed a run's images and their uniqueness"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        summary = embed_images(
            ctx.dataset,
            ctx.params["run"],
            model=ctx.params.get("model"),
            method=ctx.params.get("method"),
            progress=progress,
        )
        return {"run": ctx.params["run"], "summary": summary}
