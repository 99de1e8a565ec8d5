"""Settings declared once (issue 21): one declaration checks every caller's
values and makes the CLI's options, the operators' inputs and the panel's
form; here on a small declaration of the kinds the jobs use."""

import argparse

import pytest

from autolabel.pipeline import AutolabelError
from autolabel.pipeline.declarations import (
    CHOICE,
    INTEGER,
    LIST,
    NUMBER,
    TEXT,
    Setting,
    Settings,
)

SHAPES = Settings(
    "a shape run",
    [
        Setting("shape", CHOICE, "Shape", "what to draw", required=True,
                choices=[("box", "Box"), ("disc", "Disc")]),
        Setting("size", INTEGER, "Size", "pixels", default=8, minimum=1),
        Setting("radius", NUMBER, "Radius", "of a disc", default=0.5,
                minimum=0, maximum=1, applies=lambda v: v["shape"] == "disc"),
        Setting("tool", CHOICE, "Tool", "what draws it",
                choices=lambda v, ctx: ctx.get("tools", {}).get(v["shape"], [])),
        Setting("tags", LIST, "Tags", "sample tags"),
        Setting("name", TEXT, "Name", "a name"),
    ],
)


def test_the_declaration_checks_values_and_fills_defaults():
    ctx = {"tools": {"disc": ["compass"]}}
    values = SHAPES.check(
        {"shape": "disc", "size": "12", "tags": "a, b", "tool": "compass"}, ctx
    )
    assert values == {"shape": "disc", "size": 12, "radius": 0.5,
                      "tool": "compass", "tags": ["a", "b"], "name": None}
    # a setting that does not apply is not checked nor kept
    assert SHAPES.check({"shape": "box", "radius": 7})["radius"] is None

    for bad, words in (
        ({"shape": "star"}, "shape 'star' is not one of box, disc"),
        ({"shape": "box", "size": 0}, "size must be a whole number of at least 1"),
        ({"shape": "box", "size": True}, "size must be a whole number"),
        ({"shape": "disc", "radius": "wide"}, "radius must be a number between 0 and 1"),
        ({"shape": "disc", "tool": "brush"}, "tool 'brush' is not one of"),
        ({}, "a shape run needs shape"),
    ):
        with pytest.raises(AutolabelError) as e:
            SHAPES.check(bad, ctx)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_the_form_shows_what_applies_with_choices_errors_and_readiness():
    form = SHAPES.form({"shape": "box", "size": "-2"})
    names = [f["name"] for f in form["fields"]]
    assert names == ["shape", "size", "tool", "tags", "name"]  # no radius
    size = form["fields"][1]
    assert size["error"] and size["value"] == "-2" and not form["ready"]
    assert form["fields"][0]["choices"][1] == {
        "value": "disc", "label": "Disc", "description": None}

    form = SHAPES.form({"shape": "disc"}, {"tools": {"disc": ["compass"]}})
    assert form["ready"] and "radius" in [f["name"] for f in form["fields"]]
    assert [c["value"] for c in form["fields"][3]["choices"]] == ["compass"]
    assert not SHAPES.form({})["ready"]  # the required shape is missing
    assert not SHAPES.form({"shape": "box"}, error="no such model")["ready"]


def test_the_cli_options_are_the_declaration(capsys):
    parser = argparse.ArgumentParser(prog="shapes")
    SHAPES.add_arguments(parser)
    args = parser.parse_args(["--shape", "disc", "--radius", "0.25"])
    assert SHAPES.from_args(args)["radius"] == 0.25
    assert SHAPES.from_args(args)["size"] is None  # the default applies later
    options = {a.dest: a for a in parser._actions if a.dest in SHAPES.names}
    assert set(options) == set(SHAPES.names)
    assert options["shape"].choices == ["box", "disc"] and options["shape"].required
    assert "(default: 8)" in options["size"].help

    with pytest.raises(SystemExit):
        parser.parse_args(["--shape", "box", "--size", "0"])
    assert "size must be a whole number of at least 1" in capsys.readouterr().err
