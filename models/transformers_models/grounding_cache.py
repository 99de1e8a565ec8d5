"""The caches that let Grounding DINO's passes reuse work: the BERT
encoding of each distinct prompt (:class:`CachedTextEncoder`) and a batch's
vision backbone output (:class:`CachedVisionBackbone`), both standing in for
the model's own modules.
"""

import collections

import torch
from transformers.modeling_outputs import BaseModelOutput

#: the most distinct prompts whose BERT encoding is kept
MAX_CACHED_PROMPTS = 512


class CachedTextEncoder(torch.nn.Module):
    """Stands in for Grounding DINO's text backbone (BERT): encodes each
    distinct prompt once and returns its encoding for every later batch.

    A single-pass run always passes the same prompt, so BERT runs once; a
    pass of iterative labeling passes one prompt per image (padded), and
    each distinct one is encoded once, on its own tokens. The layers after
    it, which mix text and image, still run per batch.

    Args:
        text_backbone: the model's text backbone
    """

    def __init__(self, text_backbone):
        super().__init__()
        self.text_backbone = text_backbone
        self._encodings = collections.OrderedDict()

    def clear(self):
        """Forgets the cached encodings, for new prompts."""
        self._encodings.clear()

    def forward(self, input_ids, *args, **kwargs):
        """Returns the cached encoding of each row of ``input_ids``
        (computed for the rows not seen before), zero past its tokens."""
        length = input_ids.shape[1]
        rows = []
        for r, ids in enumerate(input_ids.tolist()):
            n = len(ids)
            while n > 1 and ids[n - 1] == 0:  # [PAD]
                n -= 1

            key = tuple(ids[:n])
            if key not in self._encodings:
                output = self.text_backbone(
                    input_ids[r : r + 1, :n],
                    *[_row_prefix(a, r, n, length) for a in args],
                    **{
                        k: _row_prefix(v, r, n, length)
                        for k, v in kwargs.items()
                    },
                )
                self._encodings[key] = output[0]
                if len(self._encodings) > MAX_CACHED_PROMPTS:
                    self._encodings.popitem(last=False)
            else:
                self._encodings.move_to_end(key)

            rows.append(self._encodings[key])

        if all(row.shape[1] == length for row in rows) and all(
            row is rows[0] for row in rows
        ):
            hidden = rows[0].expand(len(rows), -1, -1)
        else:
            hidden = torch.zeros(
                (len(rows), length, rows[0].shape[-1]),
                dtype=rows[0].dtype,
                device=rows[0].device,
            )
            for r, row in enumerate(rows):
                hidden[r, : row.shape[1]] = row[0]

        return BaseModelOutput(last_hidden_state=hidden)


class CachedVisionBackbone(torch.nn.Module):
    """Stands in for Grounding DINO's vision backbone (Swin and its position
    embeddings): runs it, except while :meth:`serving` a batch's output
    computed before, which it then returns without running anything.

    Args:
        backbone: the model's ``GroundingDinoConvModel``
    """

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self._served = None

    @property
    def position_embedding(self):
        """The wrapped backbone's position embedding (the model calls it for
        its extra feature levels)."""
        return self.backbone.position_embedding

    @property
    def conv_encoder(self):
        """The wrapped backbone's convolutional encoder."""
        return self.backbone.conv_encoder

    def serving(self, vision):
        """Returns a context in which :meth:`forward` returns ``vision``.

        Args:
            vision: the backbone's ``(features, position embeddings)`` of
                the images of the next forward
        """
        return _Serving(self, vision)

    def forward(self, pixel_values, pixel_mask):
        """The backbone's output: the one served, or computed."""
        if self._served is None:
            return self.backbone(pixel_values, pixel_mask)

        features, positions = self._served
        # the model appends its extra levels to these lists: copies
        return list(features), list(positions)


class _Serving:
    def __init__(self, backbone, vision):
        self.backbone = backbone
        self.vision = vision

    def __enter__(self):
        self.backbone._served = self.vision
        return self

    def __exit__(self, *exc):
        self.backbone._served = None
        return False


def take_rows(tensor, rows):
    """The rows of a batched tensor (itself when they are all, in order).

    Args:
        tensor: a ``(B, ...)`` tensor
        rows: a list of row indices

    Returns:
        a tensor
    """
    if rows == list(range(tensor.shape[0])):
        return tensor

    return tensor.index_select(
        0, torch.tensor(rows, device=tensor.device)
    )


def rows_of(vision, rows):
    """The rows of the vision backbone's output of a batch.

    Args:
        vision: the backbone's ``(features, position embeddings)``
        rows: a list of row indices

    Returns:
        the same structure, for those rows
    """
    features, positions = vision
    return (
        [(take_rows(f, rows), take_rows(m, rows)) for f, m in features],
        [take_rows(p, rows) for p in positions],
    )


def _row_prefix(value, row, n, length):
    """Row ``row`` of a batched tensor argument, cut to its first ``n``
    tokens along every dimension of the text's length."""
    if not isinstance(value, torch.Tensor) or value.ndim == 0:
        return value

    value = value[row : row + 1]
    index = tuple(
        slice(0, n) if d > 0 and size == length else slice(None)
        for d, size in enumerate(value.shape)
    )
    return value[index]
