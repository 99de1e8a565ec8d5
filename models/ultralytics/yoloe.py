"""YOLOE's prompts: class names encoded by its MobileCLIP text encoder, and
example boxes (exemplars) encoded by its own visual prompt encoder.

Ultralytics encodes YOLOE's class names with a TorchScript MobileCLIP text
encoder (``mobileclip2_b.ts`` for YOLOE-26, ``mobileclip_blt.ts`` for
YOLOE-11 and v8: the ``text_model`` of the model's config) that it loads
with ``torch.jit.load``, and tokenizes them with OpenAI's ``clip`` package,
which is not on PyPI. Here the same TorchScript file is loaded the same way
from FiftyOne's model zoo directory, and the names are tokenized with
transformers' ``CLIPTokenizer`` of the catalog's CLIP
(:data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER`): the same
byte-level BPE (vocabulary, merges, pattern, lower case), after the same
text cleaning as ``clip.tokenize`` (ftfy, HTML unescaping), into the same
``(N, 77)`` tensor (start and end tokens, zero padding, truncation keeping
the end token).

Exemplars go through ultralytics' visual prompt path: the boxes of an image
become one mask per class (``LoadVisualPrompt``) and the model's own
``SAVPE`` module embeds them (``forward(..., vpe=, return_vpe=True)``);
several images of a class are averaged and normalized, as ultralytics'
YOLOE validator does.
"""

import html
import warnings

import numpy as np

from ...errors import AutolabelError
from .. import catalog as cat
from ..weights import has_weights, weights_path
from .adapters import letterbox

#: the context length of CLIP's tokenizer (``clip.tokenize``)
CONTEXT_LENGTH = 77


def is_prompt_free(module):
    """Tells whether a YOLOE model is prompt-free: its vocabulary is fused
    into its head (``set_vocab``), and it takes no prompts.

    Args:
        module: an ultralytics ``YOLOEModel`` or ``YOLOESegModel``

    Returns:
        True or False
    """
    return hasattr(module.model[-1], "lrpc")


def text_encoder(entry, module=None):
    """Returns the catalog entry of the text encoder of a YOLOE model.

    Args:
        entry: the YOLOE model's catalog entry
        module (None): its loaded module, whose config names the encoder
            (for custom models); else the entry's ``extra["text_encoder"]``

    Returns:
        an entry of :data:`autolabel.models.catalog.YOLOE_TEXT_ENCODERS`

    Raises:
        AutolabelError: if the model's text encoder is not one of them
    """
    variant = entry.extra.get("text_encoder")
    if module is not None:
        variant = getattr(module, "text_model", None) or variant

    variant = variant or cat.YOLOE_DEFAULT_TEXT_ENCODER
    encoder = cat.YOLOE_TEXT_ENCODERS.get(variant)
    if encoder is None:
        raise AutolabelError(
            "Model '%s' encodes class names with the text encoder '%s'; "
            "supported are %s: prompt it with example boxes instead"
            % (entry.name, variant, ", ".join(cat.YOLOE_TEXT_ENCODERS))
        )

    return encoder


