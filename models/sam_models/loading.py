"""Segment Anything checkpoints: building the model from one, loading it as
a segmenter, and what the catalog needs of the library (:func:`inspect`,
:func:`download`, :func:`dependencies`).

The model is built by ``segment_anything``'s own builders. The image
encoder's hyper-parameters are read from the checkpoint's tensors (width,
depth, heads, global attention blocks): for the official checkpoints they are
those of ``sam_model_registry[entry.sam_type]``, which builds the model; a
checkpoint with another encoder (a distilled one, or the tiny randomly
initialised ones of the tests) is built by ``segment_anything``'s
``_build_sam`` with its own hyper-parameters, and everything else (prompt
encoder, mask decoder, predictor) is the same code.
"""

import re

from ...errors import AutolabelError
from ..embedding_cache import open_cache
from ..fetching import download_file, source_url
from .segmenter import PREPROCESSING, SamSegmenter

#: the encoder hyper-parameters of ``sam_model_registry``'s models
REGISTRY_ENCODERS = {
    "vit_b": dict(
        encoder_embed_dim=768,
        encoder_depth=12,
        encoder_num_heads=12,
        encoder_global_attn_indexes=[2, 5, 8, 11],
    ),
    "vit_l": dict(
        encoder_embed_dim=1024,
        encoder_depth=24,
        encoder_num_heads=16,
        encoder_global_attn_indexes=[5, 11, 17, 23],
    ),
    "vit_h": dict(
        encoder_embed_dim=1280,
        encoder_depth=32,
        encoder_num_heads=16,
        encoder_global_attn_indexes=[7, 15, 23, 31],
    ),
}

_BLOCK_KEY = re.compile(r"^image_encoder\.blocks\.(\d+)\.")


def load(entry, path, device="cpu", half=False):
    """Loads a Segment Anything model.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the checkpoint (a state dict)
        device ("cpu"): the torch device
        half (False): run the image encoder in half precision (CUDA only;
            ignored on CPU)

    Returns:
        a :class:`autolabel.models.sam_models.segmenter.SamSegmenter`

    Raises:
        AutolabelError: if the checkpoint is not a Segment Anything one, or
            ``$AUTOLABEL_EMBEDDING_CACHE_GB`` is not a size
    """
    import torch

    sam = build_sam(entry, path)
    torch_device = torch.device(device)
    use_half = bool(half) and torch_device.type == "cuda"
    sam = sam.to(torch_device).eval()
    if use_half:
        # the ViT blocks in half precision; the neck (convolutions and
        # LayerNorm2d, whose variance overflows easily in half) in float32,
        # so the embeddings are float32, as the mask decoder wants
        encoder = sam.image_encoder.half()
        encoder.neck.float()
        encoder.neck.register_forward_pre_hook(_inputs_to_float32)

    for param in sam.parameters():
        param.requires_grad_(False)

    # the embeddings of half and float encoders differ: each has its own
    embedding_cache = open_cache(
        entry,
        path,
        half=use_half,
        input_size=sam.image_encoder.img_size,
        preprocessing=PREPROCESSING,
    )
    return SamSegmenter(
        entry=entry,
        device=str(torch_device),
        half=use_half,
        sam=sam,
        embedding_cache=embedding_cache,
    )


def _inputs_to_float32(module, args):
    return tuple(a.float() for a in args)


def build_sam(entry, path):
    """Builds a ``segment_anything.modeling.Sam`` from a checkpoint.

    Args:
        entry: the catalog entry
        path: the checkpoint

    Returns:
        the ``Sam`` module, on the CPU, with the checkpoint's weights

    Raises:
        AutolabelError: if the checkpoint is not a Segment Anything one
    """
    from segment_anything.build_sam import _build_sam, sam_model_registry

    try:
        state = _read_state_dict(path)
        encoder = encoder_config(state)
    except Exception as e:
        raise AutolabelError(
            "The weights of model '%s' at '%s' are not a Segment Anything "
            "checkpoint: %s" % (entry.name, path, " ".join(str(e).split()))
        ) from e

    if encoder == REGISTRY_ENCODERS.get(entry.sam_type):
        sam = sam_model_registry[entry.sam_type]()
    else:
        sam = _build_sam(**encoder)

    sam.load_state_dict(state)
    return sam


def _read_state_dict(path):
    import torch

    try:
        # memory-mapped: the weights are read once, into the model
        return torch.load(
            path, map_location="cpu", weights_only=True, mmap=True
        )
    except RuntimeError:
        # files of the legacy (non-zip) format cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def encoder_config(state):
    """Reads the image encoder's hyper-parameters from a SAM state dict.

    Args:
        state: the state dict

    Returns:
        a dict of ``encoder_embed_dim``, ``encoder_depth``,
        ``encoder_num_heads`` and ``encoder_global_attn_indexes``, the
        arguments of ``segment_anything.build_sam._build_sam``

    Raises:
        KeyError: if the state dict is not a SAM one
    """
    embed_dim = state["image_encoder.patch_embed.proj.weight"].shape[0]
    depth = 1 + max(int(m.group(1)) for m in map(_BLOCK_KEY.match, state) if m)
    rel_pos = [
        state["image_encoder.blocks.%d.attn.rel_pos_h" % i]
        for i in range(depth)
    ]
    head_dim = rel_pos[0].shape[1]
    # global blocks attend over the whole patch grid, windowed ones over a
    # window: their relative positions span 2 * grid - 1 patches
    grid = state["image_encoder.pos_embed"].shape[1]
    return dict(
        encoder_embed_dim=embed_dim,
        encoder_depth=depth,
        encoder_num_heads=embed_dim // head_dim,
        encoder_global_attn_indexes=[
            i for i, r in enumerate(rel_pos) if r.shape[0] == 2 * grid - 1
        ],
    )


#: the weights :func:`inspect` recognizes, for messages: none, the user
#: registers no Segment Anything checkpoint of their own
WEIGHTS_FORMAT = None


def inspect(name, path, trust=False):
    """Recognizes the user's own Segment Anything checkpoints: none yet
    (they are not registered as custom models).

    Args:
        name: the model's name
        path: the absolute path of the weights
        trust (False): unused

    Returns:
        None
    """
    return None


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
    none for Segment Anything.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        an empty tuple
    """
    return ()
