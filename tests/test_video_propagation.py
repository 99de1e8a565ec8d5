"""Segment Anything through time: SAM 2.1 and SAM 3 video propagation on
tiny randomly initialised models of the real transformers architectures
(``Sam2VideoModel``, ``Sam3VideoModel`` and its tracker), saved where the
catalog's SAM 2.1 and SAM 3 entries are loaded from and read by the real
loading code; short real videos written with OpenCV."""

import os

import numpy as np
import pytest

import fiftyone as fo
from autolabel.errors import AutolabelError
from autolabel.models import catalog
from autolabel.models import registry as mr
from autolabel.models.transformers_models.video_propagation import Keyframe
from autolabel.pipeline.generation import propagation as PP
import autolabel.pipeline as P


from tiny_models import clip_tokenizer
from video_helpers import square_frames as bgr_square_frames
from video_helpers import square_video

SAM2 = "sam2.1-hiera-tiny"

#: the video models' tracker width: SAM's video memory needs a multiple of
#: 64 above 64 (32 and 64 fail on the second frame)
TRACKER = 128

#: frames of the test video, and its size
NUM_FRAMES, HEIGHT, WIDTH = 8, 64, 80


def save_tiny_sam2_video(path, seed=0):
    """A tiny SAM 2.1 video model (``sam2_video``, as the hub's) and its
    processor."""
    import torch
    import transformers as T

    hiera = T.Sam2HieraDetConfig(
        hidden_size=16,
        num_attention_heads=1,
        image_size=[128, 128],
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = T.Sam2VisionConfig(
        backbone_config=hiera,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=TRACKER,
    )
    config = T.Sam2VideoConfig(
        vision_config=vision,
        image_size=128,
        prompt_encoder_config=dict(
            hidden_size=TRACKER, image_size=128, patch_size=16
        ),
        mask_decoder_config=dict(
            hidden_size=TRACKER,
            mlp_dim=64,
            num_attention_heads=2,
            iou_head_hidden_dim=32,
        ),
        **_memory(TRACKER, [8, 8]),
    )
    torch.manual_seed(seed)
    model = T.Sam2VideoModel(config).eval()
    _sees_objects(model)
    model.save_pretrained(path)
    size = {"height": 128, "width": 128}
    T.Sam2VideoProcessor(
        T.Sam2ImageProcessor(size=size), T.Sam2VideoVideoProcessor(size=size)
    ).save_pretrained(path)
    return path


def save_tiny_sam3_video(path, seed=0):
    """A tiny SAM 3 (``sam3_video``: detector and tracker in one file, as the
    hub's ``facebook/sam3``) and its video processor. Its thresholds are
    lowered so that random weights find objects; two queries keep it
    fast."""
    import torch
    import transformers as T
    from safetensors.torch import save_file

    tokenizer = clip_tokenizer(words=("cat", "dog", "visual"))
    tokenizer.model_max_length = 32
    vit = T.Sam3ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=224,
        patch_size=14,
        window_size=8,
        global_attn_indexes=[0, 1],
    )
    # the tracker's neck is built from the detector's vision config: both
    # have SAM 3's four scales and the tracker's width
    vision = dict(
        backbone_config=vit,
        fpn_hidden_size=TRACKER,
        scale_factors=[4.0, 2.0, 1.0, 0.5],
        backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]],
    )
    small = dict(
        hidden_size=TRACKER,
        num_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    detector = T.Sam3Config(
        vision_config=T.Sam3VisionConfig(**vision),
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
            projection_dim=TRACKER,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        geometry_encoder_config=small,
        detr_encoder_config=small,
        detr_decoder_config=dict(small, num_queries=2),
        mask_decoder_config=dict(
            hidden_size=TRACKER, num_upsampling_stages=3, num_attention_heads=2
        ),
    )
    tracker = T.Sam3TrackerVideoConfig(
        vision_config=T.Sam3VisionConfig(**vision),
        image_size=224,
        prompt_encoder_config=dict(
            hidden_size=TRACKER, image_size=224, patch_size=14
        ),
        mask_decoder_config=dict(
            hidden_size=TRACKER,
            mlp_dim=64,
            num_attention_heads=2,
            iou_head_hidden_dim=32,
        ),
        **_memory(TRACKER, [16, 16]),
    )
    config = T.Sam3VideoConfig(
        detector_config=detector,
        tracker_config=tracker,
        score_threshold_detection=0.0,
        new_det_thresh=0.0,
        hotstart_delay=0,
    )
    torch.manual_seed(seed)
    os.makedirs(path, exist_ok=True)
    model = T.Sam3VideoModel(config).eval()
    _sees_objects(model.tracker_model)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        os.path.join(path, "model.safetensors"),
        metadata={"format": "pt"},
    )
    config.save_pretrained(path)
    size = {"height": 224, "width": 224}
    T.Sam3VideoProcessor(
        T.Sam3ImageProcessor(size=size),
        T.Sam2VideoVideoProcessor(size=size),
        tokenizer,
    ).save_pretrained(path)
    return path


