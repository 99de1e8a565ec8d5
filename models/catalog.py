"""The model catalog: one entry per family / version / size.

Entries are data; :mod:`autolabel.models.registry` filters them the way the
panel does, resolves their weights in FiftyOne's model zoo directory and
registers the user's own models. This module imports no other module of the
package: the registry and the adapters both read it.

Why it is long: it is the catalog's data (COCO's 80 classes and one entry per
built-in model, spelled out so that a reader sees every field), not logic.
"""

from dataclasses import asdict, dataclass, field

TASK_CLASSIFICATION = "classification"
TASK_DETECTION = "detection"
TASK_INSTANCE_SEGMENTATION = "instance_segmentation"
#: the task of box-prompted segmenters (SAM): masks for given boxes
TASK_BOX_SEGMENTATION = "box_segmentation"

TASKS = (TASK_CLASSIFICATION, TASK_DETECTION, TASK_INSTANCE_SEGMENTATION)

#: vision-language models: a caption of each image
TASK_CAPTION = "caption"
#: vision-language models: a class for each box of an existing field
TASK_REGION_CLASSIFICATION = "region_classification"
#: vision-language models: a caption for each box of an existing field
TASK_REGION_CAPTION = "region_caption"

#: the tasks a vision-language model may do (method :data:`METHOD_VLM`)
VLM_TASKS = (
    TASK_CLASSIFICATION,
    TASK_DETECTION,
    TASK_CAPTION,
    TASK_REGION_CLASSIFICATION,
    TASK_REGION_CAPTION,
)

METHOD_ONE_STAGE = "one_stage"
METHOD_TWO_STAGE = "two_stage"
METHOD_EXISTING_DETECTIONS = "existing_detections"
#: labeling with a vision-language model, steered by a prompt
METHOD_VLM = "vlm"

#: the architectures of the vision-language models (the ``model_type`` of
#: their transformers config): they label only with :data:`METHOD_VLM`
VLM_ARCHITECTURES = ("qwen2_5_vl", "florence2")

LIBRARY_ULTRALYTICS = "ultralytics"
LIBRARY_TRANSFORMERS = "transformers"
LIBRARY_SEGMENT_ANYTHING = "segment-anything"
#: torchvision detectors (Faster R-CNN, Mask R-CNN) the loop trains
LIBRARY_TORCHVISION = "torchvision"

#: the catalog model whose text tower YOLO-World's prompts are encoded with
YOLO_WORLD_TEXT_ENCODER = "clip-vit-base-patch32"

#: the role in a run of a model that labels by itself
ROLE_LABELER = "labeler"
#: the role in a run of a box segmenter (SAM), which segments given boxes
ROLE_SEGMENTER = "segmenter"

#: an exemplar prompt kind: "find every object like this one"
EXEMPLAR_POSITIVE = "positive"
#: an exemplar prompt kind: "nothing like this one"
EXEMPLAR_NEGATIVE = "negative"


