"""Operator: run a pseudo-labeling flow's next steps (sample, label,
merge, train, evaluate) until its iteration is COMPLETED or needs a person.
Queued by ``autolabel loop next`` and the panel's Loops page, executed by
``fiftyone delegated launch``."""

from ..pipeline.loop import run_steps
from .delegated import DelegatedOperator


class RunLoopSteps(DelegatedOperator):
    operator_name = "run_loop_steps"
    label = "Auto Labeling: run a loop's next steps"

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        op_id = ctx.request_params.get("run_doc") if ctx.delegated else None
        flow = run_steps(
            ctx.dataset,
            ctx.params["flow"],
            progress=progress,
            operation_id=str(op_id) if op_id is not None else None,
        )
        it = flow.current
        return {"flow": flow.name, "iteration": it["index"], "status": it["status"]}