def _sees_objects(tracker):
    """Biases a random tracker's object score to "present": random weights
    score about 0, and SAM hides an object it scores below 0."""
    import torch

    with torch.no_grad():
        tracker.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(4.0)


def _memory(width, rope_sizes):
    return dict(
        memory_attention_hidden_size=width,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=rope_sizes,
        memory_encoder_hidden_size=width,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=width,
        memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=64,
    )


@pytest.fixture(scope="module")
def video_models():
    """The tiny SAM 2.1 and SAM 3 video models, where the catalog's entries
    are loaded from."""
    save_tiny_sam2_video(mr.weights_path(catalog.builtin_model(SAM2)))
    save_tiny_sam3_video(mr.weights_path(catalog.builtin_model("sam3")))


def square_frames(num_frames=NUM_FRAMES):
    """Frames of a white square moving right on a dark background, and the
    square's ``xyxy`` box on each."""
    frames, boxes = [], []
    for t in range(num_frames):
        frame = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
        x = 10 + 4 * t
        frame[20:44, x : x + 24] = 230
        frames.append(frame)
        boxes.append([x, 20, x + 24, 44])

    return frames, np.array(boxes, float)


def test_sam2_propagates_a_keyframe_box_through_the_video(video_models):
    frames, boxes = square_frames()
    propagator = mr.load_propagator(SAM2)
    results = propagator.propagate(
        frames, keyframes=[Keyframe(2, ["square"], boxes[2:3])]
    )

    assert len(results) == NUM_FRAMES
    # from its keyframe on (and back to the first frame): one object, one
    # id, a mask of the frame's size and its box, on every frame
    ids = set()
    for frame in results:
        assert frame.labels == ["square"]
        assert frame.masks.shape == (1, HEIGHT, WIDTH)
        assert frame.masks[0].any()
        x1, y1, x2, y2 = frame.boxes[0]
        assert 0 <= x1 < x2 <= WIDTH and 0 <= y1 < y2 <= HEIGHT
        ids.update(frame.object_ids.tolist())

    assert len(ids) == 1


def test_sam2_keyframes_add_objects_and_reprompt_by_id(video_models):
    frames, boxes = square_frames()
    other = np.array([[50, 2, 70, 14]], float)
    propagator = mr.load_propagator(SAM2)
    results = propagator.propagate(
        frames,
        keyframes=[
            Keyframe(0, ["square"], boxes[0:1], ids=[7]),
            Keyframe(
                4,
                ["square", "bar"],
                np.vstack([boxes[4:5], other]),
                ids=[7, None],
            ),
        ],
    )

    # the square keeps its id; the bar starts at its keyframe, with a new id
    assert all(7 in r.object_ids for r in results)
    before = {i for r in results[:4] for i in r.object_ids.tolist()}
    after = {i for r in results[4:] for i in r.object_ids.tolist()}
    assert before == {7}
    assert len(after) == 2 and 7 in after