def set_prompts(module, entry, classes=None, exemplars=None, imgsz=640):
    """Sets the classes a prompted YOLOE model finds, as ultralytics'
    ``set_classes`` does: each class is embedded by its exemplars if it has
    some (visual prompt embeddings), else by its name (text prompt
    embeddings).

    Args:
        module: the fused ``YOLOEModel`` / ``YOLOESegModel``, on its device
        entry: its catalog entry
        classes (None): the class names
        exemplars (None): a list of positive
            :class:`autolabel.models.base.Exemplar`; their labels are
            classes too
        imgsz (640): the model's input size

    Returns:
        the class names, in class index order

    Raises:
        AutolabelError: if there is no class, an exemplar is negative or its
            box is not a box of its image, or a class has no exemplar and
            the text encoder (or its tokenizer) is missing
    """
    import torch

    names = list(classes or [])
    for exemplar in exemplars or ():
        _check_exemplar(entry, exemplar)
        if exemplar.label not in names:
            names.append(exemplar.label)

    if not names:
        raise AutolabelError(
            "Model '%s' is prompted with class names or example boxes: give "
            "at least one" % entry.name
        )

    param = next(module.parameters())
    embed = module.model[-1].embed
    pe = torch.zeros(len(names), embed, device=param.device, dtype=param.dtype)
    visual = visual_embeddings(module, names, exemplars or (), imgsz)
    texts = [name for name in names if name not in visual]
    if texts:
        features = encode_texts(entry, module, texts)
        if features.shape[-1] != embed:
            raise AutolabelError(
                "The text encoder of model '%s' gives %d-dimensional "
                "embeddings but the model expects %d"
                % (entry.name, features.shape[-1], embed)
            )

        with torch.inference_mode():
            tpe = module.model[-1].get_tpe(
                features[None].to(device=param.device, dtype=param.dtype)
            )[0]

        for row, name in zip(tpe, texts):
            pe[names.index(name)] = row

    for name, row in visual.items():
        pe[names.index(name)] = row.to(param.dtype)

    module.set_classes(names, pe[None].clone())
    return names


def _check_exemplar(entry, exemplar):
    if not exemplar.positive:
        raise AutolabelError(
            "Model '%s' takes positive exemplars only; drop the negative "
            "ones" % entry.name
        )

    # a box that overlaps its image is used clipped to it (boxes of
    # FiftyOne labels may overshoot it by a rounding error)
    height, width = np.asarray(exemplar.image).shape[:2]
    x1, y1, x2, y2 = (float(v) for v in np.ravel(exemplar.box)[:4])
    if not (min(x2, width) > max(x1, 0) and min(y2, height) > max(y1, 0)):
        raise AutolabelError(
            "The example box [%g, %g, %g, %g] of '%s' is not a box of its "
            "%dx%d image" % (x1, y1, x2, y2, exemplar.label, width, height)
        )


def visual_embeddings(module, names, exemplars, imgsz):
    """Embeds the exemplars of each class with YOLOE's visual prompt
    encoder: per image, the union of a class's boxes is its prompt mask
    (ultralytics' ``LoadVisualPrompt``), embedded from the image's features
    (``return_vpe=True``); a class's embeddings over its images are
    averaged and L2-normalized (ultralytics' ``YOLOEDetectValidator.
    get_visual_pe``).

    Args:
        module: the fused YOLOE module, on its device
        names: the class names, in class index order
        exemplars: a list of positive :class:`autolabel.models.base.Exemplar`
        imgsz: the input size

    Returns:
        a dict of class name to its float ``(D,)`` embedding (device tensor),
        for the classes that have exemplars
    """
    import torch
    import torch.nn.functional as F
    from ultralytics.data.augment import LoadVisualPrompt

    if not exemplars:
        return {}

    param = next(module.parameters())
    by_image = {}
    for exemplar in exemplars:
        by_image.setdefault(id(exemplar.image), []).append(exemplar)

    sums, counts = {}, {}
    for group in by_image.values():
        prepared = letterbox(group[0].image, imgsz)
        boxes = np.array([e.box for e in group], dtype=np.float32)
        boxes[:, 0::2] = boxes[:, 0::2] * prepared.gain_x + prepared.pad_x
        boxes[:, 1::2] = boxes[:, 1::2] * prepared.gain_y + prepared.pad_y
        category = np.array([names.index(e.label) for e in group])
        masks = LoadVisualPrompt().get_visuals(
            category, (imgsz, imgsz), bboxes=boxes.copy()
        )
        _mark_small_boxes(masks, category, boxes)
        x = torch.from_numpy(prepared.pixels).permute(2, 0, 1)[None]
        x = x.to(device=param.device, dtype=param.dtype) / 255
        with torch.inference_mode():
            vpe = module(
                x,
                vpe=masks[None].to(device=param.device, dtype=param.dtype),
                return_vpe=True,
            )[0].float()

        # one embedding per class of the image, in sorted class order
        for index, row in zip(sorted(set(category.tolist())), vpe):
            name = names[index]
            sums[name] = sums.get(name, 0) + row
            counts[name] = counts.get(name, 0) + 1

    return {
        name: F.normalize(sums[name] / counts[name], dim=-1, p=2)
        for name in sums
    }


