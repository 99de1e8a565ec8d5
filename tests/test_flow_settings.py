"""The settings of a flow and of an audit, declared once (issue 21): the
options of ``autolabel loop create``, ``loop edit`` and ``audit start`` are
their declarations', and so are the panel's new-flow and edit forms, which
Python checks as the user changes them."""

import argparse

import pytest

from autolabel.cli import build_parser, main
from autolabel.demo.data import generate_samples
from autolabel.pipeline import AutolabelError
from autolabel.pipeline import loop as L
from autolabel.pipeline.loop.declaration import EDIT, FLOW, editable_settings
from autolabel.pipeline.quality.declaration import AUDIT, THRESHOLDS
from panel_session import PanelSession

#: options every command has, or that name what it acts on
OWN = {"help", "quiet", "dataset", "flow", "run", "json"}


@pytest.fixture
def dataset(make_dataset, tmp_path):
    """20 demo images with ``ground_truth``; 6 tagged initial, 6 val."""
    dataset = make_dataset(generate_samples(tmp_path, num_samples=20, seed=3))
    ids = dataset.values("id")
    dataset.select(ids[:6]).tag_samples("initial")
    dataset.select(ids[6:12]).tag_samples("val")
    return dataset


def _subparser(*names):
    parser = build_parser()
    for name in names:
        action = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        parser = action.choices[name]

    return parser


def _options(parser):
    return {a.dest: a for a in parser._actions if a.dest not in OWN}


def _assert_options_are(parser, settings):
    options = _options(parser)
    declared = {s.name: s for s in settings if s.cli}
    assert set(options) == set(declared)
    for name, setting in declared.items():
        action = options[name]
        assert action.option_strings == [setting.option]
        # None: the declaration's check fills the default, and --help says it
        assert action.default is None
        assert setting.help_text() == action.help
        choices = setting.choices() if setting.static_choices else None
        assert action.choices == (
            [c.value for c in choices] if choices is not None else None
        )


def test_the_cli_options_are_the_declarations():
    _assert_options_are(_subparser("loop", "create"), FLOW)
    _assert_options_are(_subparser("loop", "edit"), EDIT)
    _assert_options_are(_subparser("audit", "start"), AUDIT)
    _assert_options_are(_subparser("audit", "report"), THRESHOLDS)
    _assert_options_are(_subparser("thresholds"), THRESHOLDS)
    assert set(EDIT.names) == {"device", "epochs", "batch", "validation", "train_config"}
    # as the README documents them
    create = _options(_subparser("loop", "create"))
    assert create["initial"].metavar == "TAG" and create["pool"].metavar == "TAG"
    assert create["name"].required and create["human_field"].required
    assert FLOW.defaults()["model"] == "yolo11n"
    assert FLOW.defaults()["sample_size"] == 100
    assert AUDIT.defaults()["size"] == 200


def test_the_acceptance_rule_is_one_of_two_and_segmentation_stays_a_task(
    capsys, dataset
):
    base = [
        "loop", "create", dataset.name, "--name", "f", "--human-field",
        "ground_truth", "--initial", "initial", "--validation", "val",
        "--sample-size", "4", "--mode", "automatic",
    ]
    code = main(base + ["--min-confidence", "0.5", "--precision", "0.9"])
    err = capsys.readouterr().err
    assert code == 2 and "not allowed with argument" in err
    assert len(err.strip().splitlines()) == 1

    code = main(base + ["--task", "bogus"])
    err = capsys.readouterr().err
    assert code == 2 and "task is detection or segmentation" in err
    assert L.list_flows(dataset) == []

    assert main(base + ["--task", "segmentation", "--model", "yolo11n-seg"]) == 0
    assert L.get_flow(dataset, "f").task == "instance_segmentation"

    base[base.index("f")] = "g"
    assert main(base + ["--precision", "0.9"]) == 0
    flow = L.get_flow(dataset, "g")
    assert flow.precision == 0.9 and flow.min_confidence is None