@dataclass(frozen=True)
class CatalogEntry:
    """A model the catalog offers.

    Attributes:
        name: the unique name, e.g. ``"yolo11m"``
        family: e.g. ``"yolo"``, ``"owlv2"``, ``"segment-anything"``
        version: e.g. ``"11-coco"``
        size: ``"nano"``, ``"small"``, ``"medium"``, ``"large"``, ``"xlarge"``,
            ``"tiny"``, ``"base"`` or ``"huge"``
        library: one of ``ultralytics``, ``transformers``,
            ``segment-anything``, ``torchvision``
        architecture: what the adapter builds, e.g. ``"yolo"``,
            ``"yolo-world"``, ``"owlvit"``, ``"owlv2"``, ``"grounding-dino"``,
            ``"clip"``, ``"sam"``
        tasks: the tasks it performs
        zero_shot: whether it is prompted with arbitrary classes
        vocabulary: its classes (fixed-vocabulary models), else None
        default_confidence: the recommended minimum confidence
        description: one line
        author: who made it
        license: its license
        url: a link to details
        speed: 1-3, relative to comparable models (3 = fastest)
        performance: 1-3, relative to comparable models (3 = most accurate)
        weights: the file or directory name of its weights under
            ``<fo.config.model_zoo_dir>/autolabel/``
        source: where the weights come from (a URL or a Hugging Face repo)
        zoo_name: FiftyOne's model zoo name, where FiftyOne has one
        sam_type: the ``segment_anything`` registry key (SAM only)
        custom: whether the user registered it (``autolabel models add``)
        sha256: custom models: the SHA-256 of their weights when they were
            added (:func:`autolabel.models.weights.weights_sha256`); they
            are not loaded once their weights differ
        exemplar_prompts: the exemplar kinds the model is prompted with
            (:data:`EXEMPLAR_POSITIVE`, :data:`EXEMPLAR_NEGATIVE`): labels a
            person points at, for "find every object like these"; empty if
            it takes none
        download_mb: about how many megabytes its weights are, as the panel
            says before they are fetched (None if unknown)
        trusted: custom models: whether their weights cannot be read
            without running code stored in them, and the user trusted them
            (``autolabel models add --trust``): they are read by their
            library's full loader. Other custom weights are only read by
            loaders that run no code from them
    """

    name: str
    family: str
    version: str
    size: str
    library: str
    architecture: str
    tasks: tuple
    zero_shot: bool
    vocabulary: tuple = None
    default_confidence: float = 0.25
    description: str = ""
    author: str = ""
    license: str = ""
    url: str = ""
    speed: int = 2
    performance: int = 2
    weights: str = ""
    source: str = ""
    zoo_name: str = None
    sam_type: str = None
    custom: bool = False
    sha256: str = None
    trusted: bool = False
    exemplar_prompts: tuple = ()
    download_mb: float = None
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def roles(self):
        """The model's roles in a run: :data:`ROLE_LABELER` if it labels by
        itself (one of :data:`TASKS` or :data:`VLM_TASKS`),
        :data:`ROLE_SEGMENTER` if it segments given boxes
        (``box_segmentation``); SAM 3 has both."""
        roles = []
        if set(self.tasks) & (set(TASKS) | set(VLM_TASKS)):
            roles.append(ROLE_LABELER)

        if TASK_BOX_SEGMENTATION in self.tasks:
            roles.append(ROLE_SEGMENTER)

        return tuple(roles)

    def to_dict(self):
        """Returns a JSON-serializable dict of the entry."""
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        d["exemplar_prompts"] = list(self.exemplar_prompts)
        d["vocabulary"] = (
            list(self.vocabulary) if self.vocabulary is not None else None
        )
        return d

    @classmethod
    def from_dict(cls, d):
        """Builds an entry from :meth:`to_dict` output."""
        d = dict(d)
        d["tasks"] = tuple(d["tasks"])
        d["exemplar_prompts"] = tuple(d.get("exemplar_prompts") or ())
        if d.get("vocabulary") is not None:
            d["vocabulary"] = tuple(d["vocabulary"])

        return cls(**d)


def custom_entry(
    name,
    path,
    library,
    architecture,
    task,
    zero_shot,
    vocabulary,
    description,
    trusted=False,
):
    """Builds the catalog entry of a model the user registers, whose
    weights an adapter has inspected.

    Args:
        name: the model's unique name
        path: the absolute path of its weights (a file or a directory)
        library: one of ``ultralytics``, ``transformers``,
            ``segment-anything``
        architecture: what the adapter builds, e.g. ``"yolo"``
        task: the task the weights perform
        zero_shot: whether it is prompted with arbitrary classes
        vocabulary: its classes (fixed-vocabulary models), else None
        description: one line
        trusted (False): whether the weights can only be read by running
            code stored in them, which the user allowed

    Returns:
        a :class:`CatalogEntry` with ``custom=True``
    """
    return CatalogEntry(
        name=name,
        family="custom",
        version="custom",
        size="custom",
        library=library,
        architecture=architecture,
        tasks=(task,),
        zero_shot=zero_shot,
        vocabulary=vocabulary,
        default_confidence=(0.0 if task == TASK_CLASSIFICATION else 0.25),
        description=description,
        author="you",
        license="",
        url=path,
        weights=path,
        source=path,
        custom=True,
        trusted=trusted,
    )


