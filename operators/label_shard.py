"""Operator: label one shard of a run. Queued by ``generate`` once per
worker and executed by ``fiftyone delegated launch``."""

from ..pipeline.generation.worker import run_shard
from .delegated import DelegatedOperator


class LabelShard(DelegatedOperator):
    operator_name = "label_shard"
    label = "Auto Labeling: label one shard of a run"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        run = run_shard(
            ctx.dataset,
            ctx.params["run"],
            int(ctx.params["shard"]),
            progress=progress,
        )
        return {"run": run.key, "status": run.status}
