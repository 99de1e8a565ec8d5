"""The settings of a generation run, declared once (issue 21): ``autolabel
generate``'s options, the ``auto_label`` operator's inputs and the panel's
Configure form are the declaration's."""

import argparse

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext

from autolabel.cli import build_parser
from autolabel.pipeline.generation.declaration import GENERATION
from autolabel.pipeline.generation.settings import generation_form

from panel_session import PanelSession

#: the options of ``autolabel generate`` that are not settings of the run
COMMAND_OWN = {
    "help",
    "quiet",
    "dataset",
    "view_file",
    "sample_ids_file",
    "most_unique",
    "most_representative",
    "rank_model",
    "now",
    "test",
}

OWL = "owlv2-base-patch16"

COMBINATIONS = (
    # detection with a fixed model: no iterative passes
    {"task": "detection", "model": "yolo11n", "label_field": "x"},
    # instance segmentation, two-stage
    {
        "task": "instance_segmentation",
        "method": "two_stage",
        "model": "yolo11n",
        "seg_model": "sam-vit-b",
        "label_field": "x",
    },
    # iterative passes merged with DBSCAN
    {
        "task": "detection",
        "model": OWL,
        "classes": ["cat"],
        "label_field": "x",
        "passes": "0.5,0.3",
        "aggregate": "dbscan",
    },
)


def _generate_parser():
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["generate"]


def test_generate_options_are_the_declaration():
    actions = {a.dest: a for a in _generate_parser()._actions}
    declared = [s for s in GENERATION if s.cli]
    assert set(actions) - COMMAND_OWN == {s.name for s in declared}
    for setting in declared:
        action = actions[setting.name]
        option = "--slice" if setting.name == "slices" else setting.option
        assert action.option_strings == [option], setting.name
        # the default is the declaration's, said by the help (the
        # repeatable --slice words its help itself)
        if setting.name == "slices":
            assert action.help.endswith("(default: every image slice)")
        else:
            assert action.help == setting.help_text(), setting.name
        assert action.default is None, setting.name
        assert action.required == setting.always_required, setting.name
        if setting.static_choices:
            assert action.choices == [c.value for c in setting.choices()]
        if setting.metavar:
            assert action.metavar == setting.metavar, setting.name

    # the options the README documents keep their names and placeholders
    assert actions["seg_model"].metavar == "MODEL"
    assert actions["passes"].metavar == "T1,T2,..."
    assert isinstance(actions["slices"], argparse._AppendAction)
    assert actions["schedule"].choices == ["step", "exponential", "cosine"]


def test_operator_inputs_are_the_form(make_dataset):
    dataset = make_dataset([fo.Sample(filepath="/tmp/a.jpg")])
    uri = "@autolabel/auto-labeling/auto_label"
    for params in COMBINATIONS:
        ctx = ExecutionContext(
            request_params=dict(dataset_name=dataset.name, params=params)
        )
        props = foo.get_operator(uri).resolve_input(ctx).type.properties
        form = GENERATION.form(params, {"dataset": dataset})
        fields = [f["name"] for f in form["fields"]]
        assert [p for p in props if p in GENERATION.names] == fields, params
        for field in form["fields"]:
            assert props[field["name"]].invalid == bool(field["error"])

    # what applies follows the choices
    two_stage = GENERATION.form(COMBINATIONS[1])["fields"]
    names = {f["name"] for f in two_stage}
    assert {"method", "seg_model", "mask_dir"} <= names
    assert "existing_field" not in names and "passes" not in names
    iterative = {f["name"] for f in GENERATION.form(COMBINATIONS[2])["fields"]}
    assert {"passes", "aggregate", "eps", "requery"} <= iterative
    assert not {"iou", "schedule", "start", "method"} & iterative
    fixed = {f["name"] for f in GENERATION.form(COMBINATIONS[0])["fields"]}
    assert not {"passes", "schedule", "aggregate"} & fixed


def test_the_operator_offers_the_video_settings_where_there_are_videos(make_dataset):
    video = {"frame_step", "tracker", "propagate"}
    uri = "@autolabel/auto-labeling/auto_label"
    params = {"task": "instance_segmentation", "model": "yolo11n-seg"}
    images = make_dataset([fo.Sample(filepath="/tmp/a.jpg")])
    videos = make_dataset([fo.Sample(filepath="/tmp/a.mp4")])
    for dataset, offered in ((images, set()), (videos, video)):
        ctx = ExecutionContext(
            request_params=dict(dataset_name=dataset.name, params=params)
        )
        props = foo.get_operator(uri).resolve_input(ctx).type.properties
        assert video & set(props) == offered, dataset.media_type
        panel = {f["name"] for f in generation_form(dataset, params)["fields"]}
        assert video & panel == offered


