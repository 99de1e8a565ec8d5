"""The vision-language models: Qwen2.5-VL and Florence-2, asked about
images with a prompt and answering text that :mod:`.vlm_answers` reads
into labels.

Why it is long: two models of different kinds (one instructed in words and
shown examples, one prompted with task tokens), each asked five tasks.

:meth:`VlmAdapter.answer` asks one question per image (per region, for the
region tasks; per class, for Florence-2's open-vocabulary detection) in
batches, decodes greedily, and keeps each generated token's probability
(``generate(..., output_logits=True, return_dict_in_generate=True)``: the
softmax of the model's raw logits at each step, as
``compute_transition_scores(..., normalize_logits=True)`` gives it): a label's
confidence is the geometric mean of the probabilities of the tokens of its
span in the answer (its class name, phrase or caption).

-   Qwen2.5-VL (:class:`QwenVlAdapter`) is instructed in words: the run's
    prompt, then what to answer (JSON boxes, one of the classes, yes / no, a
    caption). Its examples are shown to it as images before the question
    (a labeled box as the crop of that box). Regions are asked about as
    crops.
-   Florence-2 (:class:`Florence2Adapter`) takes a task token and one image:
    detection is ``<OPEN_VOCABULARY_DETECTION>`` per class (or
    ``<CAPTION_TO_PHRASE_GROUNDING>`` of the prompt without classes, or of
    the classes when the prompt is that token; or ``<OD>`` filtered to the
    classes when the prompt is ``<OD>``), captions
    ``<CAPTION>`` (or ``<DETAILED_CAPTION>`` / ``<MORE_DETAILED_CAPTION>``
    when the prompt is that token), regions ``<REGION_TO_CATEGORY>`` and
    ``<REGION_TO_DESCRIPTION>`` with the region's ``<loc_*>`` tokens. It is
    given no examples (:func:`autolabel.models.catalog.shows_examples`).

Imports torch and transformers (seconds): only the adapters import this.
"""

import numpy as np
import torch
import transformers
from PIL import Image

from ...errors import AutolabelError
from .. import catalog as cat
from ..base import ImagePredictions, ModelAdapter, VlmAnswer
from . import vlm_answers as A

#: the most new tokens of an answer, per task (a model's own generation
#: config may set fewer, with ``max_new_tokens``)
MAX_NEW_TOKENS = {
    cat.TASK_DETECTION: 1024,
    cat.TASK_CLASSIFICATION: 24,
    cat.TASK_CAPTION: 256,
    cat.TASK_REGION_CLASSIFICATION: 24,
    cat.TASK_REGION_CAPTION: 128,
}

#: the most questions generated in one batch
MAX_QUESTIONS = 32

#: the JSON Qwen2.5-VL is asked to answer boxes in (its grounding format)
JSON_FORMAT = (
    'Answer with JSON only: a list of {"bbox_2d": [x1, y1, x2, y2], '
    '"label": "..."}, one per object, in pixels of the image; [] if there '
    "is none."
)

FLORENCE_DETECTION_TOKENS = A.FLORENCE_TOKENS[cat.TASK_DETECTION]
FLORENCE_CAPTION_TOKENS = A.FLORENCE_TOKENS[cat.TASK_CAPTION]


