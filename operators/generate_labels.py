"""Operator: label one shard of a run. Queued by ``generate`` once per
worker and executed by ``fiftyone delegated launch``."""

import fiftyone.operators as foo

from ..pipeline.worker import run_shard


class GenerateLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="generate_labels",
            label="Auto Labeling: generate labels (one shard)",
            allow_delegated_execution=True,
            allow_immediate_execution=True,
            default_choice_to_delegated=True,
            unlisted=True,
        )

    def execute(self, ctx):
        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        run = run_shard(
            ctx.dataset,
            ctx.params["run"],
            int(ctx.params["shard"]),
            progress=progress,
        )
        return {"run": run.key, "status": run.status}
