"""Noun-chunk prompts (TAO's JSONL): one line per image with its
``file_name``, ``caption`` and ``noun_chunks``, matched to samples by file
name; each image's phrases become its prompts and its labels."""

import hashlib
import json
import os

from ..errors import AutolabelError


def read_noun_chunks(path):
    """Reads TAO's noun-chunk JSONL: one JSON object per line with
    ``file_name``, ``caption`` and ``noun_chunks``.

    Args:
        path: the file

    Returns:
        a dict: image file name (its basename) -> its phrases, stripped,
        without duplicates, in their order (the lines of one file name are
        merged)

    Raises:
        AutolabelError: if the file cannot be read, a line is not a JSON
            object, or has no ``file_name`` or no list of ``noun_chunks``
    """
    fix = (
        "give TAO's JSONL: one {\"file_name\", \"caption\", "
        "\"noun_chunks\": [...]} object per line"
    )
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise AutolabelError(
            "cannot read the noun-chunk file %s: %s"
            % (path, getattr(e, "strerror", None) or e)
        ) from None

    phrases = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue

        try:
            record = json.loads(line)
        except ValueError:
            raise AutolabelError(
                "noun-chunk file %s line %d is not JSON; %s"
                % (path, number, fix)
            ) from None

        chunks = record.get("noun_chunks") if isinstance(record, dict) else None
        name = record.get("file_name") if isinstance(record, dict) else None
        if (
            not isinstance(name, str)
            or not name.strip()
            or not isinstance(chunks, list)
            or not all(isinstance(c, str) for c in chunks)
        ):
            raise AutolabelError(
                "noun-chunk file %s line %d has no file_name or no list of "
                "noun_chunks; %s" % (path, number, fix)
            )

        merged = phrases.setdefault(os.path.basename(name.strip()), [])
        for chunk in chunks:
            chunk = " ".join(chunk.split())
            if chunk and chunk not in merged:
                merged.append(chunk)

    if not phrases:
        raise AutolabelError("noun-chunk file %s has no lines; %s" % (path, fix))

    return phrases


def noun_chunk_record(path, dataset):
    """Reads and checks a noun-chunk file for a run's config.

    The record holds the file's digest and counts, never its phrases: a
    file of a million phrases is larger than a MongoDB document (16 MB).
    The workers read the phrases from the file, checking its digest.

    Args:
        path: the JSONL file
        dataset: the :class:`fiftyone.core.dataset.Dataset` whose samples'
            file names it must match (at least one), or None

    Returns:
        ``{"path", "sha256", "lines", "matched", "phrases"}``: the absolute
        path, its hash, the number of its images, of the samples matched
        and of its distinct phrases

    Raises:
        AutolabelError: if the file is unreadable, not JSONL, or matches
            no sample
    """
    if not isinstance(path, (str, os.PathLike)):
        raise AutolabelError(
            "noun chunks must be the path of a JSONL file, not %r" % (path,)
        )

    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    phrases = read_noun_chunks(path)
    matched = 0
    if dataset is not None:
        names = {os.path.basename(p) for p in dataset.values("filepath")}
        matched = len(names & set(phrases))
        if not matched:
            raise AutolabelError(
                "none of the %d file names of noun-chunk file %s is the file "
                "name of a sample of dataset '%s'; its file_name values must "
                "be the images' file names" % (len(phrases), path, dataset.name)
            )

    return {
        "path": path,
        "sha256": file_sha256(path),
        "lines": len(phrases),
        "matched": matched,
        "phrases": len({p for ps in phrases.values() for p in ps}),
    }


def file_sha256(path):
    """The SHA-256 of a file, to notice a noun-chunk file that changed under
    a run.

    Args:
        path: the file

    Returns:
        a hex string
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)

    return digest.hexdigest()
