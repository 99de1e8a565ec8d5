"""YOLO-World's class prompts, encoded with the catalog's CLIP.

YOLO-World encodes its class prompts with CLIP's text tower. Ultralytics
would install OpenAI's ``clip`` package and download its weights, which does
not work offline; the adapter encodes them with the transformers weights of
the catalog's :data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER` (the
same OpenAI ViT-B/32 weights), kept in FiftyOne's model zoo directory.
"""

from ...errors import AutolabelError
from .. import catalog as cat
from ..weights import has_weights, weights_path


def set_prompts(module, entry, classes, features):
    """Sets the classes a YOLO-World model detects: stores their text
    embeddings (:func:`encode_prompts`) in the model, on its device and in
    its precision, as ultralytics' ``set_classes`` does.

    Args:
        module: the ``ultralytics.nn.tasks.WorldModel``
        entry: the YOLO-World model's catalog entry
        classes: the class names
        features: their ``(len(classes), D)`` embeddings

    Raises:
        AutolabelError: if the embeddings do not fit the model
    """
    expected = module.txt_feats.shape[-1]
    if features.shape[-1] != expected:
        raise AutolabelError(
            "The text encoder '%s' gives %d-dimensional embeddings but model "
            "'%s' expects %d"
            % (
                cat.YOLO_WORLD_TEXT_ENCODER,
                features.shape[-1],
                entry.name,
                expected,
            )
        )

    param = next(module.parameters())
    module.txt_feats = features.reshape(1, len(classes), -1).to(
        device=param.device, dtype=param.dtype
    )
    module.model[-1].nc = len(classes)
    module.names = {i: name for i, name in enumerate(classes)}


def encode_prompts(entry, classes):
    """Encodes class names with CLIP's text tower, L2-normalized, as
    ultralytics' ``CLIP.encode_text`` does.

    Args:
        entry: the YOLO-World model's catalog entry (for messages)
        classes: the class names

    Returns:
        a float ``(len(classes), D)`` tensor

    Raises:
        AutolabelError: if the text encoder's weights are missing
    """
    import torch
    from transformers import AutoTokenizer, CLIPModel

    path = _text_encoder_path(entry)
    tokenizer = AutoTokenizer.from_pretrained(path)
    clip = CLIPModel.from_pretrained(path).eval()
    tokens = tokenizer(
        list(classes), padding=True, truncation=True, return_tensors="pt"
    )
    with torch.inference_mode():
        output = clip.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        )

    features = getattr(output, "pooler_output", output).float()
    return features / features.norm(p=2, dim=-1, keepdim=True)


def _text_encoder_path(entry):
    encoder = cat.builtin_model(cat.YOLO_WORLD_TEXT_ENCODER)
    path = weights_path(encoder)
    if not has_weights(encoder):
        raise AutolabelError(
            "Model '%s' encodes its classes with the CLIP text encoder of "
            "'%s', whose weights are missing at '%s': run `autolabel models "
            "download %s` on a machine with internet access, then copy them "
            "to that path if this machine is offline"
            % (entry.name, encoder.name, path, encoder.name)
        )

    return path