def is_vlm(entry):
    """Tells whether a model is a vision-language model, which labels only
    with :data:`METHOD_VLM` (a prompt, not only class names).

    Args:
        entry: a :class:`CatalogEntry`

    Returns:
        True or False
    """
    return entry.architecture in VLM_ARCHITECTURES


def shows_examples(entry):
    """Tells whether a vision-language model is shown a run's positive and
    negative examples as images in its prompt (Qwen2.5-VL). Florence-2
    takes one image and a task token, so it is given no examples.

    Args:
        entry: a :class:`CatalogEntry`

    Returns:
        True or False
    """
    return is_vlm(entry) and bool((entry.extra or {}).get("example_images"))


def builtin_model(name):
    """Returns a built-in catalog entry.

    Args:
        name: the model's name

    Returns:
        a :class:`CatalogEntry`

    Raises:
        KeyError: if no built-in model has that name
    """
    for entry in BUILTIN_MODELS:
        if entry.name == name:
            return entry

    raise KeyError(name)


# fmt: off
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "stop sign",
    "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
# fmt: on

_YOLO_SIZES = (
    # suffix, size, speed, performance
    ("n", "nano", 3, 1),
    ("s", "small", 3, 2),
    ("m", "medium", 2, 2),
    ("l", "large", 2, 3),
    ("x", "xlarge", 1, 3),
)

_ULTRALYTICS_RELEASES = (
    "https://github.com/ultralytics/assets/releases/download/v8.3.0/"
)

#: the release ultralytics 8.4 fetches YOLO26, YOLOE and MobileCLIP from
#: (``attempt_download_asset``'s default release of ``ultralytics/assets``)
_ULTRALYTICS_RELEASES_84 = (
    "https://github.com/ultralytics/assets/releases/download/v8.4.0/"
)

#: about how many megabytes the YOLO11 checkpoints are, by task and size
_YOLO11_MB = {
    "": {"n": 5.4, "s": 18.4, "m": 38.8, "l": 49.0, "x": 109.3},
    "-seg": {"n": 5.9, "s": 19.7, "m": 43.3, "l": 53.5, "x": 119.3},
    "-cls": {"n": 5.5, "s": 10.9, "m": 20.4, "l": 25.4, "x": 56.9},
}


def _yolo11_entries():
    entries = []
    for suffix, size, speed, perf in _YOLO_SIZES:
        entries.append(
            CatalogEntry(
                name="yolo11" + suffix,
                family="yolo",
                version="11-coco",
                size=size,
                library=LIBRARY_ULTRALYTICS,
                architecture="yolo",
                tasks=(TASK_DETECTION,),
                zero_shot=False,
                vocabulary=COCO_CLASSES,
                default_confidence=0.25,
                description="YOLO11 %s object detector trained on COCO "
                "(80 classes)" % size,
                author="Ultralytics",
                license="AGPL-3.0",
                url="https://docs.ultralytics.com/models/yolo11/",
                speed=speed,
                performance=perf,
                weights="yolo11%s.pt" % suffix,
                source=_ULTRALYTICS_RELEASES + "yolo11%s.pt" % suffix,
                zoo_name="yolo11%s-coco-torch" % suffix,
                download_mb=_YOLO11_MB[""][suffix],
            )
        )
        entries.append(
            CatalogEntry(
                name="yolo11%s-seg" % suffix,
                family="yolo",
                version="11-seg-coco",
                size=size,
                library=LIBRARY_ULTRALYTICS,
                architecture="yolo",
                tasks=(TASK_INSTANCE_SEGMENTATION,),
                zero_shot=False,
                vocabulary=COCO_CLASSES,
                default_confidence=0.25,
                description="YOLO11 %s instance segmentation model trained "
                "on COCO (80 classes)" % size,
                author="Ultralytics",
                license="AGPL-3.0",
                url="https://docs.ultralytics.com/tasks/segment/",
                speed=speed,
                performance=perf,
                weights="yolo11%s-seg.pt" % suffix,
                source=_ULTRALYTICS_RELEASES + "yolo11%s-seg.pt" % suffix,
                zoo_name="yolo11%s-seg-coco-torch" % suffix,
                download_mb=_YOLO11_MB["-seg"][suffix],
            )
        )
        entries.append(
            CatalogEntry(
                name="yolo11%s-cls" % suffix,
                family="yolo",
                version="11-cls-imagenet",
                size=size,
                library=LIBRARY_ULTRALYTICS,
                architecture="yolo",
                tasks=(TASK_CLASSIFICATION,),
                zero_shot=False,
                vocabulary=None,  # the 1,000 ImageNet classes, read from the weights
                default_confidence=0.0,
                description="YOLO11 %s image classifier trained on ImageNet "
                "(1,000 classes)" % size,
                author="Ultralytics",
                license="AGPL-3.0",
                url="https://docs.ultralytics.com/tasks/classify/",
                speed=speed,
                performance=perf,
                weights="yolo11%s-cls.pt" % suffix,
                source=_ULTRALYTICS_RELEASES + "yolo11%s-cls.pt" % suffix,
                download_mb=_YOLO11_MB["-cls"][suffix],
            )
        )

    return entries


