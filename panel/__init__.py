"""The Auto Labeling panel: the Python panel (:mod:`.auto_labeling`, its
figures in :mod:`.state`) and its React component (``panel/js``). See
``panel/README.md``."""