def _mark_small_boxes(masks, category, boxes, scale=1 / 8):
    """A box that covers no cell of the prompt mask (the mask is 8 times
    coarser than the input) marks the cell of its centre: an empty mask
    would embed the whole image."""
    for row, index in enumerate(sorted(set(category.tolist()))):
        if masks[row].any():
            continue

        for box in boxes[category == index]:
            col = min(int((box[0] + box[2]) / 2 * scale), masks.shape[2] - 1)
            line = min(int((box[1] + box[3]) / 2 * scale), masks.shape[1] - 1)
            masks[row, line, col] = 1


def encode_texts(entry, module, texts):
    """Encodes class names with a YOLOE model's MobileCLIP text encoder, as
    ultralytics' ``MobileCLIPTS`` does (the TorchScript file normalizes the
    embeddings itself).

    Args:
        entry: the YOLOE model's catalog entry (for messages)
        module: its module (whose config names its text encoder)
        texts: the class names

    Returns:
        a float ``(len(texts), D)`` tensor, on the CPU

    Raises:
        AutolabelError: if the text encoder or its tokenizer is missing
    """
    import torch

    encoder = text_encoder(entry, module)
    path = weights_path(encoder)
    if not has_weights(encoder):
        raise AutolabelError(
            "Model '%s' encodes class names with the MobileCLIP text encoder "
            "'%s', which is missing at '%s': run `autolabel models download "
            "%s` on a machine with internet access (then copy it to that "
            "path if this machine is offline), or prompt the model with "
            "example boxes only"
            % (entry.name, encoder.weights, path, _download_name(entry))
        )

    tokens = tokenize(entry, texts)
    with warnings.catch_warnings():
        # torch deprecates TorchScript, the format of these files
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.jit.load(path, map_location="cpu")

    with torch.inference_mode():
        features = [model(t).float() for t in tokens.split(80)]

    return torch.cat(features)


def tokenize(entry, texts):
    """Tokenizes texts as OpenAI's ``clip.tokenize(texts, truncate=True)``
    does, with the CLIP tokenizer of the catalog's CLIP model.

    Args:
        entry: the YOLOE model's catalog entry (for messages)
        texts: a list of strings

    Returns:
        an int64 ``(len(texts), 77)`` tensor

    Raises:
        AutolabelError: if the tokenizer is missing
    """
    import torch
    from transformers import AutoTokenizer

    clip = cat.builtin_model(cat.YOLO_WORLD_TEXT_ENCODER)
    path = weights_path(clip)
    if not has_weights(clip):
        raise AutolabelError(
            "Model '%s' tokenizes class names with the CLIP tokenizer of "
            "'%s', which is missing at '%s': run `autolabel models download "
            "%s` on a machine with internet access (then copy it to that "
            "path if this machine is offline), or prompt the model with "
            "example boxes only"
            % (entry.name, clip.name, path, _download_name(entry))
        )

    tokenizer = AutoTokenizer.from_pretrained(path)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    result = torch.zeros(len(texts), CONTEXT_LENGTH, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = tokenizer(_basic_clean(text))["input_ids"]
        if len(ids) > CONTEXT_LENGTH:
            ids = ids[:CONTEXT_LENGTH]
            ids[-1] = eot

        result[i, : len(ids)] = torch.tensor(ids)

    return result


def _basic_clean(text):
    # clip's basic_clean; its whitespace_clean and lower case are the
    # tokenizer's own normalizer
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass

    return html.unescape(html.unescape(text)).strip()


def _download_name(entry):
    # custom models are not downloaded: the catalog model of the same text
    # encoder fetches it
    if not entry.custom:
        return entry.name

    variant = entry.extra.get("text_encoder")
    for model in cat.BUILTIN_MODELS:
        if model.extra.get("text_encoder") == variant:
            return model.name

    return entry.name