def _yolo_world_entries():
    return [
        CatalogEntry(
            name="yolov8%s-worldv2" % suffix,
            family="yolo-world",
            version="v8-worldv2",
            size=size,
            library=LIBRARY_ULTRALYTICS,
            architecture="yolo-world",
            tasks=(TASK_DETECTION,),
            zero_shot=True,
            default_confidence=0.1,
            description="YOLOv8-World v2 %s open-vocabulary detector, "
            "prompted with class names" % size,
            author="Tencent AI Lab / Ultralytics",
            license="AGPL-3.0",
            url="https://docs.ultralytics.com/models/yolo-world/",
            speed=speed,
            performance=perf,
            weights="yolov8%s-worldv2.pt" % suffix,
            source=_ULTRALYTICS_RELEASES + "yolov8%s-worldv2.pt" % suffix,
            download_mb={"s": 25.2, "m": 55.1, "l": 91.5, "x": 140.3}[suffix],
        )
        for suffix, size, speed, perf in _YOLO_SIZES
        if suffix in ("s", "m", "l", "x")
    ]


#: about how many megabytes each transformers model's saved weights are
_HF_DOWNLOAD_MB = {
    "owlvit-base-patch32": 610,
    "owlvit-base-patch16": 610,
    "owlvit-large-patch14": 1740,
    "owlv2-base-patch16": 620,
    "grounding-dino-tiny": 690,
    "grounding-dino-base": 930,
    "clip-vit-base-patch32": 605,
    "clip-vit-large-patch14": 1710,
    # bf16 safetensors of the hub repositories
    "qwen2.5-vl-3b": 7510,
    "qwen2.5-vl-7b": 16580,
    # float32 safetensors of the florence-community conversions
    "florence-2-base": 930,
    "florence-2-large": 3100,
}


