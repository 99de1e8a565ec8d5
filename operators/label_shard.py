"""Operator: label one shard of a run. Queued by ``generate`` once per
worker and executed by ``fiftyone delegated launch``."""

import fiftyone.operators as foo

from ..pipeline.worker import run_shard


class LabelShard(foo.Operator):
    #: the operator's name (the last part of its URI)
    operator_name = "label_shard"

    @property
    def config(self):
        return foo.OperatorConfig(
            name=self.operator_name,
            label="Auto Labeling: label one shard of a run",
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


class GenerateLabels(LabelShard):
    """:class:`LabelShard` under its former name: operations queued before
    the rename store this URI."""

    operator_name = "generate_labels"
