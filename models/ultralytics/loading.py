"""Ultralytics checkpoints as adapters: loading them (:func:`load`) and
fetching the catalog's (:func:`download`); :mod:`.checkpoints` reads them
(without running code stored in them unless the user trusted them) and
recognizes the user's own.
"""

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts, check_vocabulary
from ..fetching import download_file, source_url
from ..weights import add_command, one_line
from . import yoloe
from .adapters import input_size
from .checkpoints import TASKS, NeedsTrust, read_checkpoint
from .classification import YoloClassifier
from .detection import YoloDetector
from .world import encode_prompts, set_prompts


def load(
    entry,
    path,
    device="cpu",
    half=False,
    classes=None,
    imgsz=None,
    exemplars=None,
):
    """Loads an ultralytics model.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the checkpoint
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on CPU)
        classes (None): the classes to predict: a subset of the vocabulary
            (None for all), or the prompts of a YOLO-World or YOLOE model
        imgsz (None): the input size; by default ``entry.extra["imgsz"]``,
            else the size the checkpoint was trained at
        exemplars (None): YOLOE: a list of positive
            :class:`autolabel.models.base.Exemplar`, each the prompt of its
            label (see :func:`autolabel.models.ultralytics.yoloe.set_prompts`)

    Returns:
        a :class:`autolabel.models.ultralytics.detection.YoloDetector`,
        :class:`autolabel.models.ultralytics.detection.YoloSegmenter` or
        :class:`autolabel.models.ultralytics.classification.YoloClassifier`

    Raises:
        AutolabelError: if the weights cannot be loaded or do not fit the
            entry, a class is unknown, the model takes no exemplars, or the
            text encoder of a YOLO-World or YOLOE model is missing
    """
    import torch

    yolo = _read_checkpoint(entry, path)
    adapter_cls = _check_task(entry, yolo.task)
    torch_device = torch.device(device)
    use_half = bool(half) and torch_device.type == "cuda"
    _select_head(yolo.model, entry)
    module = _prepare_module(yolo.model, torch_device, use_half)
    if imgsz is None:
        imgsz = entry.extra.get("imgsz") or yolo.overrides.get("imgsz")

    prompted = entry.architecture == "yolo-world" or (
        entry.architecture == "yoloe" and not yoloe.is_prompt_free(module)
    )
    if exemplars and not (prompted and entry.architecture == "yoloe"):
        raise AutolabelError(
            "Model '%s' is not prompted with example boxes" % entry.name
        )

    if entry.architecture == "yolo-world":
        classes = check_prompts(entry, classes)
        features = encode_prompts(entry, classes)
        set_prompts(module, entry, classes, features)
        names = list(classes)
        classes = None  # the prompts are the whole vocabulary
    elif prompted:
        if not exemplars:
            classes = check_prompts(entry, classes)

        size = input_size(module, imgsz or YoloDetector.default_imgsz)
        names = yoloe.set_prompts(module, entry, classes, exemplars, size)
        classes = None  # the prompts are the whole vocabulary
    else:
        names = [yolo.names[i] for i in sorted(yolo.names)]
        if classes:
            check_vocabulary(entry.name, classes, names)
            if set(classes) == set(names):
                classes = None  # all of them: nothing to filter

    kwargs = {}
    if entry.extra.get("agnostic_nms") and adapter_cls is not YoloClassifier:
        kwargs["agnostic"] = True

    return adapter_cls(
        entry,
        module,
        names,
        imgsz=imgsz,
        device=str(torch_device),
        half=use_half,
        classes=list(classes) if classes else None,
        **kwargs,
    )


def _select_head(model, entry):
    """Selects the head a catalog entry asks for, before the model is fused
    (which drops the other): ``extra["end2end"]`` True for the NMS-free
    one-to-one head of the catalog's YOLO26 (ultralytics' ``nms=False``), False
    for the one-to-many head and NMS; else the checkpoint's own choice, as
    ultralytics' ``predict()`` keeps it. ``extra["agnostic_nms"]`` makes
    the one-to-one head pick its best boxes across classes, as ultralytics
    predicts YOLOE."""
    head = model.model[-1] if hasattr(model, "model") else None
    if getattr(head, "one2one_cv2", None) is None:
        return  # no one-to-one head (or already fused)

    if "end2end" in entry.extra and head.cv2 is not None:
        head.end2end = bool(entry.extra["end2end"])

    if entry.extra.get("agnostic_nms"):
        head.agnostic_nms = True


def _read_checkpoint(entry, path):
    # the catalog's own checkpoints come from its sources; the user's are
    # read by the full loader only if they trusted them
    full = entry.trusted or not entry.custom
    try:
        return read_checkpoint(path, full=full)
    except NeedsTrust as e:
        raise AutolabelError(
            "model '%s': '%s' cannot be read without running code stored in "
            "it (%s), so nothing was loaded: if the file is from a source "
            "you trust, re-add it with %s"
            % (entry.name, path, e, add_command(entry.name, path))
        ) from e
    except Exception as e:
        raise AutolabelError(
            "Cannot load the weights of model '%s' from '%s': %s"
            % (entry.name, path, one_line(e))
        ) from e


def _check_task(entry, yolo_task):
    """The adapter class of the weights' task, which must be the entry's (a
    YOLOE segmentation checkpoint detects too: its adapter's
    ``with_masks`` False)."""
    task, adapter_cls = TASKS.get(yolo_task, (None, None))
    if task is None or task not in entry.tasks:
        raise AutolabelError(
            "The weights of model '%s' are an ultralytics '%s' model, not a "
            "%s model" % (entry.name, yolo_task, " / ".join(entry.tasks))
        )

    return adapter_cls


def _prepare_module(module, device, half):
    module = module.fuse(verbose=False)
    module = module.to(device).eval()
    if half:
        module = module.half()

    for param in module.parameters():
        param.requires_grad_(False)

    return module



def download(entry, path, progress=None):
    """Downloads a catalog model's checkpoint from ``entry.source`` (or its
    mirror, :func:`autolabel.models.fetching.source_url`), checked against
    the size the server sends and the SHA-256 the catalog gives. Needs
    internet access.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: where the checkpoint goes
        progress (None): a callable ``progress(done, total)`` of bytes
    """
    download_file(
        source_url(entry), path, sha256=entry.sha256, progress=progress
    )


def dependencies(entry):
    """Returns the catalog models a model needs besides its own weights:
    YOLO-World encodes its prompts with
    :data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER`; a prompted
    YOLOE model encodes class names with its MobileCLIP text encoder (an
    entry of :data:`autolabel.models.catalog.YOLOE_TEXT_ENCODERS`) and
    tokenizes them with that CLIP's tokenizer.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a tuple of model names or entries
    """
    if entry.architecture == "yolo-world":
        return (cat.YOLO_WORLD_TEXT_ENCODER,)

    if entry.architecture == "yoloe" and entry.zero_shot:
        return (yoloe.text_encoder(entry), cat.YOLO_WORLD_TEXT_ENCODER)

    return ()