def _transformers_entries():
    def hf(
        name,
        family,
        version,
        size,
        arch,
        tasks,
        repo,
        conf,
        desc,
        author,
        license,
        speed,
        perf,
        zoo_name=None,
    ):
        return CatalogEntry(
            name=name,
            family=family,
            version=version,
            size=size,
            library=LIBRARY_TRANSFORMERS,
            architecture=arch,
            tasks=tasks,
            zero_shot=True,
            default_confidence=conf,
            description=desc,
            author=author,
            license=license,
            url="https://huggingface.co/" + repo,
            speed=speed,
            performance=perf,
            weights=repo.replace("/", "--"),
            source=repo,
            zoo_name=zoo_name,
            download_mb=_HF_DOWNLOAD_MB[name],
        )

    det = (TASK_DETECTION,)
    cls = (TASK_CLASSIFICATION,)
    return [
        hf(
            "owlvit-base-patch32",
            "owl-vit",
            "v1",
            "base",
            "owlvit",
            det,
            "google/owlvit-base-patch32",
            0.1,
            "OWL-ViT B/32 open-vocabulary detector",
            "Google",
            "Apache-2.0",
            3,
            1,
            "owlvit-base-patch32-torch",
        ),
        hf(
            "owlvit-base-patch16",
            "owl-vit",
            "v1",
            "base",
            "owlvit",
            det,
            "google/owlvit-base-patch16",
            0.1,
            "OWL-ViT B/16 open-vocabulary detector",
            "Google",
            "Apache-2.0",
            2,
            2,
        ),
        hf(
            "owlvit-large-patch14",
            "owl-vit",
            "v1",
            "large",
            "owlvit",
            det,
            "google/owlvit-large-patch14",
            0.1,
            "OWL-ViT L/14 open-vocabulary detector",
            "Google",
            "Apache-2.0",
            1,
            2,
        ),
        hf(
            "owlv2-base-patch16",
            "owl-vit",
            "v2",
            "base",
            "owlv2",
            det,
            "google/owlv2-base-patch16-ensemble",
            0.2,
            "OWLv2 B/16 open-vocabulary detector (self-trained ensemble)",
            "Google",
            "Apache-2.0",
            2,
            3,
        ),
        hf(
            "grounding-dino-tiny",
            "grounding-dino",
            "v1",
            "tiny",
            "grounding-dino",
            det,
            "IDEA-Research/grounding-dino-tiny",
            0.3,
            "Grounding DINO tiny: text-prompted open-set detector",
            "IDEA Research",
            "Apache-2.0",
            2,
            2,
        ),
        hf(
            "grounding-dino-base",
            "grounding-dino",
            "v1",
            "base",
            "grounding-dino",
            det,
            "IDEA-Research/grounding-dino-base",
            0.3,
            "Grounding DINO base: text-prompted open-set detector",
            "IDEA Research",
            "Apache-2.0",
            1,
            3,
        ),
        hf(
            "clip-vit-base-patch32",
            "clip",
            "v1",
            "base",
            "clip",
            cls,
            "openai/clip-vit-base-patch32",
            0.0,
            "CLIP ViT-B/32 zero-shot image classifier",
            "OpenAI",
            "MIT",
            3,
            2,
            "clip-vit-base32-torch",
        ),
        hf(
            "clip-vit-large-patch14",
            "clip",
            "v1",
            "large",
            "clip",
            cls,
            "openai/clip-vit-large-patch14",
            0.0,
            "CLIP ViT-L/14 zero-shot image classifier",
            "OpenAI",
            "MIT",
            1,
            3,
        ),
    ]


#: the tasks of each vision-language architecture. Florence-2 classifies
#: regions (``<REGION_TO_CATEGORY>``) but not whole images from a list
VLM_ARCHITECTURE_TASKS = {
    "qwen2_5_vl": VLM_TASKS,
    "florence2": (
        TASK_DETECTION,
        TASK_CAPTION,
        TASK_REGION_CLASSIFICATION,
        TASK_REGION_CAPTION,
    ),
}

#: the ``extra`` of each vision-language architecture's entries:
#: ``example_images`` if the run's examples are shown to it as images
VLM_ARCHITECTURE_EXTRA = {
    "qwen2_5_vl": {"example_images": True},
    "florence2": {"example_images": False},
}