def test_sam3_propagates_class_names(video_models):
    frames, _ = square_frames(4)
    propagator = mr.load_propagator("sam3")
    results = propagator.propagate(frames, classes=["cat"])

    assert len(results) == 4
    for frame in results:
        n = len(frame.labels)
        assert set(frame.labels) <= {"cat"}
        assert frame.masks.shape == (n, HEIGHT, WIDTH)
        assert frame.boxes.shape == (n, 4) and frame.scores.shape == (n,)
        assert len(set(frame.object_ids.tolist())) == n
        assert all(i >= 1 for i in frame.object_ids)
    # the tiny model's thresholds are 0: it finds objects, and the objects
    # of the first frame are tracked on, each under its id
    first = set(results[0].object_ids.tolist())
    assert first and all(first <= set(r.object_ids.tolist()) for r in results)


def test_sam3_propagates_keyframe_boxes_with_its_tracker(video_models):
    frames, boxes = square_frames(4)
    propagator = mr.load_propagator("sam3")
    results = propagator.propagate(
        frames, keyframes=[Keyframe(0, ["cat"], boxes[0:1])]
    )

    assert [r.labels for r in results] == [["cat"]] * 4
    assert len({int(r.object_ids[0]) for r in results}) == 1


def test_a_later_keyframe_box_continues_the_object_it_overlaps():
    from autolabel.models.transformers_models.video_propagation import (
        FramePredictions,
        _Objects,
    )

    objects = _Objects()
    square = [10, 10, 40, 40]
    assert objects.assign(["sq"], [square], [None], None) == [1]
    before = FramePredictions(
        labels=["sq"],
        scores=np.ones(1, np.float32),
        boxes=np.array([[12, 10, 42, 40]], np.float32),
        object_ids=np.array([1]),
    )
    # the square moved a little: the same object; a box of another label
    # on it, a far box, and a second box of one id are new objects
    ids = objects.assign(
        ["sq", "dot", "sq", "sq"],
        [[14, 10, 44, 40], square, [60, 60, 70, 70], [0, 0, 5, 5]],
        [None, None, 9, 9],
        before,
    )
    assert ids[0] == 1 and ids[2] == 9
    assert len(set(ids)) == 4


@pytest.mark.parametrize(
    "model, kwargs, words",
    [
        (SAM2, {}, "needs prompts"),
        (
            SAM2,
            {"keyframes": [Keyframe(3, ["a"], np.zeros((0, 4)))]},
            "needs prompts",
        ),
        (SAM2, {"classes": ["cat"]}, "takes no class names"),
        (
            SAM2,
            {"keyframes": [Keyframe(99, ["a"], [[1, 1, 9, 9]])]},
            "outside the video",
        ),
        (
            "sam3",
            {
                "classes": ["cat"],
                "keyframes": [Keyframe(0, ["a"], [[1, 1, 9, 9]])],
            },
            "not both",
        ),
    ],
)
def test_bad_prompts_get_one_line(video_models, model, kwargs, words):
    frames, _ = square_frames(3)
    with pytest.raises(AutolabelError) as e:
        mr.load_propagator(model).propagate(frames, **kwargs)

    assert words in str(e.value) and "\n" not in str(e.value)


def test_image_only_checkpoints_and_other_models_get_one_line(
    video_models, tmp_path
):
    from tiny_sam_models import save_tiny_sam2

    entry = mr.register_model(
        "my-sam2", save_tiny_sam2(str(tmp_path / "sam2"))
    )
    with pytest.raises(AutolabelError, match="image-only checkpoint"):
        mr.load_propagator(entry)

    with pytest.raises(AutolabelError, match="does not propagate"):
        mr.load_propagator("yolo11n")


