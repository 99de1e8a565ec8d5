"""Vision-language models, models side: their answers read into labels
(Qwen2.5-VL's JSON boxes, Florence-2's ``<loc_*>`` tokens, class names,
yes / no, captions, regions; well-formed and malformed: a problem, never an
exception), the catalog entries, and tiny randomly initialised Qwen2.5-VL
and Florence-2 loaded through the real loading code (and added with a real
``autolabel models add``) answering every task they do. The tiny models
given an ``answer`` are the real models whose saved generation config
makes transformers' own greedy decoding answer that text (no mocks)."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fiftyone as fo

from autolabel.errors import AutolabelError
from autolabel.models import catalog as mc
from autolabel.models import registry as mr
from autolabel.models.base import VlmExample, VlmRequest
from autolabel.models.transformers_models import vlm_answers as A
import tiny_models as tu

# Answers in the documented formats ------------------------------------------

#: Florence-2 base's ``<OD>`` answer on transformers' test image car.jpg
#: (640x480), and the boxes its processor reads from it
#: (tests/models/florence2/test_modeling_florence2.py)
FLORENCE_OD = (
    "</s><s>car<loc_53><loc_333><loc_933><loc_774>door handle<loc_425>"
    "<loc_503><loc_474><loc_515>wheel<loc_709><loc_576><loc_865><loc_772>"
    "<loc_150><loc_584><loc_309><loc_773></s><pad><pad>"
)
FLORENCE_OD_BOXES = [
    ("car", [34, 160, 597, 371]),
    ("door handle", [272, 241, 303, 247]),
    ("wheel", [454, 276, 553, 370]),
    ("wheel", [96, 280, 198, 371]),
]

QWEN_BOXES = """```json
[
  {"bbox_2d": [10, 20, 110, 220], "label": "Forklifts"},
  {"bbox_2d": [300, 40, 420, 90], "label": "pallet"}
]
```"""


def _boxes(answer):
    return [
        (label, [round(float(v)) for v in box])
        for label, box in zip(
            answer.predictions.labels, answer.predictions.boxes
        )
    ]


def _reasons(answer):
    return sorted(reason for reason, _ in answer.problems)


def test_qwen_json_boxes_become_detections_of_the_classes_in_image_pixels():
    # the model saw the image resized to half its size: boxes scale back
    answer = A.parse_json_detections(
        QWEN_BOXES, ["forklift", "pallet"], 1000, 800, scale=(2.0, 2.0)
    )
    assert not answer.failed and answer.problems == []
    assert _boxes(answer) == [
        ("forklift", [20, 40, 220, 440]),
        ("pallet", [600, 80, 840, 180]),
    ]
    assert answer.text == QWEN_BOXES

    # one object, not in a list; "[]" is an answer: nothing there
    one = A.parse_json_detections(
        '{"bbox_2d": [1, 2, 3, 4], "label": "pallet"}', ["pallet"], 10, 10
    )
    assert _boxes(one) == [("pallet", [1, 2, 3, 4])]
    lines = A.parse_json_detections(
        '{"bbox_2d": [1, 2, 3, 4], "label": "pallet"}\n'
        '{"bbox_2d": [5, 6, 7, 8], "label": "pallet"}',
        ["pallet"],
        10,
        10,
    )
    assert _boxes(lines) == [("pallet", [1, 2, 3, 4]), ("pallet", [5, 6, 7, 8])]
    none = A.parse_json_detections("[]", ["pallet"], 10, 10)
    assert not none.failed and len(none.predictions) == 0
    assert none.problems == []


def test_bad_labels_of_a_readable_json_answer_are_dropped_and_counted():
    text = (
        '[{"bbox_2d": [10, 10, 50, 50], "label": "cat"},'
        ' {"bbox_2d": [90, 90, 150, 150], "label": "cat"},'
        ' {"bbox_2d": [200, 200, 300, 300], "label": "cat"},'
        ' {"bbox_2d": [10, 10, 50, 50], "label": "giraffe"},'
        ' {"bbox_2d": [10, 10, 50], "label": "cat"},'
        ' {"box": "left", "label": "cat"}]'
    )
    answer = A.parse_json_detections(text, ["cat"], 100, 100)
    assert not answer.failed
    # partly outside: clipped; wholly outside: dropped
    assert _boxes(answer) == [
        ("cat", [10, 10, 50, 50]),
        ("cat", [90, 90, 100, 100]),
    ]
    assert _reasons(answer) == [
        A.PROBLEM_OUTSIDE,
        A.PROBLEM_UNKNOWN_CLASS,
        A.PROBLEM_UNPARSEABLE,
        A.PROBLEM_UNPARSEABLE,
    ]
    assert all(reason in A.PROBLEMS for reason, _ in answer.problems)
    assert "giraffe" in dict(
        (r, d) for r, d in answer.problems if r == A.PROBLEM_UNKNOWN_CLASS
    )[A.PROBLEM_UNKNOWN_CLASS]


def test_unreadable_json_answers_fail_their_sample_with_one_reason():
    for text, reason in (
        ("", A.PROBLEM_EMPTY),
        ("   \n", A.PROBLEM_EMPTY),
        ("<|im_end|>", A.PROBLEM_EMPTY),
        ("I see two cats on a sofa.", A.PROBLEM_UNPARSEABLE),
        ('[{"bbox_2d": [1, 2', A.PROBLEM_UNPARSEABLE),
        ("[1, 2, 3]", A.PROBLEM_UNPARSEABLE),
        ("null", A.PROBLEM_UNPARSEABLE),
        ('{"bbox_2d": [1, 2, 3, 4], "label": "cat"', A.PROBLEM_UNPARSEABLE),
    ):
        answer = A.parse_json_detections(text, ["cat"], 100, 100)
        assert answer.failed, text
        assert answer.predictions is None and answer.captions is None
        assert _reasons(answer)[0] == reason, text
        assert answer.text == text


def test_a_json_answer_cut_short_keeps_its_complete_boxes():
    text = (
        '[{"bbox_2d": [1, 2, 30, 40], "label": "cat"}, '
        '{"bbox_2d": [5, 6, 7'
    )
    answer = A.parse_json_detections(text, ["cat"], 100, 100)
    assert not answer.failed
    assert _boxes(answer) == [("cat", [1, 2, 30, 40])]
    assert _reasons(answer) == [A.PROBLEM_UNPARSEABLE]


def test_grounding_a_phrase_keeps_the_models_labels():
    answer = A.parse_json_detections(
        '[{"bbox_2d": [1, 2, 30, 40], "label": "forklift with a load"}]',
        None,
        100,
        100,
    )
    assert _boxes(answer) == [("forklift with a load", [1, 2, 30, 40])]


def test_florence_loc_tokens_become_the_boxes_its_processor_reads():
    answer = A.parse_loc_detections(
        FLORENCE_OD, ["car", "door handle", "wheel"], 640, 480
    )
    assert not answer.failed and answer.problems == []
    labels = answer.predictions.labels
    assert labels == [label for label, _ in FLORENCE_OD_BOXES]
    # its processor truncates to whole pixels; within a pixel of it
    for got, (_, want) in zip(answer.predictions.boxes, FLORENCE_OD_BOXES):
        assert np.abs(np.asarray(got) - want).max() < 1.0

    # <OD> finds its own vocabulary: the other classes are not labels, and
    # not problems either; an open-vocabulary query labels its boxes with
    # the class asked
    od = A.parse_loc_detections(
        FLORENCE_OD, ["Wheels"], 640, 480, keep_unknown=False
    )
    assert od.predictions.labels == ["Wheels", "Wheels"] and od.problems == []
    asked = A.parse_loc_detections(
        "wheels<loc_144><loc_570><loc_870><loc_778>", ["wheel"], 640, 480,
        label="wheel",
    )
    assert asked.predictions.labels == ["wheel"]

    # an empty answer: nothing found
    empty = A.parse_loc_detections("</s><s></s>", ["car"], 640, 480)
    assert not empty.failed and len(empty.predictions) == 0


def test_malformed_loc_answers_are_problems_never_exceptions():
    for text, failed in (
        ("car<loc_1><loc_2><loc_3>", True),
        ("a car on a road", True),
        ("car<loc_1><loc_2><loc_3><loc_1200>", True),
        ("car<loc_1><loc_2><loc_300><loc_400>and then", False),
        ("car<loc_1><loc_2><loc_300><loc_400>cat<loc_1>", False),
    ):
        answer = A.parse_loc_detections(text, ["car"], 640, 480)
        assert answer.failed == failed, text
        assert _reasons(answer) == [A.PROBLEM_UNPARSEABLE], text
        if not failed:
            assert answer.predictions.labels == ["car"], text

    unknown = A.parse_loc_detections(
        "truck<loc_1><loc_2><loc_300><loc_400>", ["car"], 640, 480
    )
    assert not unknown.failed and len(unknown.predictions) == 0
    assert _reasons(unknown) == [A.PROBLEM_UNKNOWN_CLASS]


def test_class_answers_are_matched_to_the_classes():
    classes = ["cat", "dog", "traffic light"]
    for text, label in (
        ("cat", "cat"),
        ("Cats.", "cat"),
        ('"Dog"', "dog"),
        ("Traffic lights", "traffic light"),
        ("It is a dog.", "dog"),
    ):
        answer = A.parse_class(text, classes)
        assert answer.predictions.labels == [label], text
        assert answer.problems == [], text

    unknown = A.parse_class("A giraffe", classes)
    assert not unknown.failed and unknown.predictions.labels == []
    assert _reasons(unknown) == [A.PROBLEM_UNKNOWN_CLASS]

    for text, reason in (
        ("", A.PROBLEM_EMPTY),
        ("a cat or a dog", A.PROBLEM_UNPARSEABLE),
    ):
        answer = A.parse_class(text, classes)
        assert answer.failed and _reasons(answer) == [reason], text


def test_yes_no_questions():
    # one class: yes labels it, no labels nothing
    assert A.parse_class("Yes, it does.", ["loaded"]).predictions.labels == [
        "loaded"
    ]
    no = A.parse_class("No.", ["loaded"])
    assert not no.failed and no.predictions.labels == [] and no.problems == []
    # the classes yes and no: the answer is the label
    assert A.parse_class("no", ["Yes", "No"]).predictions.labels == ["No"]
    assert A.parse_class("Loaded", ["loaded"]).predictions.labels == ["loaded"]
    maybe = A.parse_class("Maybe", ["loaded"])
    assert maybe.failed and _reasons(maybe) == [A.PROBLEM_UNPARSEABLE]


def test_confidence_is_the_geometric_mean_of_the_label_tokens():
    # "cat" is two tokens (p 0.25 and 1.0), the rest of the answer others
    text = '[{"bbox_2d": [1, 2, 30, 40], "label": "cat"}]'
    at = text.index("cat")
    scores = [(0, at, 0.01), (at, at + 2, 0.25), (at + 2, at + 3, 1.0)]
    scores.append((at + 3, len(text), 0.01))
    answer = A.parse_json_detections(text, ["cat"], 100, 100, token_scores=scores)
    assert answer.predictions.scores[0] == pytest.approx(0.5)

    caption = A.parse_caption(" a cat", token_scores=[(0, 2, 0.5), (2, 6, 0.5)])
    assert caption.captions == [("a cat", pytest.approx(0.5))]
    # without token probabilities: no confidence (NaN in the score array)
    assert math.isnan(A.parse_class("cat", ["cat", "dog"]).predictions.scores[0])
    assert 0 <= A.span_confidence([(0, 3, 1e-60)], 0, 3) < 1e-30


def test_captions_and_regions():
    caption = A.parse_caption("</s><s>A  forklift\ncarrying a pallet.</s>")
    assert caption.captions[0][0] == "A forklift carrying a pallet."
    assert A.parse_caption("<pad></s>").failed

    regions = [
        ("vehicle", [0, 0, 10, 10]),
        ("vehicle", [5, 5, 20, 20]),
        ("vehicle", [900, 900, 950, 950]),
        ("vehicle", [1, 1, 2, 2]),
    ]
    answers = [
        ("forklift<loc_1><loc_2><loc_3><loc_4>", None),
        ("giraffe", None),
        None,  # outside its image: not asked
        ("", None),
    ]
    labeled = A.parse_region_classes(answers, ["forklift", "truck"], regions)
    assert not labeled.failed
    assert labeled.predictions.labels == ["forklift"]
    assert labeled.region_indices == [0]
    assert labeled.predictions.boxes.tolist() == [[0, 0, 10, 10]]
    assert _reasons(labeled) == [
        A.PROBLEM_OUTSIDE,
        A.PROBLEM_EMPTY,
        A.PROBLEM_UNKNOWN_CLASS,
    ]

    captioned = A.parse_region_captions(answers, regions)
    assert [c for c, _ in captioned.captions] == ["forklift", "giraffe"]
    assert captioned.region_indices == [0, 1]
    assert A.parse_region_captions([("", None)], regions[:1]).failed
    # an image without regions: nothing to label, nothing wrong
    assert not A.parse_region_classes([], ["truck"], []).failed


def test_florence_region_prompts_round_trip_to_pixels():
    tokens = A.loc_tokens([64, 48, 320, 240], 640, 480)
    assert tokens == "<loc_100><loc_100><loc_500><loc_500>"
    answer = A.parse_loc_detections("car" + tokens, ["car"], 640, 480)
    assert _boxes(answer) == [("car", [64, 48, 320, 240])]


# The catalog -----------------------------------------------------------------


def test_the_catalog_lists_the_vision_language_models_for_the_method_vlm():
    names = {e.name for e in mr.list_models() if mc.is_vlm(e)}
    assert names == {
        "qwen2.5-vl-3b",
        "qwen2.5-vl-7b",
        "florence-2-base",
        "florence-2-large",
    }
    for entry in map(mr.get_model, names):
        assert entry.library == mc.LIBRARY_TRANSFORMERS
        assert entry.roles == (mc.ROLE_LABELER,)
        assert mr.fetchable(entry) and entry.download_mb
        assert set(entry.tasks) <= set(mc.VLM_TASKS)

    vlm = mc.METHOD_VLM
    assert mc.METHOD_VLM in mr.METHODS
    assert {e.name for e in mr.list_models(mc.TASK_CAPTION, method=vlm)} == names
    assert {
        e.name for e in mr.list_models(mc.TASK_CLASSIFICATION, method=vlm)
    } == {"qwen2.5-vl-3b", "qwen2.5-vl-7b"}
    # other methods never list them: they label with a prompt
    for task in mc.TASKS:
        assert not any(mc.is_vlm(e) for e in mr.list_models(task))
        assert not any(
            mc.is_vlm(mr.get_model(c["name"])) for c in mr.model_choices(task)
        )

    assert [c["name"] for c in mr.model_choices("region_caption", method=vlm)]
    assert mc.shows_examples(mr.get_model("qwen2.5-vl-7b"))
    assert not mc.shows_examples(mr.get_model("florence-2-large"))


def test_autolabel_models_lists_them_by_their_own_tasks(capsys):
    from autolabel.cli import main

    def listed(*args):
        assert main(["models", *args, "--json"]) == 0
        return {m["name"] for m in json.loads(capsys.readouterr()[0])}

    vlms = {"qwen2.5-vl-3b", "qwen2.5-vl-7b", "florence-2-base", "florence-2-large"}
    assert listed("--vlm") == vlms
    assert listed("--task", "caption") == vlms
    assert listed("--task", "classification", "--vlm") == {
        "qwen2.5-vl-3b",
        "qwen2.5-vl-7b",
    }
    assert not listed("--task", "detection") & vlms

    assert main(["models", "--vlm"]) == 0
    table = capsys.readouterr()[0]
    assert "prompt, examples" in table and "cap" in table


def test_requests_a_model_cannot_answer_are_one_line_errors():
    florence = mr.get_model("florence-2-base")
    qwen = mr.get_model("qwen2.5-vl-3b")
    image = tu.random_image(40, 40)
    for entry, request, expected in (
        (
            florence,
            VlmRequest(mc.TASK_CLASSIFICATION, "a cat?", classes=["cat"]),
            "does not do classification",
        ),
        (qwen, VlmRequest(mc.TASK_DETECTION, "  ", classes=["cat"]), "prompt"),
        (
            florence,
            VlmRequest(
                mc.TASK_DETECTION,
                "cats",
                classes=["cat"],
                examples=[VlmExample(image, "cat")],
            ),
            "not shown examples",
        ),
        (qwen, VlmRequest(mc.TASK_CLASSIFICATION, "what?"), "needs classes"),
        (
            florence,
            VlmRequest(mc.TASK_DETECTION, "<CAPTION> of cats", ["cat"]),
            "Florence-2's prompt for detection",
        ),
        (qwen, VlmRequest(mc.TASK_REGION_CAPTION, "describe"), "regions"),
        (
            mr.get_model("owlv2-base-patch16"),
            VlmRequest(mc.TASK_DETECTION, "cats", classes=["cat"]),
            "not a vision-language model",
        ),
    ):
        with pytest.raises(AutolabelError, match=expected) as e:
            mr.check_vlm_request(entry, request)

        assert "\n" not in str(e.value)


# Tiny models through the real loading code ----------------------------------

TASK_CLASSES = {
    mc.TASK_DETECTION: ["cat", "dog"],
    mc.TASK_CLASSIFICATION: ["cat", "dog"],
    mc.TASK_REGION_CLASSIFICATION: ["cat", "dog"],
}


def _request(task, images, examples=()):
    regions = None
    if task in (mc.TASK_REGION_CLASSIFICATION, mc.TASK_REGION_CAPTION):
        regions = [
            [("animal", [2, 3, 30, 25]), ("animal", [10, 10, 60, 40])]
            for _ in images
        ]

    return VlmRequest(
        task,
        "every cat",
        classes=TASK_CLASSES.get(task),
        regions=regions,
        examples=examples,
    )


def _check_answers(answers, images, task):
    assert len(answers) == len(images)
    for answer in answers:
        assert all(reason in A.PROBLEMS for reason, _ in answer.problems)
        assert isinstance(answer.text, str)
        if answer.failed:
            assert answer.problems
            continue

        if answer.predictions is not None:
            scores = answer.predictions.scores
            assert ((scores >= 0) & (scores <= 1)).all()
        else:
            assert all(0 <= s <= 1 for _, s in answer.captions)


@pytest.mark.parametrize("name", ["qwen2.5-vl-3b", "florence-2-base"])
def test_random_tiny_models_answer_every_task_without_raising(name):
    entry, _ = tu.save_tiny_catalog_model(name)
    adapter = mr.load_model(name)
    images = [tu.random_image(60, 90, seed=1), tu.random_image(90, 50)]
    examples = ()
    if mc.shows_examples(entry):
        examples = [VlmExample(images[0], "cat", [5, 5, 40, 40])]

    for task in entry.tasks:
        answers = adapter.answer(images, _request(task, images, examples))
        _check_answers(answers, images, task)


def test_a_tiny_qwen_answering_json_boxes_gives_detections_with_confidence():
    answer = '[{"bbox_2d": [14, 7, 42, 35], "label": "cats"}, ' \
        '{"bbox_2d": [0, 0, 20, 20], "label": "tree"}]'
    tu.save_tiny_catalog_model("qwen2.5-vl-3b", answer=answer)
    adapter = mr.load_model("qwen2.5-vl-3b")
    # the tiny processor resizes 112x84 (w x h) to the model's 112x84
    image = tu.random_image(84, 112)
    pil = adapter.preprocess(image)
    (got,) = adapter.answer(
        [pil], VlmRequest(mc.TASK_DETECTION, "every cat", classes=["cat"])
    )
    assert got.text == answer
    assert got.predictions.labels == ["cat"]
    assert got.predictions.boxes.round().tolist() == [[14, 7, 42, 35]]
    assert 0 <= got.predictions.scores[0] <= 1
    assert _reasons(got) == [A.PROBLEM_UNKNOWN_CLASS]

    # an image the processor resizes (to 112x84): boxes in its own pixels
    big = tu.random_image(100, 150)
    (resized,) = adapter.answer(
        [big], VlmRequest(mc.TASK_DETECTION, "every cat", classes=["cat"])
    )
    scale = np.array([150 / 112, 100 / 84] * 2)
    assert np.abs(
        resized.predictions.boxes[0] - np.array([14, 7, 42, 35]) * scale
    ).max() < 0.01

    # shown examples, the same question is answered
    (shown,) = adapter.answer(
        [image],
        VlmRequest(
            mc.TASK_DETECTION,
            "every cat",
            classes=["cat"],
            examples=[VlmExample(image, "cat", [10, 10, 50, 50])],
            negative_examples=[VlmExample(image)],
        ),
    )
    assert shown.predictions.labels == ["cat"]


def test_a_tiny_florence_answering_locations_gives_boxes_in_image_pixels():
    tu.save_tiny_catalog_model(
        "florence-2-base", answer="cat<loc_100><loc_200><loc_500><loc_900>"
    )
    adapter = mr.load_model("florence-2-base")
    image = tu.random_image(100, 200)
    request = VlmRequest(mc.TASK_DETECTION, "cats", classes=["cat", "dog"])
    (got,) = adapter.answer([image], request)
    # one open-vocabulary query per class, each box labeled its class
    assert got.predictions.labels == ["cat", "dog"]
    assert got.predictions.boxes.round().tolist() == [[20, 20, 100, 90]] * 2
    assert ((got.predictions.scores > 0) & (got.predictions.scores <= 1)).all()

    # <OD>: its own vocabulary filtered to the classes; a phrase to ground
    (od,) = adapter.answer(
        [image], VlmRequest(mc.TASK_DETECTION, "<OD>", classes=["dog"])
    )
    assert len(od.predictions) == 0 and od.problems == []
    (phrase,) = adapter.answer(
        [image], VlmRequest(mc.TASK_DETECTION, "a cat on the left")
    )
    assert phrase.predictions.labels == ["cat"]

    (caption,) = adapter.answer([image], VlmRequest(mc.TASK_CAPTION, "<CAPTION>"))
    assert caption.captions[0][0] == "cat"

    # the answer is about the region it was asked about
    (region,) = adapter.answer(
        [image],
        VlmRequest(
            mc.TASK_REGION_CLASSIFICATION,
            "what is it",
            classes=["cat"],
            regions=[[("animal", [5, 5, 50, 50])]],
        ),
    )
    assert region.predictions.labels == ["cat"] and region.region_indices == [0]
    assert region.predictions.boxes.tolist() == [[5, 5, 50, 50]]


def test_a_vision_language_model_labels_only_with_a_prompt():
    tu.save_tiny_catalog_model("florence-2-base")
    adapter = mr.load_model("florence-2-base", classes=["cat"])
    with pytest.raises(AutolabelError, match="method 'vlm' and a prompt"):
        adapter.predict([adapter.preprocess(tu.random_image(30, 30))])


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A private model zoo for this process and the ``autolabel`` processes
    it starts (the custom models' list lives there)."""
    path = str(tmp_path / "zoo")
    monkeypatch.setattr(fo.config, "model_zoo_dir", path)
    monkeypatch.setenv("FIFTYONE_MODEL_ZOO_DIR", path)
    return path


