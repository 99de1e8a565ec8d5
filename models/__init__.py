"""The model catalog and one adapter per model library (see DESIGN.md)."""