def _vlm_entries():
    def vlm(
        name, family, size, arch, repo, desc, author, license, speed, perf
    ):
        return CatalogEntry(
            name=name,
            family=family,
            version="2.5" if family == "qwen2.5-vl" else "2",
            size=size,
            library=LIBRARY_TRANSFORMERS,
            architecture=arch,
            tasks=VLM_ARCHITECTURE_TASKS[arch],
            zero_shot=True,
            # its confidences are token probabilities (a geometric mean
            # per answer span), not calibrated detection scores
            default_confidence=0.0,
            description=desc,
            author=author,
            license=license,
            url="https://huggingface.co/" + repo,
            speed=speed,
            performance=perf,
            weights=repo.replace("/", "--"),
            source=repo,
            download_mb=_HF_DOWNLOAD_MB[name],
            extra=dict(VLM_ARCHITECTURE_EXTRA[arch]),
        )

    qwen = (
        "vision-language model prompted with text and example images: "
        "classifies, detects (JSON boxes), captions, and classifies or "
        "captions regions"
    )
    florence = (
        "vision-language model prompted with task tokens: detects "
        "(<OD>, open-vocabulary, phrase grounding), captions, and "
        "classifies or captions regions"
    )
    return [
        vlm(
            "qwen2.5-vl-3b",
            "qwen2.5-vl",
            "small",
            "qwen2_5_vl",
            "Qwen/Qwen2.5-VL-3B-Instruct",
            "Qwen2.5-VL 3B Instruct: " + qwen,
            "Alibaba Qwen",
            "Qwen Research License",
            2,
            2,
        ),
        vlm(
            "qwen2.5-vl-7b",
            "qwen2.5-vl",
            "medium",
            "qwen2_5_vl",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "Qwen2.5-VL 7B Instruct: " + qwen,
            "Alibaba Qwen",
            "Apache-2.0",
            1,
            3,
        ),
        vlm(
            "florence-2-base",
            "florence-2",
            "base",
            "florence2",
            "florence-community/Florence-2-base",
            "Florence-2 base (0.23B): " + florence,
            "Microsoft",
            "MIT",
            3,
            1,
        ),
        vlm(
            "florence-2-large",
            "florence-2",
            "large",
            "florence2",
            "florence-community/Florence-2-large",
            "Florence-2 large (0.77B): " + florence,
            "Microsoft",
            "MIT",
            3,
            2,
        ),
    ]


def _sam_entries():
    base = "https://dl.fbaipublicfiles.com/segment_anything/"
    return [
        CatalogEntry(
            name="sam-vit-%s" % kind,
            family="segment-anything",
            version="v1",
            size=size,
            library=LIBRARY_SEGMENT_ANYTHING,
            architecture="sam",
            tasks=(TASK_BOX_SEGMENTATION,),
            zero_shot=True,
            default_confidence=0.0,
            description="Segment Anything ViT-%s: a mask for every box"
            % kind.upper(),
            author="Meta AI",
            license="Apache-2.0",
            url="https://github.com/facebookresearch/segment-anything",
            speed=speed,
            performance=perf,
            weights=checkpoint,
            source=base + checkpoint,
            zoo_name="segment-anything-vit%s-torch" % kind,
            sam_type="vit_" + kind,
            download_mb=mb,
        )
        for kind, size, speed, perf, checkpoint, mb in (
            ("b", "base", 3, 1, "sam_vit_b_01ec64.pth", 375),
            ("l", "large", 2, 2, "sam_vit_l_0b3195.pth", 1250),
            ("h", "huge", 1, 3, "sam_vit_h_4b8939.pth", 2560),
        )
    ]


#: about how many megabytes the YOLO26 checkpoints are, by task and size
_YOLO26_MB = {
    "": {"n": 5.3, "s": 19.5, "m": 42.2, "l": 50.7, "x": 113.2},
    "-seg": {"n": 6.4, "s": 21.8, "m": 50.5, "l": 59.1, "x": 131.5},
    "-cls": {"n": 5.7, "s": 12.2, "m": 24.1, "l": 28.6, "x": 62.4},
}

#: each YOLO26 task: checkpoint suffix, version, tasks, vocabulary, default
#: confidence, what it does, its docs page
_YOLO26_TASKS = (
    (
        "",
        "26-coco",
        (TASK_DETECTION,),
        COCO_CLASSES,
        0.25,
        "object detector trained on COCO (80 classes)",
        "https://docs.ultralytics.com/models/yolo26/",
    ),
    (
        "-seg",
        "26-seg-coco",
        (TASK_INSTANCE_SEGMENTATION,),
        COCO_CLASSES,
        0.25,
        "instance segmentation model trained on COCO (80 classes)",
        "https://docs.ultralytics.com/tasks/segment/",
    ),
    (
        "-cls",
        "26-cls-imagenet",
        (TASK_CLASSIFICATION,),
        None,  # the 1,000 ImageNet classes, read from the weights
        0.0,
        "image classifier trained on ImageNet (1,000 classes)",
        "https://docs.ultralytics.com/tasks/classify/",
    ),
)