def _autolabel(*args):
    exe = shutil.which("autolabel") or os.path.join(
        os.path.dirname(sys.executable), "autolabel"
    )
    proc = subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_models_add_recognizes_a_users_qwen_and_florence_checkpoints(
    zoo, tmp_path
):
    tu.save_tiny_qwen25_vl(str(tmp_path / "my-qwen"))
    tu.save_tiny_florence2(str(tmp_path / "my-florence"))
    for name, arch in (("my-qwen", "qwen2_5_vl"), ("my-florence", "florence2")):
        code, out, err = _autolabel(
            "models", "add", name, "--path", str(tmp_path / name)
        )
        assert code == 0, err
        assert "registered model '%s'" % name in out

        entry = mr.get_model(name)
        assert entry.custom and entry.architecture == arch
        assert mc.is_vlm(entry)
        assert entry.tasks == mc.VLM_ARCHITECTURE_TASKS[arch]
        assert mc.shows_examples(entry) == (arch == "qwen2_5_vl")
        assert name in [
            e.name for e in mr.list_models(mc.TASK_DETECTION, method="vlm")
        ]

        adapter = mr.load_model(name)
        images = [tu.random_image(50, 70)]
        answers = adapter.answer(
            images, _request(mc.TASK_DETECTION, images)
        )
        _check_answers(answers, images, mc.TASK_DETECTION)


def test_a_caption_with_characters_split_across_tokens_reads_whole():
    # byte-level tokens: "é" and the emoji are several tokens each
    text = "A forklift at the café 🚜"
    tu.save_tiny_catalog_model("qwen2.5-vl-3b", answer=text)
    adapter = mr.load_model("qwen2.5-vl-3b")
    (got,) = adapter.answer(
        [tu.random_image(50, 50)],
        VlmRequest(mc.TASK_CAPTION, "Describe the image in one sentence."),
    )
    assert got.text == text
    ((caption, score),) = got.captions
    assert caption == text and 0 < score <= 1
