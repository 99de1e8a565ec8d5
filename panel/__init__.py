"""The Auto Labeling panel: the Python panel (:mod:`.auto_labeling`, its
events; :mod:`.data`, the data it shows) and its React component
(``panel/js``). See ``panel/README.md``."""
