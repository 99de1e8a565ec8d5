"""The one record store: a kind of record (runs, flows) is a FiftyOne run
record of one method in its dataset's ``runs`` collection, with declared
keys, read as snapshots and changed by atomic compare-and-set updates.

As in FiftyOne's ``fiftyone/core/runs.py``, where brain runs and evaluations
are thin layers over one run framework, each kind here (:mod:`.runs`,
:mod:`autolabel.pipeline.loop.flows`, the Brain records of
:mod:`autolabel.pipeline.brain.records`) declares its method, its keys and
its snapshot class, and reads and writes only through a
:class:`RecordStore`. FiftyOne's own ``update_run_config`` replaces the
whole config, so every change here is one atomic update of the record's
document, which names the values it expects (compare-and-set).

The stored document is FiftyOne's: ``{_dataset_id, key, config: {cls, type,
method, ...}, ...}``, linked from the dataset's ``runs``.
"""

import datetime

import fiftyone as fo
import fiftyone.core.odm as foo

from ..database import edit_dataset_document
from ..errors import AutolabelError

#: the config keys FiftyOne itself writes in every run record
FIFTYONE_KEYS = ("cls", "type", "method")


def now_iso():
    """Returns the current UTC time as an ISO 8601 string."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    )


class Record:
    """A read-only snapshot of one record: attribute access to its config.

    Args:
        key: the record's run key
        config: its config dict, as stored
    """

    #: the config keys :meth:`to_dict` leaves out
    HIDDEN = FIFTYONE_KEYS

    def __init__(self, key, config):
        self.key = key
        self.config = dict(config)

    def __getattr__(self, name):
        try:
            return self.__dict__["config"][name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self):
        """Returns a JSON-serializable dict of the record, key included."""
        d = {k: v for k, v in self.config.items() if k not in self.HIDDEN}
        d["key"] = self.key
        return d


class RecordStore:
    """The records of one method: their declared keys, reads, registration,
    atomic updates and deletion.

    Args:
        method: the FiftyOne run method of its records
        keys: a dict of every declared config key to what it holds
        snapshot (Record): the :class:`Record` class its reads return
        noun ("record"): what a user calls one, for messages
    """

    def __init__(self, method, keys, snapshot=Record, noun="record"):
        self.method = method
        self.keys = keys
        self.snapshot = snapshot
        self.noun = noun

    @staticmethod
    def collection():
        """The collection of every dataset's run documents."""
        return foo.get_db_conn().runs

    @staticmethod
    def filter(dataset, key):
        """The query of a dataset's record of a key.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key

        Returns:
            a MongoDB query
        """
        return {"_dataset_id": dataset._doc.id, "key": key}

    def check_keys(self, fields):
        """Refuses keys that are not declared.

        Args:
            fields: config keys (dotted paths allowed)

        Raises:
            ValueError: if a key's first part is not declared
        """
        for key in fields:
            if key.split(".", 1)[0] not in self.keys:
                raise ValueError(
                    "unknown %s key %r; declare it in the %s keys"
                    % (self.noun, key, self.noun)
                )

    def _snapshot(self, doc):
        if doc is None:
            return None

        return self.snapshot(doc["key"], doc.get("config") or {})

    def find(self, dataset, key):
        """Reads a record by its key, if it exists.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key

        Returns:
            a snapshot, or None
        """
        return self._snapshot(self.collection().find_one(self.filter(dataset, key)))

    def read(self, dataset, key, fields):
        """Reads only some config keys of a record: one small read, whatever
        the size of the record.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key
            fields: config keys

        Returns:
            the config dict with (at most) those keys, or None if there is no
            such record
        """
        doc = self.collection().find_one(
            self.filter(dataset, key), {"config." + f: True for f in fields}
        )
        return None if doc is None else doc.get("config") or {}

    def list(self, dataset):
        """Lists a dataset's records of this method, in no order.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`

        Returns:
            a list of snapshots
        """
        docs = self.collection().find(
            {"_dataset_id": dataset._doc.id, "config.method": self.method}
        )
        return [self._snapshot(d) for d in docs]

    def register(self, dataset, key, fields, name=None):
        """Registers a new record on a dataset, refusing a key the dataset
        already has.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key
            fields: its config, declared keys
            name (None): what to call the record in messages (its key if
                None)

        Returns:
            the new snapshot

        Raises:
            ValueError: if a key is not declared
            AutolabelError: if the dataset already has a record of ``key``
                (it is left as it is)
        """
        self.check_keys(fields)

        def register():
            linked = foo.get_db_conn().datasets.find_one(
                {"_id": dataset._doc.id, "runs." + key: {"$exists": True}},
                {"_id": True},
            )
            if linked is not None:
                raise AutolabelError(
                    "dataset '%s' already has a %s '%s'; choose another name"
                    % (dataset.name, self.noun, name or key)
                )

            # a failed attempt may have saved the document without linking
            # it to the dataset: remove it, or the record would be listed
            # twice
            self.collection().delete_many(self.filter(dataset, key))
            dataset.register_run(key, fo.RunConfig(method=self.method, **fields))

        edit_dataset_document(dataset, register)
        return self.find(dataset, key)

    def update(
        self,
        dataset,
        key,
        set=None,
        inc=None,
        push=None,
        add_to_set=None,
        pipeline=None,
        expected=None,
        where=None,
        returns=True,
        stamp=True,
    ):
        """One atomic update of a record's config (``$set``, ``$inc``,
        ``$push``, ``$addToSet``, or an aggregation pipeline), if it has the
        values expected.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key
            set (None): a dict of config keys (dotted paths allowed) to set
            inc (None): a dict of config keys to increment
            push (None): a dict of config keys to ``$push`` (values as
                MongoDB takes them, e.g. ``{"$each": [...], "$slice": 100}``)
            add_to_set (None): a dict of config keys to ``$addToSet``
            pipeline (None): a dict of config keys to aggregation
                expressions, set in one pipeline update (instead of the other
                operators); expressions see the record's document, e.g.
                ``"$config.counts"``
            expected (None): a dict of config keys (dotted paths allowed) to
                the value, or tuple of values, each must have for the update
                to happen (compare-and-set)
            where (None): more conditions on the record's document (MongoDB
                query syntax)
            returns (True): whether to return the updated snapshot
            stamp (True): whether to stamp ``updated_at`` with the current
                time, or the ISO time to stamp (that of other times the
                update writes)

        Returns:
            the updated snapshot (None if a condition did not match or the
            record does not exist), or None when ``returns`` is False

        Raises:
            ValueError: if a key is not declared
        """
        query = self.filter(dataset, key)
        for path, value in (expected or {}).items():
            if isinstance(value, (tuple, list)):
                value = {"$in": list(value)}

            query["config." + path] = value

        if where:
            query.update(where)

        def config(fields):
            self.check_keys(fields)
            return {"config." + k: v for k, v in fields.items()}

        if stamp is True:
            stamp = now_iso()

        stamp = {"updated_at": stamp} if stamp else {}
        if pipeline is not None:
            update = [{"$set": config(dict(pipeline, **stamp))}]
        else:
            update = {"$set": config(dict(set or {}, **stamp))}
            for op, fields in (
                ("$inc", inc),
                ("$push", push),
                ("$addToSet", add_to_set),
            ):
                if fields:
                    update[op] = config(fields)

        if not returns:
            self.collection().update_one(query, update)
            return None

        return self._snapshot(
            self.collection().find_one_and_update(
                query, update, return_document=True
            )
        )

    def merge(self, dataset, key, field, changes):
        """Sets keys of a dict config key in one atomic update that keeps its
        other keys: two writers of different keys both keep what they wrote.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key
            field: a declared config key holding a dict
            changes: a dict of its keys to set

        Returns:
            the updated snapshot, or None if there is no such record
        """
        merged = {
            "$mergeObjects": [
                {"$ifNull": ["$config." + field, {}]},
                {"$literal": changes},
            ]
        }
        return self.update(dataset, key, pipeline={field: merged})

    def delete(self, dataset, key):
        """Removes a record from its dataset, if it is there.

        Args:
            dataset: a :class:`fiftyone.core.dataset.Dataset`
            key: the run key
        """

        def delete():
            dataset.reload()
            if dataset.has_run(key):
                dataset.delete_run(key)

        edit_dataset_document(dataset, delete)
