"""Labels in and out: COCO directories (:mod:`.coco`) and TAO's ODVG JSONL
(:mod:`.odvg`) into new datasets, approved labels out as either
(:mod:`.export`), with what they share (:mod:`.common`); and the analysis
of labels a dataset already has, imported into a run for review
(:mod:`.existing_labels`).
"""

from .coco import MEDIA, import_coco
from .common import IMPORT_INFO
from .existing_labels import analyzable_fields, import_labels
from .export import FORMATS, export_labels
from .odvg import import_odvg

__all__ = [
    "FORMATS",
    "IMPORT_INFO",
    "MEDIA",
    "analyzable_fields",
    "export_labels",
    "import_coco",
    "import_labels",
    "import_odvg",
]
