"""Tiny randomly initialised SAM 3 and SAM 2.1 models of the real
transformers architectures, saved the way the hub's checkpoints are, for the
tests; not part of the product.

-   SAM 3 (:func:`save_tiny_sam3`): a ``sam3_video`` directory, as the hub's
    ``facebook/sam3``: one safetensors file with the detector
    (``detector_model.*``, read by ``Sam3Model``) and the tracker
    (``tracker_model.*`` and ``tracker_neck.*``, read by
    ``Sam3TrackerModel``), and a ``Sam3Processor`` with a tiny CLIP
    tokenizer. Its state dict is written as is: ``Sam3VideoModel``'s own
    ``save_pretrained`` (transformers 5.23) prefixes the tracker's keys
    twice, which neither model reads back.
-   SAM 2.1 (:func:`save_tiny_sam2`): a ``sam2`` directory with a tiny Hiera
    image encoder and a ``Sam2Processor``.

The tiny models take images of 224 (SAM 3) and 128 (SAM 2.1) pixels, and
run in a fraction of a second per image on a CPU.
"""

import json
import os

from autolabel.models import catalog, registry
from tiny_models import clip_tokenizer

#: words the tiny SAM 3 tokenizer holds whole
SAM3_WORDS = ("cat", "dog", "bird", "car", "person", "visual")


def _sam3_config():
    import transformers as T

    tokenizer = clip_tokenizer(words=SAM3_WORDS)
    tokenizer.model_max_length = 32
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=32,
        projection_dim=32,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
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
    sizes = [[64, 64], [32, 32], [16, 16]]
    # the detector's neck has SAM 3's four scales; the tracker's the first
    # three (the real checkpoint's layout: its weights are the detector's)
    vision = T.Sam3VisionConfig(
        backbone_config=vit,
        fpn_hidden_size=32,
        scale_factors=[4.0, 2.0, 1.0, 0.5],
        backbone_feature_sizes=sizes,
    )
    tracker_vision = T.Sam3VisionConfig(
        backbone_config=vit,
        fpn_hidden_size=32,
        scale_factors=[4.0, 2.0, 1.0],
        backbone_feature_sizes=sizes,
    )
    small = dict(
        hidden_size=32,
        num_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    detector = T.Sam3Config(
        vision_config=vision,
        text_config=text,
        geometry_encoder_config=small,
        detr_encoder_config=small,
        detr_decoder_config=dict(small, num_queries=8),
        mask_decoder_config=dict(
            hidden_size=32, num_upsampling_stages=3, num_attention_heads=2
        ),
    )
    tracker = T.Sam3TrackerVideoConfig(
        vision_config=tracker_vision,
        image_size=224,
        prompt_encoder_config=dict(
            hidden_size=32, image_size=224, patch_size=14
        ),
        mask_decoder_config=dict(
            hidden_size=32,
            mlp_dim=64,
            num_attention_heads=2,
            iou_head_hidden_dim=32,
        ),
        memory_attention_hidden_size=32,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_encoder_hidden_size=32,
        memory_encoder_output_channels=32,
        mask_downsampler_embed_dim=32,
        memory_fuser_embed_dim=32,
        memory_fuser_intermediate_dim=64,
    )
    config = T.Sam3VideoConfig(
        detector_config=detector, tracker_config=tracker
    )
    processor = T.Sam3Processor(
        T.Sam3ImageProcessor(size={"height": 224, "width": 224}), tokenizer
    )
    return config, processor


def save_tiny_sam3(path, seed=0, detector_only=False):
    """Saves a tiny SAM 3 (detector and tracker) and its processor to a
    directory, as the hub's ``facebook/sam3`` is laid out.

    Args:
        path: the directory
        seed (0): the random seed
        detector_only (False): save a ``sam3`` directory (``Sam3Model``
            only, no tracker) instead

    Returns:
        the path
    """
    import torch
    import transformers as T
    from safetensors.torch import save_file

    config, processor = _sam3_config()
    torch.manual_seed(seed)
    os.makedirs(path, exist_ok=True)
    if detector_only:
        T.Sam3Model(config.detector_config).eval().save_pretrained(path)
    else:
        model = T.Sam3VideoModel(config).eval()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(
            state,
            os.path.join(path, "model.safetensors"),
            metadata={"format": "pt"},
        )
        config.save_pretrained(path)

    processor.save_pretrained(path)
    return path


def save_tiny_sam2(path, seed=0):
    """Saves a tiny SAM 2.1 (a Hiera image encoder of four small stages) and
    its processor to a directory.

    Args:
        path: the directory
        seed (0): the random seed

    Returns:
        the path
    """
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
        # a block that starts a stage pools its queries: not a global one
        global_attention_blocks=[3],
        window_positional_embedding_background_size=[4, 4],
    )
    vision = T.Sam2VisionConfig(
        backbone_config=hiera,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=32,
    )
    config = T.Sam2Config(
        vision_config=vision,
        prompt_encoder_config=dict(
            hidden_size=32, image_size=128, patch_size=16
        ),
        mask_decoder_config=dict(
            hidden_size=32,
            mlp_dim=64,
            num_attention_heads=2,
            iou_head_hidden_dim=32,
        ),
    )
    torch.manual_seed(seed)
    T.Sam2Model(config).eval().save_pretrained(path)
    T.Sam2Processor(
        T.Sam2ImageProcessor(size={"height": 128, "width": 128})
    ).save_pretrained(path)
    return path


def save_tiny_sam_catalog_model(name):
    """Saves a tiny model of a built-in SAM 3 or SAM 2.1 catalog entry where
    the loader looks for its weights.

    Args:
        name: ``"sam3"`` or a ``"sam2.1-hiera-*"`` name

    Returns:
        a ``(entry, path)`` tuple
    """
    entry = catalog.builtin_model(name)
    path = registry.weights_path(entry)
    if entry.architecture == "sam3":
        save_tiny_sam3(path)
    else:
        save_tiny_sam2(path)

    return entry, path


def model_type(path):
    """Returns the ``model_type`` of a saved model's config.json.

    Args:
        path: the directory

    Returns:
        a string
    """
    with open(os.path.join(path, "config.json")) as f:
        return json.load(f)["model_type"]
