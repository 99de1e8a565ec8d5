"""Operator: run a pseudo-labeling flow's next steps (sample, label,
merge, train, evaluate) until its iterations asked for are COMPLETED or one
needs a person; its inputs are ``autolabel loop next``'s declaration.
Queued by ``autolabel loop next`` and the panel's Loops page, executed by
``fiftyone delegated launch``."""

from fiftyone.operators import types

from ..pipeline.loop import run_steps
from ..pipeline.loop.declaration import NEXT
from ..pipeline.loop.flows import find_flow
from .delegated import DelegatedOperator


class RunLoopSteps(DelegatedOperator):
    operator_name = "run_loop_steps"
    label = "Auto Labeling: run a loop's next steps"

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str("flow", label="Flow", description="the flow's name", required=True)
        # the settings of `autolabel loop next`: the inputs are the declaration's
        flow = find_flow(ctx.dataset, ctx.params.get("flow"))
        NEXT.add_inputs(inputs, ctx.params, {"dataset": ctx.dataset, "flow": flow})
        return types.Property(inputs)

    def execute(self, ctx):
        progress = self.progress_of(ctx)
        op_id = ctx.request_params.get("run_doc") if ctx.delegated else None
        flow = run_steps(
            ctx.dataset,
            ctx.params["flow"],
            progress=progress,
            operation_id=str(op_id) if op_id is not None else None,
            **{name: ctx.params.get(name) for name in NEXT.names},
        )
        it = flow.current
        return {"flow": flow.name, "iteration": it["index"], "status": it["status"]}
