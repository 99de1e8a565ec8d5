"""Transformers models: loading them as adapters, recognizing the user's own
(:func:`inspect`) and fetching the catalog's (:func:`download`).

This module is light: torch and transformers, which take seconds to import,
are imported when a model is loaded or downloaded (:func:`adapter_class`),
not when the catalog is listed.

The user's own models are read without running code stored in them: their
weights from ``*.safetensors`` files only, and no code the directory names
(``trust_remote_code=False``). A directory whose weights are only PyTorch
pickles (``pytorch_model.bin``) is read from them only if the user trusts it
(``autolabel models add --trust``).

Why it is long: eight architectures of two roles (labelers, and SAM 3 /
SAM 2.1 as segmenters too) are loaded, recognized in a user's directory
(SAM 3's checkpoint with or without its tracker) and fetched in two ways.
"""

import dataclasses
import json
import os
import shutil
import tempfile

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts
from ..embedding_cache import open_cache
from ..fetching import partial_prefix
from ..weights import add_command, one_line

#: the architectures the adapters support (the catalog's ``architecture`` is
#: the ``model_type`` of the model's transformers config) and their tasks
ARCHITECTURES = {
    "owlvit": cat.TASK_DETECTION,
    "owlv2": cat.TASK_DETECTION,
    "grounding-dino": cat.TASK_DETECTION,
    "clip": cat.TASK_CLASSIFICATION,
    "sam3": cat.TASK_INSTANCE_SEGMENTATION,
    "sam2": cat.TASK_BOX_SEGMENTATION,
    # vision-language models: their entries list all their tasks
    # (:data:`autolabel.models.catalog.VLM_ARCHITECTURE_TASKS`)
    "qwen2_5_vl": cat.TASK_DETECTION,
    "florence2": cat.TASK_DETECTION,
}

#: the tasks of SAM 3: it finds objects, and its tracker segments boxes
SAM3_TASKS = (
    cat.TASK_DETECTION,
    cat.TASK_INSTANCE_SEGMENTATION,
    cat.TASK_BOX_SEGMENTATION,
)

#: the SAM ``model_type`` of a config.json -> the architecture and tasks of
#: its entry. The hub's SAM 3 checkpoint is a ``sam3_video`` one, which holds
#: the detector (``Sam3Model``) and the tracker (``Sam3TrackerModel``); a
#: ``sam3`` directory holds the detector only. SAM 2.1's are ``sam2_video``
#: (``Sam2Model`` reads them) or ``sam2``
SAM_MODEL_TYPES = {
    "sam3_video": ("sam3", SAM3_TASKS),
    "sam3": ("sam3", SAM3_TASKS[:2]),
    "sam2_video": ("sam2", (cat.TASK_BOX_SEGMENTATION,)),
    "sam2": ("sam2", (cat.TASK_BOX_SEGMENTATION,)),
}

#: the transformers segmenter of each architecture with the segmenter role
#: (:func:`load_segmenter`)
SEGMENTERS = ("sam3", "sam2")

#: the files of a hub repository that a model fetched whole needs: its
#: configs, safetensors weights, tokenizer files and chat template
SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]

#: the architectures fetched as their hub repository's files: the
#: segmenters (below), and the vision-language models, whose hub weights
#: (bfloat16) are copied as they are instead of loaded (7B: 30 GB of
#: float32) and saved again
SNAPSHOT_ARCHITECTURES = SEGMENTERS + cat.VLM_ARCHITECTURES

#: the weights :func:`inspect` recognizes, for messages
WEIGHTS_FORMAT = "a transformers model directory (with a config.json)"

#: the extensions of weights files that are read by unpickling them
PICKLE_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def adapter_class(architecture):
    """Returns the adapter class of an architecture, importing the adapters
    (and torch and transformers) on first use.

    Args:
        architecture: one of :data:`ARCHITECTURES`

    Returns:
        a subclass of
        :class:`autolabel.models.transformers_models.common.TransformersAdapter`

    Raises:
        KeyError: if the architecture is not supported
    """
    from .clip import ClipAdapter
    from .grounding_dino import GroundingDinoAdapter
    from .owl import Owlv2Adapter, OwlViTAdapter
    from .sam2 import BoxSegmenter
    from .sam3 import Sam3Adapter
    from .vlm import Florence2Adapter, QwenVlAdapter

    return {
        "owlvit": OwlViTAdapter,
        "owlv2": Owlv2Adapter,
        "grounding-dino": GroundingDinoAdapter,
        "clip": ClipAdapter,
        "sam3": Sam3Adapter,
        "sam2": BoxSegmenter,
        "qwen2_5_vl": QwenVlAdapter,
        "florence2": Florence2Adapter,
    }[architecture]


