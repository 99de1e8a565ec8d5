"""FiftyOne Brain runs of a run's staged labels: patch embeddings shown in
the App's Embeddings panel, similarity search, mistakenness against another
model's labels, the review views and delegated operations the panel uses,
and their removal with the run.
"""

from .cleanup import delete_brain_data
from .embeddings import (
    DEFAULT_MODEL,
    NEAR_DUPLICATE_DISTANCE,
    check_similar,
    embed_labels,
    find_similar_labels,
)
from .mistakes import AGREEMENT_IOU, compute_mistakes
from .records import METHODS, brain_names, default_method, umap_installed
from .uniqueness import RANKINGS, SCORE_FIELDS, rank_samples
from .review import (
    brain_state,
    comparable_fields,
    check_mistakes_view,
    mistakes_view,
    queue_embedding,
    queue_mistakes,
)

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
    "check_mistakes_view",
    "comparable_fields",
    "compute_mistakes",
    "default_method",
    "delete_brain_data",
    "embed_labels",
    "find_similar_labels",
    "mistakes_view",
    "queue_embedding",
    "queue_mistakes",
    "rank_samples",
    "umap_installed",
]