def as_pil(image):
    """Returns an image as an RGB PIL image.

    Args:
        image: an ``(H, W, 3)`` uint8 RGB array or a PIL image

    Returns:
        a PIL image
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB")

    return Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")


def crop(image, box):
    """Crops a box of an image, its corners rounded outwards.

    Args:
        image: a PIL image
        box: ``[x1, y1, x2, y2]`` in pixels

    Returns:
        the PIL crop, or None if the box has no area in the image
    """
    clipped = A.clip_box(box, image.width, image.height)
    if clipped is None:
        return None

    x1, y1 = int(np.floor(clipped[0])), int(np.floor(clipped[1]))
    x2, y2 = int(np.ceil(clipped[2])), int(np.ceil(clipped[3]))
    return image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))


class VlmAdapter(ModelAdapter):
    """Base class of the vision-language adapters: the model on its device,
    its processor, batched greedy generation with token probabilities.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        model: the loaded model
        processor: its processor
        device ("cpu"): the torch device
        half (False): run in half precision (bfloat16 where the device has
            it, else float16; on CUDA devices only)
        classes (None): unused (a request names its classes)
    """

    #: the transformers class that loads the model
    model_class = None

    def __init__(
        self, entry, model, processor, device="cpu", half=False, classes=None
    ):
        half = bool(half) and torch.device(device).type == "cuda"
        super().__init__(
            entry=entry,
            device=device,
            half=half,
            classes=list(classes) if classes else None,
        )
        if half:
            self.dtype = (
                torch.bfloat16
                if torch.cuda.is_bf16_supported()
                else torch.float16
            )
        else:
            self.dtype = torch.float32

        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        generation = model.generation_config
        eos = generation.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        #: the ids that are not part of an answer's text
        self._not_text = {
            i
            for i in eos
            + [
                generation.pad_token_id,
                generation.bos_token_id,
                generation.decoder_start_token_id,
                self.tokenizer.pad_token_id,
                self.tokenizer.eos_token_id,
                self.tokenizer.bos_token_id,
            ]
            if i is not None
        }
        self._max_new_tokens = getattr(generation, "max_new_tokens", None)

    def preprocess(self, image):
        """Converts one decoded image for :meth:`answer` (in the engine's
        decoding threads).

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a PIL image
        """
        return as_pil(image)

    def predict(self, batch, min_confidence=0.0):
        """Vision-language models label only through :meth:`answer`, with a
        prompt.

        Args:
            batch: a list of :meth:`preprocess` results
            min_confidence (0.0): unused

        Raises:
            AutolabelError: always
        """
        raise AutolabelError(
            "Model '%s' is a vision-language model: label with it with the "
            "method '%s' and a prompt" % (self.entry.name, cat.METHOD_VLM)
        )

    def answer(self, images, request):
        """Asks the model about each image and reads its answers.

        Args:
            images: a list of ``(H, W, 3)`` uint8 RGB arrays or PIL images
            request: a :class:`autolabel.models.base.VlmRequest`

        Returns:
            a list of :class:`autolabel.models.base.VlmAnswer`, one per
            image, in pixels of the original images; a label's confidence
            is the geometric mean of the probabilities (greedy decoding,
            the model's raw logits) of the tokens of its span in the answer

        Raises:
            AutolabelError: if the model does not do the request's task,
                takes no examples and some are given, or the request lacks
                the classes or regions its task needs
        """
        self.check_request(request)
        images = [as_pil(image) for image in images]
        if request.regions is not None and len(request.regions) != len(images):
            raise AutolabelError(
                "%d images were given with the regions of %d"
                % (len(images), len(request.regions))
            )

        if not images:
            return []

        with torch.inference_mode():
            return self._answer(images, request)

    def check_request(self, request):
        """Checks that the model can answer a request, before a run asks it
        anything.

        Args:
            request: a :class:`autolabel.models.base.VlmRequest`

        Raises:
            AutolabelError: if the model does not do the task, takes no
                examples and some are given, or the request lacks what its
                task needs (a prompt, classes, regions)
        """
        A.check_request(self.entry, request)

    def _answer(self, images, request):
        raise NotImplementedError

    def _max_tokens(self, task):
        limit = MAX_NEW_TOKENS[task]
        if self._max_new_tokens:
            limit = min(limit, int(self._max_new_tokens))

        return limit

    def _generate(self, inputs, task):
        """Greedy generation of a batch; returns, per question, the answer's
        text and its tokens' ``(start, end, probability)``."""
        inputs = {
            k: (
                v.to(self.device, dtype=self.dtype)
                if torch.is_floating_point(v)
                else v.to(self.device)
            )
            for k, v in inputs.items()
            if isinstance(v, torch.Tensor)
        }
        out = self.model.generate(
            **inputs,
            max_new_tokens=self._max_tokens(task),
            do_sample=False,
            num_beams=1,
            output_logits=True,
            return_dict_in_generate=True,
        )
        # each generated token's probability under the model's raw logits
        # (``compute_transition_scores(..., normalize_logits=True)``), one
        # step at a time: a (batch, vocabulary) float array at most
        chosen = out.sequences[:, -len(out.logits) :]
        probs = torch.stack(
            [
                torch.log_softmax(logits.float(), dim=-1)
                .gather(1, chosen[:, i : i + 1])
                .squeeze(1)
                for i, logits in enumerate(out.logits)
            ],
            dim=1,
        )
        probs = probs.exp().cpu().numpy()
        new = chosen.cpu().numpy()
        return [self._text(ids, p) for ids, p in zip(new, probs)]

    def _text(self, ids, probs):
        """The text of an answer's tokens and each token's span in it."""
        kept = [
            (int(i), float(p))
            for i, p in zip(ids, probs)
            if int(i) not in self._not_text
        ]
        options = dict(
            skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        text = self.tokenizer.decode([i for i, _ in kept], **options)
        pieces = self.tokenizer.batch_decode([[i] for i, _ in kept], **options)
        if "".join(pieces) == text:  # each token decodes to its own characters
            scores, start = [], 0
            for piece, (_, p) in zip(pieces, kept):
                scores.append((start, start + len(piece), p))
                start += len(piece)

            return text, scores

        # a character split across byte-level tokens: decoded as prefixes,
        # a token's characters are what it adds to the previous prefix
        text, scores = "", []
        for k in range(len(kept)):
            decoded = self.tokenizer.decode(
                [i for i, _ in kept[: k + 1]], **options
            )
            start = (
                len(text)
                if decoded.startswith(text)
                else _common_prefix(text, decoded)
            )
            scores.append((start, len(decoded), kept[k][1]))
            text = decoded

        return text, scores

    def _batches(self, questions):
        for i in range(0, len(questions), MAX_QUESTIONS):
            yield questions[i : i + MAX_QUESTIONS]


def _common_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1

    return i


# Qwen2.5-VL -----------------------------------------------------------------


class QwenVlAdapter(VlmAdapter):
    """Qwen2.5-VL, instructed in words and shown the run's examples."""

    model_class = transformers.Qwen2_5_VLForConditionalGeneration

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a batch of prompts of different lengths ends where answers start
        self.tokenizer.padding_side = "left"

    def _answer(self, images, request):
        examples = self._example_content(request)
        task = request.task
        if task in (cat.TASK_REGION_CLASSIFICATION, cat.TASK_REGION_CAPTION):
            return self._answer_regions(images, request, examples)

        instruction = qwen_instruction(request)
        questions = [
            (examples[0] + [image], examples[1], instruction)
            for image in images
        ]
        answers = self._ask(questions, task)
        results = []
        for image, ((text, scores), size) in zip(images, answers):
            if task == cat.TASK_DETECTION:
                scale = (image.width / size[0], image.height / size[1])
                results.append(
                    A.parse_json_detections(
                        text,
                        request.classes,
                        image.width,
                        image.height,
                        scale=scale,
                        token_scores=scores,
                    )
                )
            elif task == cat.TASK_CLASSIFICATION:
                results.append(A.parse_class(text, request.classes, scores))
            else:
                results.append(A.parse_caption(text, scores))

        return results

    def _answer_regions(self, images, request, examples):
        instruction = qwen_instruction(request)
        questions, where = [], []
        for i, (image, regions) in enumerate(zip(images, request.regions)):
            for j, (label, box) in enumerate(regions):
                region = crop(image, box)
                if region is not None:
                    text = instruction
                    if label:
                        text = (
                            "This image is a region of a larger image, where "
                            "it was labeled %r. %s" % (label, instruction)
                        )
                    questions.append(
                        (examples[0] + [region], examples[1], text)
                    )
                    where.append((i, j))

        answers = self._ask(questions, request.task)
        per_image = [[None] * len(r) for r in request.regions]
        for (i, j), (answer, _) in zip(where, answers):
            per_image[i][j] = answer

        if request.task == cat.TASK_REGION_CLASSIFICATION:
            return [
                A.parse_region_classes(a, request.classes, regions)
                for a, regions in zip(per_image, request.regions)
            ]

        return [
            A.parse_region_captions(a, regions)
            for a, regions in zip(per_image, request.regions)
        ]

    def _example_content(self, request):
        """The example images and the chat content that shows them."""
        images, content = [], []
        for title, examples in (
            ("Examples of what to label:", request.examples),
            ("Examples of what NOT to label:", request.negative_examples),
        ):
            if not examples:
                continue

            content.append({"type": "text", "text": title})
            for example in examples:
                image = as_pil(example.image)
                if example.box is not None:
                    image = crop(image, example.box) or image

                images.append(image)
                content.append({"type": "image"})
                if example.label:
                    content.append(
                        {"type": "text", "text": "(%s)" % example.label}
                    )

        if content:
            content.append({"type": "text", "text": "Now the image to label:"})

        return images, content

    def _ask(self, questions, task):
        """Answers ``(images, example content, instruction)`` questions (the
        last image of each is the one asked about); returns per question
        ``((text, token scores), (input width, input height))``."""
        answers = []
        patch = self.processor.image_processor.patch_size
        for batch in self._batches(questions):
            texts, images = [], []
            for question_images, content, instruction in batch:
                messages = [
                    {
                        "role": "user",
                        "content": content
                        + [
                            {"type": "image"},
                            {"type": "text", "text": instruction},
                        ],
                    }
                ]
                texts.append(
                    self.processor.apply_chat_template(
                        messages, tokenize=False, add_generation_prompt=True
                    )
                )
                images.extend(question_images)

            inputs = self.processor(
                text=texts, images=images, padding=True, return_tensors="pt"
            )
            grids = inputs["image_grid_thw"].tolist()
            sizes, at = [], 0
            for question_images, _, _ in batch:
                at += len(question_images)
                _, h, w = grids[at - 1]
                sizes.append((w * patch, h * patch))

            answers.extend(zip(self._generate(inputs, task), sizes))

        return answers


def qwen_instruction(request):
    """The words Qwen2.5-VL is asked with for a request: the run's prompt,
    then what to answer.

    Args:
        request: a :class:`autolabel.models.base.VlmRequest`

    Returns:
        a string
    """
    prompt = request.prompt.strip()
    classes = request.classes
    task = request.task
    if task == cat.TASK_DETECTION:
        if classes:
            return (
                "%s\nLocate every object of these classes: %s. %s Each "
                "label is one of these classes."
                % (
                    prompt,
                    ", ".join(classes),
                    JSON_FORMAT,
                )
            )

        return "Locate %s in the image. %s" % (prompt, JSON_FORMAT)

    if task in (cat.TASK_CLASSIFICATION, cat.TASK_REGION_CLASSIFICATION):
        if len(classes) == 1 or A.yes_no_classes(classes):
            return "%s\nAnswer yes or no." % prompt

        return (
            "%s\nAnswer with exactly one of these classes and nothing "
            "else: %s." % (prompt, ", ".join(classes))
        )

    return prompt


# Florence-2 -----------------------------------------------------------------


class Florence2Adapter(VlmAdapter):
    """Florence-2, asked with its task tokens; it is shown no examples."""

    model_class = transformers.Florence2ForConditionalGeneration

    def _answer(self, images, request):
        task = request.task
        prompt = request.prompt.strip()
        if task == cat.TASK_DETECTION:
            return self._detect(images, request, prompt)

        if task == cat.TASK_CAPTION:
            token = (
                prompt if prompt in FLORENCE_CAPTION_TOKENS else "<CAPTION>"
            )
            answers = self._ask([(image, token) for image in images], task)
            return [A.parse_caption(text, scores) for text, scores in answers]

        token = (
            "<REGION_TO_CATEGORY>"
            if task == cat.TASK_REGION_CLASSIFICATION
            else "<REGION_TO_DESCRIPTION>"
        )
        questions, where = [], []
        for i, (image, regions) in enumerate(zip(images, request.regions)):
            for j, (_, box) in enumerate(regions):
                if A.clip_box(box, image.width, image.height) is not None:
                    locations = A.loc_tokens(box, image.width, image.height)
                    questions.append((image, token + locations))
                    where.append((i, j))

        per_image = [[None] * len(r) for r in request.regions]
        for (i, j), answer in zip(where, self._ask(questions, task)):
            per_image[i][j] = answer

        if task == cat.TASK_REGION_CLASSIFICATION:
            return [
                A.parse_region_classes(a, request.classes, regions)
                for a, regions in zip(per_image, request.regions)
            ]

        return [
            A.parse_region_captions(a, regions)
            for a, regions in zip(per_image, request.regions)
        ]

    def _detect(self, images, request, prompt):
        task, classes = request.task, request.classes
        question, keep_unknown = None, True
        if prompt == "<OD>" or (
            prompt in FLORENCE_DETECTION_TOKENS and not classes
        ):
            # its own vocabulary, filtered to the classes (if any)
            question, keep_unknown = "<OD>", False
        elif prompt == "<CAPTION_TO_PHRASE_GROUNDING>":
            # the classes as one caption whose phrases it grounds
            question = prompt + ". ".join(classes)
        elif not classes:  # the prompt is the phrase to ground
            question = "<CAPTION_TO_PHRASE_GROUNDING>" + prompt

        if question is not None:
            answers = self._ask([(image, question) for image in images], task)
            return [
                A.parse_loc_detections(
                    text,
                    classes,
                    image.width,
                    image.height,
                    token_scores=scores,
                    keep_unknown=keep_unknown,
                )
                for image, (text, scores) in zip(images, answers)
            ]

        # one open-vocabulary query per class, each box labeled its class
        questions = [
            (image, "<OPEN_VOCABULARY_DETECTION>" + c)
            for image in images
            for c in classes
        ]
        answers = self._ask(questions, task)
        results = []
        for i, image in enumerate(images):
            parts = [
                A.parse_loc_detections(
                    text,
                    classes,
                    image.width,
                    image.height,
                    token_scores=scores,
                    label=c,
                )
                for c, (text, scores) in zip(
                    classes, answers[i * len(classes) : (i + 1) * len(classes)]
                )
            ]
            results.append(_merge(parts))

        return results

    def _ask(self, questions, task):
        """Answers ``(image, task text)`` questions; returns per question
        ``(text, token scores)``."""
        answers = []
        for batch in self._batches(questions):
            inputs = self.processor(
                images=[image for image, _ in batch],
                text=[text for _, text in batch],
                padding=True,
                return_tensors="pt",
            )
            answers.extend(self._generate(inputs, task))

        return answers


def _merge(parts):
    """One answer of the answers of one image's queries."""
    predictions = [p.predictions for p in parts if p.predictions is not None]
    problems = [problem for p in parts for problem in p.problems]
    text = "\n".join(p.text for p in parts)
    if not predictions:
        return VlmAnswer(problems=problems, text=text)

    return VlmAnswer(
        predictions=ImagePredictions(
            labels=[label for p in predictions for label in p.labels],
            scores=np.concatenate([p.scores for p in predictions]).astype(
                np.float32
            ),
            boxes=np.concatenate(
                [p.boxes.reshape(-1, 4) for p in predictions]
            ).astype(np.float32),
        ),
        problems=problems,
        text=text,
    )
