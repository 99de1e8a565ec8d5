"""Operator: run a pseudo-labeling flow's next steps (sample, label,
merge, train, evaluate) until its iteration is COMPLETED or needs a person.
Queued by ``autolabel loop next`` and the panel's Loops page, executed by
``fiftyone delegated launch``."""

import fiftyone.operators as foo

from ..pipeline.loop import run_steps


class RunLoopSteps(foo.Operator):
    #: the operator's name (the last part of its URI)
    operator_name = "run_loop_steps"

    @property
    def config(self):
        return foo.OperatorConfig(
            name=self.operator_name,
            label="Auto Labeling: run a loop's next steps",
            allow_delegated_execution=True,
            allow_immediate_execution=True,
            default_choice_to_delegated=True,
            unlisted=True,
        )

    def execute(self, ctx):
        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        op_id = ctx.request_params.get("run_doc") if ctx.delegated else None
        flow = run_steps(
            ctx.dataset,
            ctx.params["flow"],
            progress=progress,
            operation_id=str(op_id) if op_id is not None else None,
        )
        it = flow.current
        return {"flow": flow.name, "iteration": it["index"], "status": it["status"]}
