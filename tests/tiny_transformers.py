"""Tiny randomly initialised transformers models of the real architectures.

Each builder saves a model and its processor to a directory, the way a model
downloaded from the Hugging Face hub is saved, so the adapters' real loading
code (``from_pretrained(path, local_files_only=True)``) reads them. The
tokenizers are built here, without the hub, with the special tokens at the
ids the real models expect; the image processors resize to 32-160 pixels so
that tests run fast on a CPU.
"""

import os

import fiftyone as fo
import torch
import transformers

from autolabel.models.catalog import BUILTIN_MODELS

#: words that the tiny tokenizers hold whole; others are spelled out
WORDS = (
    "a", "photo", "of", "cat", "dog", "bird", "car", "person", "traffic",
    "light",
)  # fmt: skip

_SEED = 0
_VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=64,
    patch_size=8,
)


def save_tiny_owlvit(path):
    """Saves a tiny OWL-ViT detector and its processor (64 px images, 64
    patches).

    Args:
        path: the directory to write
    """
    tokenizer = clip_tokenizer(pad_token="!")
    config = transformers.OwlViTConfig(
        text_config=_clip_text_config(tokenizer),
        vision_config=_VISION,
        projection_dim=32,
    )
    image_processor = transformers.OwlViTImageProcessor(
        size={"height": 64, "width": 64}, crop_size={"height": 64, "width": 64}
    )
    _save(
        path,
        transformers.OwlViTForObjectDetection,
        config,
        transformers.OwlViTProcessor(image_processor, tokenizer),
        tame=_tame_owl_heads,
    )


def save_tiny_owlv2(path):
    """Saves a tiny OWLv2 detector and its processor (images padded to a
    square and resized to 64 px).

    Args:
        path: the directory to write
    """
    tokenizer = clip_tokenizer(pad_token="!")
    config = transformers.Owlv2Config(
        text_config=_clip_text_config(tokenizer),
        vision_config=_VISION,
        projection_dim=32,
    )
    image_processor = transformers.Owlv2ImageProcessor(
        size={"height": 64, "width": 64}
    )
    _save(
        path,
        transformers.Owlv2ForObjectDetection,
        config,
        transformers.Owlv2Processor(image_processor, tokenizer),
        tame=_tame_owl_heads,
    )


def save_tiny_grounding_dino(path):
    """Saves a tiny Grounding DINO detector (Swin and BERT backbones, 30
    queries) and its processor (shortest edge 96 px, longest 160).

    Args:
        path: the directory to write
    """
    tokenizer = bert_tokenizer()
    config = transformers.GroundingDinoConfig(
        backbone_config=dict(
            model_type="swin",
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            image_size=64,
            out_indices=[2, 3, 4],
        ),
        text_config=dict(
            model_type="bert",
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # one layer breaks the box heads' weight tying
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        num_queries=30,
    )
    # smaller images leave the coarsest feature map 1x1, where the model's
    # group norm fails
    image_processor = transformers.GroundingDinoImageProcessor(
        size={"shortest_edge": 96, "longest_edge": 160}
    )
    _save(
        path,
        transformers.GroundingDinoForObjectDetection,
        config,
        transformers.GroundingDinoProcessor(image_processor, tokenizer),
        tame=_tame_grounding_dino_heads,
    )


def save_tiny_clip(path):
    """Saves a tiny CLIP model and its processor (32 px center crops).

    Args:
        path: the directory to write
    """
    tokenizer = clip_tokenizer()
    config = transformers.CLIPConfig(
        text_config=_clip_text_config(tokenizer),
        vision_config=dict(_VISION, image_size=32),
        projection_dim=32,
    )
    image_processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    _save(
        path,
        transformers.CLIPModel,
        config,
        transformers.CLIPProcessor(image_processor, tokenizer),
    )


#: the builder of each catalog architecture
BUILDERS = {
    "owlvit": save_tiny_owlvit,
    "owlv2": save_tiny_owlv2,
    "grounding-dino": save_tiny_grounding_dino,
    "clip": save_tiny_clip,
}


def save_tiny_catalog_model(name):
    """Saves a tiny model of a built-in catalog entry where the loader looks
    for its weights, ``<fo.config.model_zoo_dir>/autolabel/<weights>``.

    Args:
        name: the catalog name, e.g. ``"owlv2-base-patch16"``

    Returns:
        a ``(entry, path)`` tuple
    """
    entry = next(e for e in BUILTIN_MODELS if e.name == name)
    path = os.path.join(fo.config.model_zoo_dir, "autolabel", entry.weights)
    BUILDERS[entry.architecture](path)
    return entry, path


def clip_tokenizer(pad_token="<|endoftext|>"):
    """A byte-level BPE tokenizer of CLIP's kind with a tiny vocabulary.

    It holds every printable ASCII character, alone and word-final, and
    merges that make each of :data:`WORDS` one token. The start and end
    tokens have the two highest ids, as in CLIP (OWL-ViT pools the text at
    the highest id).

    Args:
        pad_token ("<|endoftext|>"): the padding token (OWL-ViT pads with
            ``"!"``)

    Returns:
        a :class:`transformers.CLIPTokenizer`
    """
    tokens, merges = [], []
    for char in map(chr, range(33, 127)):
        tokens += [char, char + "</w>"]

    for word in WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        merged = parts[0]
        for part in parts[1:]:
            if (merged, part) not in merges:
                merges.append((merged, part))
            merged += part
            tokens.append(merged)

    vocab = {}
    for token in tokens + ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))

    return transformers.CLIPTokenizer(
        vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=16
    )


def bert_tokenizer():
    """A WordPiece tokenizer of BERT's kind with a tiny vocabulary.

    ``[CLS]``, ``[SEP]``, ``"."`` and ``"?"`` have BERT's ids (101, 102,
    1012, 1029), which Grounding DINO's model hard-codes; then come
    :data:`WORDS` and the letters, so any lowercase word tokenizes.

    Returns:
        a :class:`transformers.BertTokenizer`
    """
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]"}
    special.update({103: "[MASK]", 1012: ".", 1029: "?"})
    tokens = [special.get(i, "[unused%d]" % i) for i in range(1030)]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += list(WORDS) + letters + ["##" + c for c in letters]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))

    return transformers.BertTokenizer(vocab=vocab)


def _clip_text_config(tokenizer):
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def _tame_owl_heads(model):
    # random heads saturate every score at 1 and every box at the image's
    # edges; small weights give scores spread over (0, 1) and boxes around
    # their patches, as trained heads do
    for layer in (
        model.class_head.logit_scale,
        model.class_head.logit_shift,
        model.box_head.dense2,
    ):
        torch.nn.init.normal_(layer.weight, std=0.02)
        torch.nn.init.zeros_(layer.bias)


def _tame_grounding_dino_heads(model):
    # the same for Grounding DINO: its scores are dot products of decoder
    # and text features, which the decoder's last layer norm scales
    torch.nn.init.constant_(model.model.decoder.layer_norm.weight, 0.2)


def _save(path, model_class, config, processor, tame=None):
    torch.manual_seed(_SEED)
    model = model_class(config).eval()
    if tame is not None:
        with torch.no_grad():
            tame(model)

    model.save_pretrained(path)
    processor.save_pretrained(path)
