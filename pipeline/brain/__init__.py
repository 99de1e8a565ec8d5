"""FiftyOne Brain runs of a run's staged labels: patch embeddings shown in
the App's Embeddings panel, similarity search, mistakenness against another
model's labels, the hardness of a classification run's samples, image
embeddings and uniqueness of any run's samples, the review views and
delegated operations the panel uses, and their removal with the run.
"""

from .cleanup import delete_brain_data
from .embeddings import (
    DEFAULT_MODEL,
    NEAR_DUPLICATE_DISTANCE,
    check_similar,
    embed_labels,
    find_similar_labels,
)
from .hardness import check_hardness, compute_hardness
from .mistakes import AGREEMENT_IOU, compute_mistakes
from .records import METHODS, brain_names, default_method, umap_installed
from .uniqueness import (
    RANKINGS,
    SCORE_FIELDS,
    check_images,
    embed_images,
    most_unique_samples,
    rank_samples,
)
from .review import (
    brain_state,
    comparable_fields,
    queue_embedding,
    queue_hardness,
    queue_images,
    queue_mistakes,
)
from .views import check_mistakes_view, mistakes_view

__all__ = [
    "AGREEMENT_IOU",
    "DEFAULT_MODEL",
    "NEAR_DUPLICATE_DISTANCE",
    "check_similar",
    "METHODS",
    "RANKINGS",
    "SCORE_FIELDS",
    "brain_names",
    "brain_state",
    "check_hardness",
    "check_images",
    "check_mistakes_view",
    "comparable_fields",
    "compute_hardness",
    "compute_mistakes",
    "default_method",
    "delete_brain_data",
    "embed_images",
    "embed_labels",
    "find_similar_labels",
    "mistakes_view",
    "most_unique_samples",
    "queue_embedding",
    "queue_hardness",
    "queue_images",
    "queue_mistakes",
    "rank_samples",
    "umap_installed",
]
