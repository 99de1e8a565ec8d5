"""The model catalog and one adapter per model library.

Images in, predictions out: nothing here knows of datasets. From the bottom
up: :mod:`.catalog` (the entries), :mod:`.weights` (where weights live),
:mod:`.fetching` (fetching missing weights),
:mod:`.classes` (the rules of a run's classes) and :mod:`.base` (the adapter
interface); one adapter per library, :mod:`.ultralytics`,
:mod:`.transformers_models` and :mod:`.sam_models`, and :mod:`.adapters`,
the table of them by library; :mod:`.entries` (the built-in and the user's
models), :mod:`.loading` (fetching and loading through the adapters), and
:mod:`.registry`, the catalog's API for the rest of the project.
"""