def _yolo26_entries():
    # speed / performance: YOLO26's published table ranks its sizes as
    # YOLO11's (n, s fastest; l, x most accurate), so _YOLO_SIZES holds
    entries = []
    for suffix, size, speed, perf in _YOLO_SIZES:
        for kind, version, tasks, vocab, conf, what, url in _YOLO26_TASKS:
            weights = "yolo26%s%s.pt" % (suffix, kind)
            entries.append(
                CatalogEntry(
                    name=weights[: -len(".pt")],
                    family="yolo",
                    version=version,
                    size=size,
                    library=LIBRARY_ULTRALYTICS,
                    architecture="yolo",
                    tasks=tasks,
                    zero_shot=False,
                    vocabulary=vocab,
                    default_confidence=conf,
                    description="YOLO26 %s %s, end-to-end (NMS-free)"
                    % (size, what)
                    if kind != "-cls"
                    else "YOLO26 %s %s" % (size, what),
                    author="Ultralytics",
                    license="AGPL-3.0",
                    url=url,
                    speed=speed,
                    performance=perf,
                    weights=weights,
                    source=_ULTRALYTICS_RELEASES_84 + weights,
                    download_mb=_YOLO26_MB[kind][suffix],
                    # the one-to-one head, as published (ultralytics'
                    # ``nms=False``); classifiers have no such head
                    extra={} if kind == "-cls" else {"end2end": True},
                )
            )

    return entries


def _text_encoder(variant, name, weights, megabytes):
    return CatalogEntry(
        name=name,
        family="mobileclip",
        version=variant,
        size="base",
        library=LIBRARY_ULTRALYTICS,
        architecture="mobileclip-text",
        tasks=(),
        zero_shot=True,
        description="MobileCLIP text encoder (TorchScript) with which YOLOE "
        "encodes class names; fetched with the YOLOE models that need it",
        author="Apple / Ultralytics",
        license="Apple ML Research Model Terms / AGPL-3.0",
        url="https://github.com/apple/ml-mobileclip",
        weights=weights,
        source=_ULTRALYTICS_RELEASES_84 + weights,
        download_mb=megabytes,
    )


#: YOLOE's text encoders, by the variant its model config names
#: (``text_model`` in ultralytics' YOLOE yaml files): TorchScript files that
#: ``autolabel models download <a YOLOE model>`` fetches with the model.
#: They label nothing by themselves, so they are not in
#: :data:`BUILTIN_MODELS`
YOLOE_TEXT_ENCODERS = {
    "mobileclip2:b": _text_encoder(
        "mobileclip2:b", "mobileclip2-b-text", "mobileclip2_b.ts", 254.0
    ),
    "mobileclip:blt": _text_encoder(
        "mobileclip:blt", "mobileclip-blt-text", "mobileclip_blt.ts", 254.0
    ),
}

#: the text encoder of YOLOE models whose config names none (ultralytics'
#: default)
YOLOE_DEFAULT_TEXT_ENCODER = "mobileclip:blt"

_YOLOE_SIZES = (
    # suffix, size, speed, performance
    ("s", "small", 3, 1),
    ("m", "medium", 2, 2),
    ("l", "large", 1, 3),
)

#: about how many megabytes the YOLOE checkpoints are: (generation,
#: prompt-free) -> size
_YOLOE_MB = {
    ("26", False): {"s": 24.6, "m": 52.4, "l": 64.2},
    ("26", True): {"s": 31.5, "m": 60.1, "l": 72.0},
    ("11", False): {"s": 28.1, "m": 56.9, "l": 70.8},
    ("11", True): {"s": 35.2, "m": 64.6, "l": 78.6},
}