def load(entry, path, device="cpu", half=False, classes=None, exemplars=None):
    """Loads a transformers model of the catalog and encodes its prompts.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`, whose
            ``architecture`` is one of :data:`ARCHITECTURES`
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only; ignored
            on the CPU)
        classes (None): the classes to predict, at least one (see
            :func:`autolabel.models.classes.check_prompts`) unless
            ``exemplars`` are given or the model is a vision-language model
            (whose requests name their classes:
            :meth:`autolabel.models.transformers_models.vlm.VlmAdapter.answer`)
        exemplars (None): SAM 3: a list of
            :class:`autolabel.models.base.Exemplar` (checked by
            :func:`autolabel.models.loading.check_exemplars`)

    Returns:
        a :class:`autolabel.models.base.ModelAdapter`

    Raises:
        AutolabelError: if the architecture is unknown or only segments
            boxes, no classes are given, or the model cannot be loaded from
            ``path``
    """
    _check_architecture(entry)
    if cat.ROLE_LABELER not in entry.roles:
        raise AutolabelError(
            "Model '%s' segments given boxes: it is loaded as a segmenter, "
            "not as a model of its own" % entry.name
        )

    kwargs = {}
    if exemplars:
        kwargs["exemplars"] = list(exemplars)
        classes = list(classes or [])
    elif cat.is_vlm(entry):
        classes = list(classes or [])
    else:
        classes = check_prompts(entry, classes)

    adapter_cls = adapter_class(entry.architecture)
    model, processor = _from_pretrained(entry, path, adapter_cls)
    return adapter_cls(
        entry,
        model,
        processor,
        device=device,
        half=half,
        classes=classes,
        **kwargs,
    )


def load_segmenter(entry, path, device="cpu", half=False):
    """Loads a transformers box segmenter: SAM 2.1 (``Sam2Model``) or SAM 3's
    interactive tracker (``Sam3TrackerModel``, from the same directory as
    SAM 3's detector).

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`, whose
            roles include the segmenter
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only)

    Returns:
        a :class:`autolabel.models.transformers_models.sam2.BoxSegmenter`

    Raises:
        AutolabelError: if the model is not a transformers box segmenter or
            cannot be loaded from ``path``
    """
    _check_architecture(entry)
    if (
        entry.architecture not in SEGMENTERS
        or cat.ROLE_SEGMENTER not in entry.roles
    ):
        raise AutolabelError(
            "Model '%s' is not a box segmenter; `autolabel models` lists "
            "the segmenters" % entry.name
        )

    from .sam2 import BoxSegmenter
    from .sam3 import Sam3Segmenter

    segmenter_cls = {"sam3": Sam3Segmenter, "sam2": BoxSegmenter}[
        entry.architecture
    ]
    model, processor = _from_pretrained(entry, path, segmenter_cls)
    segmenter = segmenter_cls(entry, model, processor, device=device, half=half)
    # the image processor's resizing and normalisation shape the embeddings
    segmenter.embedding_cache = open_cache(
        entry,
        path,
        half=segmenter.half,
        preprocessing=processor.image_processor.to_json_string(),
    )
    return segmenter


def _check_architecture(entry):
    if entry.architecture not in ARCHITECTURES:
        raise AutolabelError(
            "Model '%s' has architecture '%s'; the transformers adapters "
            "support %s"
            % (entry.name, entry.architecture, ", ".join(ARCHITECTURES))
        )


def _from_pretrained(entry, path, adapter_cls):
    """The model and processor of an adapter class, read from ``path``."""
    import transformers

    # the user's own weights: safetensors only, unless they trusted pickles
    safetensors_only = entry.custom and not entry.trusted
    if safetensors_only and not any(
        f.endswith(".safetensors") for f in os.listdir(path)
    ):
        raise AutolabelError(
            "model '%s': '%s' has no safetensors weights, and pickled weights "
            "can run code stored in them, so nothing was loaded: if the "
            "directory is from a source you trust, re-add it with %s"
            % (entry.name, path, add_command(entry.name, path))
        )

    try:
        model, info = adapter_cls.model_class.from_pretrained(
            path,
            local_files_only=True,
            use_safetensors=True if safetensors_only else None,
            output_loading_info=True,
        )
        processor_cls = (
            getattr(adapter_cls, "processor_class", None)
            or transformers.AutoProcessor
        )
        processor = processor_cls.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
    except OSError as e:
        raise AutolabelError(
            "Could not load model '%s' from '%s': %s" % (entry.name, path, e)
        ) from e

    # transformers initialises the weights a directory lacks at random (a
    # SAM 3 directory without its tracker, a partial download) and only
    # warns: a model with random parts must not label anything. Checked for
    # the adapters that ask (``strict_weights``): the SAM ones, whose hub
    # checkpoints hold every tensor
    missing = sorted(info.get("missing_keys") or ())
    if missing and getattr(adapter_cls, "strict_weights", False):
        raise AutolabelError(
            "Could not load model '%s' from '%s': its weights lack %d "
            "tensors of %s (e.g. %s); the directory is incomplete or holds "
            "another model: fetch it again, or add the complete directory"
            % (
                entry.name,
                path,
                len(missing),
                adapter_cls.model_class.__name__,
                missing[0],
            )
        )

    return model, processor