# the pipeline: propagation runs on video datasets ------------------------


def staged_frames(dataset, field):
    """{(sample id, frame number): staged value} from raw MongoDB."""
    name = field[len("frames.") :]
    return {
        (d["_sample_id"], d["frame_number"]): d[name]
        for d in dataset._frame_collection.find({name: {"$exists": True}})
    }


def keyframed_videos(make_dataset, folder, lengths=(10, 7)):
    """Videos of a moving square, each with a person's box of it on its
    third frame in ``frames.gt``."""
    samples = []
    for i, n in enumerate(lengths):
        path = square_video(folder / ("v%d.mp4" % i), n, seed=i)
        sample = fo.Sample(filepath=path)
        _, (x1, y1, x2, y2) = bgr_square_frames(n, seed=i)[2]
        w, h = 128, 96
        sample.frames[3]["gt"] = fo.Detections(
            detections=[
                fo.Detection(
                    label="square",
                    bounding_box=[
                        x1 / w,
                        y1 / h,
                        (x2 - x1) / w,
                        (y2 - y1) / h,
                    ],
                )
            ]
        )
        samples.append(sample)

    return make_dataset(samples)


def test_keyframe_boxes_propagate_into_every_frame_as_one_track(
    video_models, make_dataset, tmp_path
):
    dataset = keyframed_videos(make_dataset, tmp_path)
    human = dataset.values("frames.gt", unwind=True)
    run = P.generate(
        dataset,
        "instance_segmentation",
        seg_model=SAM2,
        existing_field="frames.gt",
        propagate=True,
        label_field="seg",
        min_confidence=0.0,
        delegate=False,
    )

    assert run.status == P.RunStatus.IN_REVIEW, run.config.get("error")
    assert run.config["labeling_method"] == PP.METHOD_VIDEO_PROPAGATION
    assert run.counts["processed"] == 2 and not run.counts.get("failed")
    values = staged_frames(dataset, run.staging_field)
    # every frame of both videos has one value; the square is one track per
    # video (one index), with a mask file, on every frame
    assert len(values) == 10 + 7
    for sample_id in {sid for sid, _ in values}:
        dets = [
            d
            for (sid, _), v in values.items()
            if sid == sample_id
            for d in v["detections"]
        ]
        assert len(dets) == len([k for k in values if k[0] == sample_id])
        assert len({d["index"] for d in dets}) == 1
        assert all(d["label"] == "square" for d in dets)
        assert all(os.path.isfile(d["mask_path"]) for d in dets)
        assert all(d["track_confidence"] is not None for d in dets)
    # the person's labels are as they were
    after = dataset.values("frames.gt", unwind=True)
    assert [v for v in after if v is not None] == human


def test_sam3_propagates_the_run_classes_through_every_frame(
    video_models, make_dataset, tmp_path
):
    dataset = make_dataset(
        [fo.Sample(filepath=square_video(tmp_path / "c.mp4", 4))]
    )
    run = P.generate(
        dataset,
        "instance_segmentation",
        model="sam3",
        classes=["cat"],
        propagate=True,
        label_field="cats",
        min_confidence=0.0,
        delegate=False,
    )

    assert run.status == P.RunStatus.IN_REVIEW, run.config.get("error")
    values = staged_frames(dataset, run.staging_field)
    assert sorted(n for _, n in values) == [1, 2, 3, 4]
    dets = [d for v in values.values() for d in v["detections"]]
    # random weights may find nothing; what they find is a tracked "cat"
    assert all(d["label"] == "cat" and d["index"] >= 1 for d in dets)


