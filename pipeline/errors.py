"""Errors raised by the auto-labeling pipeline (defined for all layers in
:mod:`autolabel.errors`)."""

from ..errors import AutolabelError  # noqa: F401