def test_the_panels_forms_are_the_declarations_checked_as_typed(dataset):
    session = PanelSession(dataset)
    session.call("show_loops")
    session.call("show_create_flow")
    form = session.data["loop_form"]
    context = {"dataset": dataset}
    assert form["form"] == FLOW.form(form["values"], context)
    names = [f["name"] for f in form["form"]["fields"]]
    # manual mode: no acceptance rule to set
    assert "min_confidence" not in names and "accept_by" not in names
    assert form["form"]["ready"]

    values = dict(form["values"], mode="automatic", sample_size="abc")
    session.call("change_flow_form", values=values)
    form = session.data["loop_form"]
    assert form["form"] == FLOW.form(values, context)
    fields = {f["name"]: f for f in form["form"]["fields"]}
    assert "min_confidence" in fields and "precision" not in fields
    assert "sample size" in fields["sample_size"]["error"]
    assert not form["form"]["ready"]

    values = dict(values, sample_size="4", accept_by="precision", precision="1.5")
    session.call("change_flow_form", values=values)
    fields = {f["name"]: f for f in session.data["loop_form"]["form"]["fields"]}
    assert "min_confidence" not in fields
    assert "precision must be in (0, 1)" in fields["precision"]["error"]

    values = dict(values, precision="0.9")
    session.call("change_flow_form", values=values)
    assert session.data["loop_form"]["form"]["ready"]
    shown = {
        f["name"]: values.get(f["name"], "")
        for f in session.data["loop_form"]["form"]["fields"]
    }
    session.call("create_flow", **shown)
    assert session.data["error"] is None, session.data["error"]
    flow = L.get_flow(dataset, values["name"])
    assert flow.precision == 0.9 and flow.sample_size == 4

    session.call("show_edit_flow", flow=flow.name)
    edit = session.data["loop_edit"]
    assert edit["form"] == editable_settings(flow).form(
        edit["values"], dict(context, flow=flow)
    )
    session.call(
        "change_flow_edit", flow=flow.name, values=dict(edit["values"], epochs="0")
    )
    fields = {f["name"]: f for f in session.data["loop_edit"]["form"]["fields"]}
    assert "epochs must be a whole number of at least 1" in fields["epochs"]["error"]
    assert L.get_flow(dataset, flow.name).train["epochs"] == 50


def test_the_audit_draw_is_checked_by_its_declaration(capsys, dataset):
    for bad, words in (
        ({"size": 0}, "audit size must be a whole number of at least 1"),
        ({"size": "many"}, "audit size must be a whole number"),
        ({"seed": -1}, "audit seed must be a whole number of at least 0"),
    ):
        with pytest.raises(AutolabelError) as e:
            AUDIT.check(bad)
        assert words in str(e.value) and "\n" not in str(e.value)

    assert AUDIT.check({}) == {"size": 200, "seed": None, "replace": False}
    assert THRESHOLDS.check({})["precision"] == 0.95
    code = main(["thresholds", dataset.name, "nothing", "--precision", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "precision must be a number between 0 and 1" in err
    assert len(err.strip().splitlines()) == 1


def test_the_framework_additions_noun_check_aliases_visible_but():
    from autolabel.pipeline.declarations import CHOICE, NUMBER, Setting, Settings

    def small(value, values, context):
        if value > context.get("largest", 1):
            raise AutolabelError("the ratio must be small, not %r" % value)

    decl = Settings("a job", [
        Setting("shape", CHOICE, "Shape", "a shape", default="box",
                choices=["box", "disc"], aliases={"square": "box"}),
        Setting("ratio", NUMBER, "Ratio", "a ratio", minimum=0, maximum=5,
                noun="the ratio", check=small,
                visible=lambda v: v["shape"] == "disc"),
    ])
    assert decl.check({"shape": "square"})["shape"] == "box"
    with pytest.raises(AutolabelError, match="the ratio must be small, not 2.0"):
        decl.check({"ratio": "2"})
    with pytest.raises(AutolabelError, match="the ratio must be a number"):
        decl.check({"ratio": "wide"})
    assert decl.check({"ratio": "2"}, {"largest": 3})["ratio"] == 2.0
    # hidden in the form (and not checked there), still checked for callers
    assert [f["name"] for f in decl.form({"ratio": "9"})["fields"]] == ["shape"]
    assert decl.form({"ratio": "9"})["ready"]
    optional = decl["shape"].but(default=None, default_help="unchanged")
    assert optional.default is None and decl["shape"].default == "box"
    assert optional.check("square") == "box"