def test_a_video_without_keyframe_boxes_fails_with_one_line(
    video_models, make_dataset, tmp_path
):
    dataset = keyframed_videos(make_dataset, tmp_path, lengths=(4,) * 5)
    dataset.add_sample(
        fo.Sample(filepath=square_video(tmp_path / "bare.mp4", 4))
    )
    run = P.generate(
        dataset,
        "instance_segmentation",
        seg_model=SAM2,
        existing_field="frames.gt",
        propagate=True,
        label_field="seg",
        delegate=False,
    )

    assert run.status == P.RunStatus.IN_REVIEW
    reasons = [f["reason"] for f in run.config["failures"]]
    assert len(reasons) == 1 and "\n" not in reasons[0]
    assert "has no boxes in frames.gt" in reasons[0]
    # the keyframed videos are staged whole, the bare one not at all
    values = staged_frames(dataset, run.staging_field)
    assert len({sid for sid, _ in values}) == 5 and len(values) == 5 * 4


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (
            dict(seg_model="sam-vit-b", existing_field="frames.gt"),
            "does not propagate",
        ),
        (
            dict(model="sam3", classes=["cat"], task="detection"),
            "instance_segmentation",
        ),
        (
            dict(
                seg_model=SAM2, existing_field="frames.gt", tracker="botsort"
            ),
            "tracker",
        ),
        (
            dict(seg_model=SAM2, existing_field="frames.gt", model="yolo11n"),
            "not both",
        ),
    ],
)
def test_bad_propagation_settings_get_one_line_and_create_nothing(
    video_models, tiny_models, make_dataset, tmp_path, kwargs, words
):
    dataset = keyframed_videos(make_dataset, tmp_path, lengths=(3,))
    task = kwargs.pop("task", "instance_segmentation")
    with pytest.raises(AutolabelError) as e:
        P.generate(
            dataset,
            task,
            propagate=True,
            label_field="x",
            delegate=False,
            **kwargs,
        )

    assert words in str(e.value) and "\n" not in str(e.value)
    assert not P.list_runs(dataset)
    assert not dataset.has_field("frames.x_staged")


def test_propagation_on_images_gets_one_line(
    video_models, make_dataset, image_dir
):
    dataset = make_dataset([fo.Sample(filepath=str(image_dir / "img00.jpg"))])
    with pytest.raises(AutolabelError, match="labels images"):
        P.generate(
            dataset,
            "instance_segmentation",
            model="sam3",
            classes=["cat"],
            propagate=True,
            label_field="x",
            delegate=False,
        )


def test_a_detector_prompts_every_kth_frame_and_every_frame_is_staged(
    video_models, tiny_models, make_dataset, tmp_path
):
    dataset = make_dataset(
        [fo.Sample(filepath=square_video(tmp_path / "d.mp4", 7))]
    )
    run = P.generate(
        dataset,
        "instance_segmentation",
        model="yolo11n",
        seg_model=SAM2,
        propagate=True,
        frame_step=3,
        label_field="seg",
        min_confidence=0.9,
        delegate=False,
    )

    assert run.status == P.RunStatus.IN_REVIEW, run.config.get("error")
    assert run.config["tracker"] is None
    values = staged_frames(dataset, run.staging_field)
    # the detector's keyframes are 1, 4, 7; the masks reach every frame
    assert sorted(n for _, n in values) == list(range(1, 8))
    dets = [d for v in values.values() for d in v["detections"]]
    assert all(d["index"] >= 1 and d["mask_path"] for d in dets)


def test_the_cli_propagates_and_refuses_images_with_one_line(
    video_models, make_dataset, image_dir
):
    import subprocess
    import sys

    dataset = make_dataset([fo.Sample(filepath=str(image_dir / "img00.jpg"))])
    exe = os.path.join(os.path.dirname(sys.executable), "autolabel")
    proc = subprocess.run(
        [
            exe,
            "generate",
            dataset.name,
            "--task",
            "instance_segmentation",
            "--model",
            "sam3",
            "--classes",
            "cat",
            "--propagate",
            "--label-field",
            "x",
            "--now",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "labels images" in lines[0], lines
    assert not P.list_runs(dataset)
