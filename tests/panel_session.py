"""Drives the Auto Labeling panel the way the App does, without a browser:
each event runs the registered panel through FiftyOne's own
``ExecutionContext`` and ``Executor``, and the operations the panel
triggers (panel state and data patches, ``set_view``, notifications) are
applied to this session's copy of the App's state."""

import pydash

import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, Executor

PANEL_URI = "@autolabel/auto-labeling/auto_labeling"


class PanelSession:
    """One open Auto Labeling panel on a dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.panel = foo.get_operator(PANEL_URI)
        self.state = {}
        self.data = {}
        self.view = []
        self.filters = None
        #: the App's extended stages (a lasso in the Embeddings panel)
        self.extended = None
        self.selected = []
        self.selected_labels = []
        self.notifications = []
        self.active_fields = []
        self.reloads = 0
        self.user = None
        self.call("on_load")

    def call(self, method, /, _state=None, _view=None, **params):
        """Sends one event to the panel and applies what it triggers.

        Args:
            method: the panel method (event) name
            _state (None): the panel state the event carries, if not the
                current one (an event sent before earlier answers arrived)
            _view (None): likewise, the App's view the event carries
            **params: the event's parameters

        Returns:
            the names of the operations the panel triggered
        """
        executor = Executor()
        ctx = ExecutionContext(
            request_params=dict(
                dataset_name=self.dataset.name,
                view=self.view if _view is None else _view,
                filters=self.filters,
                extended=self.extended,
                selected=list(self.selected),
                selected_labels=list(self.selected_labels),
                active_fields=list(self.active_fields),
                params=dict(
                    params,
                    panel_id="panel-1",
                    panel_state=dict(self.state if _state is None else _state),
                    __method__=method,
                ),
            ),
            executor=executor,
        )
        ctx.user = self.user
        self.panel.execute(ctx)
        names = []
        for request in executor._requests:
            name, p = request.operator_uri, request.params or {}
            names.append(name)
            if name == "patch_panel_state":
                for k, v in p["state"].items():
                    pydash.set_(self.state, k, v)
            elif name == "patch_panel_data":
                for k, v in p["data"].items():
                    pydash.set_(self.data, k, v)
            elif name == "set_view":
                self.view = p.get("view") or []
            elif name == "notify":
                self.notifications.append(p.get("message"))
            elif name == "set_active_fields":
                self.active_fields = list(p.get("fields") or [])
            elif name == "clear_active_fields":
                self.active_fields = []
            elif name == "reload_dataset":
                self.reloads += 1
            elif name == "clear_selected_samples":
                self.selected = []
            elif name == "set_selected_samples":
                self.selected = [
                    x["id"] if isinstance(x, dict) else x
                    for x in p.get("samples") or []
                ]
            elif name == "clear_selected_labels":
                self.selected_labels = []

        # as the App does once a view the panel set is shown
        if "set_view" in names and _view is None:
            names += self.call("on_change_view")

        return names

    def card(self, name):
        """The home card of the run with this name."""
        return next(c for c in self.data["runs"] if c["name"] == name)

    def row(self, label):
        """The review table's row of a class."""
        return next(
            r for r in self.data["review"]["rows"] if r["label"] == label
        )