def _yoloe_entries():
    entries = []
    for generation, variant in (("26", "mobileclip2:b"), ("11", "mobileclip:blt")):
        encoder = YOLOE_TEXT_ENCODERS[variant]
        for suffix, size, speed, perf in _YOLOE_SIZES:
            for free in (False, True):
                weights = "yoloe-%s%s-seg%s.pt" % (
                    generation,
                    suffix,
                    "-pf" if free else "",
                )
                if free:
                    how = (
                        "prompt-free: finds the classes of its built-in "
                        "vocabulary (4,585 classes), read from the weights"
                    )
                else:
                    how = (
                        "prompted with class names (encoded by the MobileCLIP "
                        "text encoder %s, which `autolabel models download "
                        "%s` fetches with it) or with example boxes"
                        % (encoder.weights, weights[: -len(".pt")])
                    )

                entries.append(
                    CatalogEntry(
                        name=weights[: -len(".pt")],
                        family="yoloe",
                        version="%s-seg%s" % (generation, "-pf" if free else ""),
                        size=size,
                        library=LIBRARY_ULTRALYTICS,
                        architecture="yoloe",
                        # the checkpoints segment; a detection run drops
                        # the masks
                        tasks=(TASK_DETECTION, TASK_INSTANCE_SEGMENTATION),
                        zero_shot=not free,
                        vocabulary=None,
                        default_confidence=0.25 if free else 0.1,
                        description="YOLOE-%s %s open-vocabulary detector and "
                        "segmenter, %s" % (generation, size, how),
                        author="Tsinghua University / Ultralytics",
                        license="AGPL-3.0",
                        url="https://docs.ultralytics.com/models/yoloe/",
                        speed=speed,
                        performance=perf,
                        weights=weights,
                        source=_ULTRALYTICS_RELEASES_84 + weights,
                        exemplar_prompts=() if free else (EXEMPLAR_POSITIVE,),
                        download_mb=_YOLOE_MB[(generation, free)][suffix],
                        # ultralytics predicts YOLOE with class-agnostic NMS
                        extra=(
                            {"agnostic_nms": True}
                            if free
                            else {"agnostic_nms": True, "text_encoder": variant}
                        ),
                    )
                )

    return entries


def _sam3_entries():
    return [
        CatalogEntry(
            name="sam3",
            family="sam3",
            version="3",
            size="large",
            library=LIBRARY_TRANSFORMERS,
            architecture="sam3",
            tasks=(
                TASK_DETECTION,
                TASK_INSTANCE_SEGMENTATION,
                TASK_BOX_SEGMENTATION,
            ),
            zero_shot=True,
            default_confidence=0.5,
            description="SAM 3: finds and segments every object of each "
            "class name or like example labels (positive and negative), "
            "and segments given boxes",
            author="Meta AI",
            license="SAM License",
            url="https://huggingface.co/facebook/sam3",
            speed=1,
            performance=3,
            weights="facebook--sam3",
            source="facebook/sam3",
            exemplar_prompts=(EXEMPLAR_POSITIVE, EXEMPLAR_NEGATIVE),
            download_mb=3450,
        )
    ]


def _sam2_entries():
    return [
        CatalogEntry(
            name="sam2.1-hiera-%s" % kind,
            family="sam2",
            version="2.1",
            size=size,
            library=LIBRARY_TRANSFORMERS,
            architecture="sam2",
            tasks=(TASK_BOX_SEGMENTATION,),
            zero_shot=True,
            default_confidence=0.0,
            description="SAM 2.1 Hiera %s: a mask for every box" % label,
            author="Meta AI",
            license="Apache-2.0",
            url="https://huggingface.co/facebook/sam2.1-hiera-" + kind,
            speed=speed,
            performance=perf,
            weights="facebook--sam2.1-hiera-" + kind,
            source="facebook/sam2.1-hiera-" + kind,
            download_mb=mb,
        )
        # speed and performance from the SAM 2.1 model card (FPS on an A100,
        # SA-V test J&F 76.5 / 76.6 / 78.2 / 79.5)
        for kind, size, label, speed, perf, mb in (
            ("tiny", "tiny", "Tiny", 3, 1, 156),
            ("small", "small", "Small", 3, 2, 185),
            ("base-plus", "base", "Base+", 2, 2, 324),
            ("large", "large", "Large", 1, 3, 898),
        )
    ]


#: the built-in catalog
BUILTIN_MODELS = (
    _yolo26_entries()
    + _yolo11_entries()
    + _yoloe_entries()
    + _yolo_world_entries()
    + _sam3_entries()
    + _transformers_entries()
    + _vlm_entries()
    + _sam2_entries()
    + _sam_entries()
)