def test_the_configure_form_is_the_declarations(make_dataset):
    dataset = make_dataset([fo.Sample(filepath="/tmp/a.jpg")])
    session = PanelSession(dataset)
    session.call("show_configure")
    shown = session.data["configure_form"]
    assert shown["form"] == generation_form(dataset, shown["values"])
    assert not shown["form"]["ready"]

    # the form of the values the panel settled (what the user typed, kept,
    # and what it prefills)
    for values in COMBINATIONS:
        session.call("change_configure", field="task", values=values)
        shown = session.data["configure_form"]
        assert shown["form"] == generation_form(dataset, shown["values"])
        assert {k: shown["values"][k] for k in values} == values

    # each field's error as the user types: a taken label field, a model
    # that does not do the task
    values = {"task": "detection", "model": "yolo11n-cls",
              "label_field": "filepath"}
    session.call("change_configure", field="label_field", values=values)
    form = session.data["configure_form"]["form"]
    errors = {f["name"]: f["error"] for f in form["fields"]}
    assert "already exists" in errors["label_field"]
    assert "does not do detection" in errors["model"]
    assert not form["ready"]
    # the model's description and ratings come with its choice
    models = next(f for f in form["fields"] if f["name"] == "model")
    yolo = next(c for c in models["choices"] if c["value"] == "yolo11n")
    assert "speed" in yolo["description"]
    assert "performance" in yolo["description"]


def test_the_configure_form_prefills_checks_and_previews_in_python(
    make_dataset,
):
    # what the Configure page showed by its own rules, now Python's: the
    # kind of model, the model and its minimum confidence, the class
    # picker, one pass or iterative passes, the preview, why Start waits
    from autolabel.models import registry as mr
    from autolabel.pipeline.generation.declaration import (
        PANEL_ONLY,
        generate_arguments,
    )
    from autolabel.pipeline.zeroshot.annealing import pass_thresholds

    dataset = make_dataset([fo.Sample(filepath="/tmp/a.jpg")])
    session = PanelSession(dataset)
    session.call("show_configure")

    def change(field, **values):
        shown = session.data["configure_form"]
        values = dict(shown["values"], **values)
        session.call("change_configure", field=field, values=values, seq=7)
        shown = session.data["configure_form"]
        assert shown["seq"] == 7
        return shown, {f["name"]: f for f in shown["form"]["fields"]}

    shown, fields = change("task", task="detection")
    model = mr.get_model(shown["values"]["model"])
    assert shown["values"]["model_kind"] == "fixed" and not model.zero_shot
    assert shown["values"]["min_confidence"] == str(model.default_confidence)
    assert [c["value"] for c in fields["classes"]["choices"]] == list(
        model.vocabulary
    )
    assert shown["model"]["name"] == model.name and shown["model"]["description"]
    assert shown["reason"] == (
        shown["model"]["unavailable"] or "Needs the label field"
    )
    assert "labeling" not in fields  # a fixed model labels in one pass

    shown, fields = change("model_kind", model_kind="zero_shot")
    assert mr.get_model(shown["values"]["model"]).zero_shot
    assert fields["classes"]["choices"] is None

    shown, fields = change("model", model=OWL)
    shown, fields = change("labeling", labeling="iterative", classes="cat")
    assert "min_confidence" not in fields
    assert shown["values"]["thresholds_from"] == "schedule"
    assert shown["preview"]["thresholds"] == pass_thresholds(
        schedule=shown["values"]["schedule"], start=0.5, floor=0.1, max_passes=5
    )

    shown, fields = change("floor", floor="0.9")
    assert "floor 0.9 is not below the start" in shown["preview"]["error"]
    assert shown["preview"]["thresholds"] is None

    # the panel's own settings are no option of the CLI and reach no run
    dests = {a.dest for a in _generate_parser()._actions}
    assert not set(PANEL_ONLY) & dests
    kwargs = generate_arguments(shown["values"], form=True)
    assert not set(PANEL_ONLY) & set(kwargs)
    assert kwargs["annealing"]["floor"] == 0.9


def test_the_minimum_confidence_follows_the_model_until_the_user_types_one(
    make_dataset,
):
    # a user who picks a model and types at once sends the next change
    # before the answer to the first: it still carries the earlier
    # model's minimum confidence, which must not stay
    from autolabel.models import registry as mr

    dataset = make_dataset([fo.Sample(filepath="/tmp/a.jpg")])
    session = PanelSession(dataset)
    session.call("show_configure")
    for field, value in (
        ("task", "detection"), ("model_kind", "zero_shot"), ("model", OWL)
    ):
        values = dict(session.data["configure_form"]["values"], **{field: value})
        session.call("change_configure", field=field, values=values)
    before = session.data["configure_form"]["values"]
    assert before["min_confidence"] == str(mr.get_model(OWL).default_confidence)
    dino = "grounding-dino-tiny"
    assert mr.get_model(dino).default_confidence != mr.get_model(OWL).default_confidence

    # the change of model (its answer is dropped: an older seq)
    session.call(
        "change_configure", field="model", values=dict(before, model=dino)
    )
    # the typing that followed, sent with the values before that answer
    typed = dict(before, model=dino, label_field="dino")
    session.call("change_configure", field="label_field", values=typed)
    values = session.data["configure_form"]["values"]
    assert values["model"] == dino
    assert values["min_confidence"] == str(mr.get_model(dino).default_confidence)

    # a confidence the user typed stays, whatever comes later
    session.call(
        "change_configure",
        field="min_confidence",
        values=dict(values, min_confidence="0.42"),
    )
    values = session.data["configure_form"]["values"]
    session.call(
        "change_configure", field="label_field", values=dict(values, label_field="x")
    )
    assert session.data["configure_form"]["values"]["min_confidence"] == "0.42"
