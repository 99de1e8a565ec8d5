"""Generation: runs whose labels come from models. A run's settings are
validated before anything is made (:mod:`.settings`); its target samples
are split into shards, one delegated operation each (:mod:`.lifecycle`:
generate, resume, skip, refresh, cancel; :mod:`.shards`); a worker labels
one shard (:mod:`.worker`), decoding images (:mod:`.images`) ahead of the
model, while a background writer stages its labels and mask files
(:mod:`.writer`, :mod:`.masks`).
"""

from .lifecycle import (
    cancel_run,
    generate,
    refresh_run,
    refresh_runs,
    resume_run,
    skip_run,
)
from .masks import default_mask_dir
from .settings import GenerationSettings
from .worker import run_shard

__all__ = [
    "GenerationSettings",
    "cancel_run",
    "default_mask_dir",
    "generate",
    "refresh_run",
    "refresh_runs",
    "resume_run",
    "run_shard",
    "skip_run",
]