def inspect(name, path, trust=False):
    """Reads the architecture of the user's transformers model directory,
    for the catalog. Only the zero-shot architectures of
    :data:`ARCHITECTURES` are accepted: fixed-vocabulary transformers models
    (DETR, ViT, ...) have no adapter yet, and a model that cannot run is not
    registered. SAM 3 and SAM 2.1 directories are recognized by their
    ``model_type`` (:data:`SAM_MODEL_TYPES`): a SAM 3 one (detector and
    tracker) labels and segments boxes, SAM 2.1 segments boxes.

    Only ``config.json`` is read. A directory whose weights are only PyTorch
    pickles (:data:`PICKLE_EXTENSIONS`, no ``*.safetensors``) needs
    ``trust``: loading them can run code stored in them.

    Args:
        name: the model's name
        path: the absolute path of the directory
        trust (False): whether the user trusts pickled weights

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry` (``trusted``
        if its weights are pickles), or None if ``path`` is not a directory
        with a ``config.json``

    Raises:
        AutolabelError: if the config is unreadable or of another
            architecture, or the weights are pickles and ``trust`` is False
    """
    config_path = os.path.join(path, "config.json")
    if not (os.path.isdir(path) and os.path.isfile(config_path)):
        return None

    try:
        with open(config_path) as f:
            config = json.load(f)
    except ValueError as e:
        raise AutolabelError(
            "Unrecognized weights '%s': its config.json is unreadable (%s)"
            % (path, one_line(e))
        ) from e

    model_type = config.get("model_type")
    architecture, tasks = SAM_MODEL_TYPES.get(
        model_type,
        (
            model_type,
            cat.VLM_ARCHITECTURE_TASKS.get(
                model_type, (ARCHITECTURES.get(model_type),)
            ),
        ),
    )
    if architecture not in ARCHITECTURES:
        supported = [a for a in ARCHITECTURES if a not in SEGMENTERS]
        raise AutolabelError(
            "Unrecognized transformers model '%s' (model_type '%s'): "
            "supported are %s"
            % (path, model_type, ", ".join(supported + list(SAM_MODEL_TYPES)))
        )

    files = os.listdir(path)
    pickles = [f for f in files if f.endswith(PICKLE_EXTENSIONS)]
    trusted = bool(pickles) and not any(f.endswith(".safetensors") for f in files)
    if trusted and not trust:
        raise AutolabelError(
            "The weights of '%s' are PyTorch pickles (%s), and loading them "
            "can run code stored in them; nothing was run or added: save the "
            "model with safetensors (`save_pretrained` does by default), or "
            "pass --trust (Python: trust=True) if it is from a source you "
            "trust" % (path, ", ".join(sorted(pickles)))
        )

    entry = cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_TRANSFORMERS,
        architecture=architecture,
        task=tasks[0],
        zero_shot=True,
        vocabulary=None,
        description="Custom %s model" % model_type,
        trusted=trusted,
    )
    if architecture == "sam3":
        # SAM 3 is prompted with class names and exemplars, and its scores
        # are calibrated for its own threshold
        entry = dataclasses.replace(
            entry,
            tasks=tasks,
            default_confidence=cat.builtin_model("sam3").default_confidence,
            exemplar_prompts=cat.builtin_model("sam3").exemplar_prompts,
        )
    elif architecture in cat.VLM_ARCHITECTURES:
        # a vision-language model does every task of its architecture; its
        # confidences are token probabilities
        entry = dataclasses.replace(
            entry,
            tasks=tasks,
            default_confidence=0.0,
            extra=dict(cat.VLM_ARCHITECTURE_EXTRA[architecture]),
        )

    return entry


def download(entry, path, progress=None):
    """Fetches a catalog model from its Hugging Face repository
    (``entry.source``; a mirror is named by huggingface_hub's
    ``HF_ENDPOINT``) with ``from_pretrained`` and saves it, with its
    processor, to ``path`` with ``save_pretrained``; SAM 3 and SAM 2.1 as
    the repository's files (:data:`SNAPSHOT_FILES`). Needs internet access.

    The model is saved to a temporary directory next to ``path`` that is
    moved into place when complete.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the directory the model goes to
        progress (None): a callable ``progress(done, total)``: called with
            ``(0, None)`` when the fetch starts (huggingface_hub shows its
            own progress bars)
    """
    import transformers

    if progress is not None:
        progress(0, None)

    tmp_dir = tempfile.mkdtemp(
        prefix=partial_prefix(path), dir=os.path.dirname(path)
    )
    try:
        if entry.architecture in SNAPSHOT_ARCHITECTURES:
            # the hub's files as they are: SAM 3's checkpoint holds its
            # detector and its tracker, which save_pretrained of either
            # model class would not both keep
            from huggingface_hub import snapshot_download

            snapshot_download(
                entry.source,
                local_dir=tmp_dir,
                allow_patterns=SNAPSHOT_FILES,
            )
        else:
            model_cls = adapter_class(entry.architecture).model_class
            model_cls.from_pretrained(entry.source).save_pretrained(tmp_dir)
            processor = transformers.AutoProcessor.from_pretrained(
                entry.source
            )
            processor.save_pretrained(tmp_dir)

        os.replace(tmp_dir, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def dependencies(entry):
    """Returns the catalog models a model needs besides its own weights:
    none for transformers models.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        an empty tuple
    """
    return ()
