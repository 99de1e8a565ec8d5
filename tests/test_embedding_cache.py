"""Segment Anything's image embeddings kept on disk between runs: a second
existing-detections run on the same images reads them back (same masks), an
edited image misses, the size bound holds with the least recently used
entries going first, a truncated entry is a miss, and writers killed with
``kill -9`` in the middle of several processes writing at once leave no
broken entry."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.models import embedding_cache as EC
from autolabel.models import registry as mr

import tiny_models as TU

#: the size of one tiny SAM entry on disk: a (256, 64, 64) float32 embedding
ENTRY_BYTES = 256 * 64 * 64 * 4


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "embeddings"
    monkeypatch.setenv(EC.DIR_ENV, str(folder))
    monkeypatch.delenv(EC.SIZE_ENV, raising=False)
    return folder


def entries(folder):
    return sorted(folder.glob("*/*.pt"))


def write_images(folder, names, seed=0):
    folder.mkdir(exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = str(folder / name)
        cv2.imwrite(path, TU.random_image(150 + 10 * i, 200, seed=seed + i))
        paths.append(path)

    return paths


def boxed_dataset(make_dataset, paths):
    """A dataset whose samples have two existing boxes each."""
    boxes = [[0.1, 0.1, 0.4, 0.5], [0.3, 0.2, 0.6, 0.7]]
    return make_dataset(
        fo.Sample(
            filepath=p,
            gt=fo.Detections(
                detections=[
                    fo.Detection(label="thing", bounding_box=b) for b in boxes
                ]
            ),
        )
        for p in paths
    )


def segment_existing(dataset, field, tmp_path, seg_model="sam-vit-b"):
    """An existing-detections run with a tiny SAM: its masks per image
    (in order) and the hits and misses of its embedding cache."""
    run = P.generate(
        dataset,
        task="instance_segmentation",
        existing_field="gt",
        seg_model=seg_model,
        label_field=field,
        mask_dir=str(tmp_path / ("masks-" + field)),
        delegate=False,
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    masks = {}
    for path, value in zip(
        dataset.values("filepath"), dataset.values(run.staging_field)
    ):
        masks[os.path.basename(path)] = [
            cv2.imread(d.mask_path, cv2.IMREAD_GRAYSCALE) > 0
            for d in value.detections
        ]
        assert len(masks[os.path.basename(path)]) == 2

    finished = [
        e for e in P.run_log(dataset, run.key) if e["kind"] == "finished"
    ]
    return masks, finished[-1].get("embedding_cache"), finished[-1]["text"]


def assert_same_masks(a, b, names=None):
    for name in names or a:
        assert len(a[name]) == len(b[name])
        for x, y in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_second_run_reads_every_embedding_back(
    tiny_models, make_dataset, cache_dir, tmp_path
):
    paths = write_images(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg"])
    # a copy of an image elsewhere is the same content: a hit
    shutil.copy(paths[0], tmp_path / "images" / "copy-of-a.jpg")
    paths.append(str(tmp_path / "images" / "copy-of-a.jpg"))
    dataset = boxed_dataset(make_dataset, paths)

    first, counts, text = segment_existing(dataset, "first", tmp_path)
    assert counts == {"hits": 1, "misses": 3}
    assert "image embeddings: 1 from the cache, 3 computed" in text
    assert len(entries(cache_dir)) == 3
    assert_same_masks({"x": first["a.jpg"]}, {"x": first["copy-of-a.jpg"]})

    second, counts, text = segment_existing(dataset, "second", tmp_path)
    assert counts == {"hits": 4, "misses": 0}
    assert "4 from the cache, 0 computed" in text
    assert_same_masks(first, second)


def test_an_edited_image_misses_and_its_masks_follow_it(
    tiny_models, make_dataset, cache_dir, tmp_path, monkeypatch
):
    paths = write_images(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg"])
    dataset = boxed_dataset(make_dataset, paths)
    first, counts, _ = segment_existing(dataset, "first", tmp_path)
    assert counts == {"hits": 0, "misses": 3}

    # a.jpg only touched (same pixels): a hit; b.jpg edited; c.jpg saved
    # again at another JPEG quality (other pixels): misses
    os.utime(paths[0], (1e9, 1e9))
    edited = cv2.imread(paths[1])
    cv2.imwrite(paths[1], np.ascontiguousarray(edited[::-1]))
    cv2.imwrite(paths[2], cv2.imread(paths[2]), [cv2.IMWRITE_JPEG_QUALITY, 40])

    second, counts, _ = segment_existing(dataset, "second", tmp_path)
    assert counts == {"hits": 1, "misses": 2}
    assert_same_masks(first, second, ["a.jpg"])
    assert any(
        (x != y).any() for x, y in zip(first["b.jpg"], second["b.jpg"])
    )

    # the masks of the edited images are those of the images as they are
    # now: a run without the cache gives the same
    monkeypatch.setenv(EC.SIZE_ENV, "0")
    uncached, counts, text = segment_existing(dataset, "third", tmp_path)
    assert counts is None and "image embeddings" not in text
    assert_same_masks(second, uncached)


def test_size_bound_holds_and_least_recently_used_go_first(
    tiny_models, cache_dir, monkeypatch
):
    # room for three and a half entries
    bound = 3.5 * ENTRY_BYTES
    monkeypatch.setenv(EC.SIZE_ENV, str(bound / 1e9))
    segmenter = mr.load_segmenter("sam-vit-b")
    cache = segmenter.embedding_cache
    images = {k: TU.random_image(100, 120, seed=i) for i, k in enumerate("ABCD")}
    box = np.array([[10, 10, 90, 80]], dtype=np.float32)

    def segment(name):
        before = cache.counts()
        segmenter.segment(images[name], box)
        cache.flush()
        return "hit" if cache.hits > before["hits"] else "miss"

    assert [segment(k) for k in "ABC"] == ["miss"] * 3
    assert segment("A") == "hit"  # A is now more recent than B
    assert segment("D") == "miss"  # a fourth entry: B goes
    assert len(entries(cache_dir)) == 3
    assert sum(p.stat().st_size for p in entries(cache_dir)) <= bound
    assert [segment(k) for k in "ACD"] == ["hit"] * 3
    assert segment("B") == "miss"
    assert sum(p.stat().st_size for p in entries(cache_dir)) <= bound


def test_a_truncated_entry_is_a_miss_and_is_replaced(
    tiny_models, cache_dir
):
    segmenter = mr.load_segmenter("sam-vit-b")
    cache = segmenter.embedding_cache
    image = TU.random_image(100, 120, seed=5)
    box = np.array([[10, 10, 90, 80]], dtype=np.float32)
    masks = segmenter.segment(image, box)
    cache.flush()
    (entry,) = entries(cache_dir)
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])

    np.testing.assert_array_equal(segmenter.segment(image, box), masks)
    cache.flush()
    assert cache.counts() == {"hits": 0, "misses": 2}
    assert entry.stat().st_size == len(data)  # written again, whole
    np.testing.assert_array_equal(segmenter.segment(image, box), masks)
    assert cache.counts() == {"hits": 1, "misses": 2}


def test_a_bad_size_is_one_clear_error(tiny_models, cache_dir, monkeypatch):
    monkeypatch.setenv(EC.SIZE_ENV, "lots")
    with pytest.raises(AutolabelError, match="AUTOLABEL_EMBEDDING_CACHE_GB"):
        mr.load_segmenter("sam-vit-b")

    assert not cache_dir.exists()


#: a process writing and reading entries of 40 images in a loop
_WRITER = textwrap.dedent(
    """
    import sys, torch
    from autolabel.models.embedding_cache import EmbeddingCache
    cache = EmbeddingCache("k" * 64, sys.argv[1], int(sys.argv[2]))
    keys = ["%064d" % i for i in range(40)]
    print("ready", flush=True)
    while True:
        for start in range(0, 40, 4):
            batch = keys[start:start + 4]
            out = cache.get_or_compute(batch, lambda missing: [
                torch.full((256, 64, 64), float(int(batch[i])))
                for i in missing
            ])
            for key, value in zip(batch, out):
                assert value[0, 0, 0].item() == int(key)
    """
)


def test_writers_killed_while_writing_at_once_leave_no_broken_entry(
    tmp_path,
):
    root = tmp_path / "embeddings"
    entry = ENTRY_BYTES
    bound = 12 * entry  # 12 of the 40 entries
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(bound)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == b"ready"

    # let them write, read and evict at once, then kill them mid-way
    deadline = time.monotonic() + 120
    while len(list(root.glob("*/*.pt"))) < 8:
        time.sleep(0.05)
        assert time.monotonic() < deadline
        assert all(proc.poll() is None for proc in procs), [
            proc.stderr.read() for proc in procs if proc.poll() is not None
        ]

    for proc in procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    cache = EC.EmbeddingCache("k" * 64, str(root), bound)
    kept = [p.stem for p in entries(root)]
    assert kept
    values = cache.get_or_compute(kept, lambda missing: 1 / 0)
    assert cache.counts() == {"hits": len(kept), "misses": 0}
    assert [int(v[0, 0, 0].item()) for v in values] == [int(k) for k in kept]
    # bounded, but for what each other writer wrote since it last measured
    # the folder (a tenth of the bound, the entry past it and the one it was
    # writing when killed)
    size = sum(p.stat().st_size for p in root.glob("*/*"))
    assert size <= bound + 2 * (EC.RESCAN_FRACTION * bound + 2.1 * entry)


def test_other_weights_or_precision_are_another_model(tmp_path):
    entry = mr.get_model("sam-vit-b")
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"x" * 100)
    key = EC.model_key(entry, str(weights), half=False, input_size=1024)
    assert key == EC.model_key(entry, str(weights), half=False, input_size=1024)
    assert key != EC.model_key(entry, str(weights), half=True, input_size=1024)
    assert key != EC.model_key(entry, str(weights), half=False, input_size=512)

    weights.write_bytes(b"y" * 100)  # same size, new time
    os.utime(weights, ns=(10**18, 10**18))
    assert key != EC.model_key(entry, str(weights), half=False, input_size=1024)


@pytest.mark.parametrize("seg_model", ["sam2.1-hiera-tiny", "sam3"])
def test_sam21_and_sam3_keep_their_embeddings_too(
    make_dataset, cache_dir, tmp_path, seg_model
):
    from tiny_sam_models import save_tiny_sam_catalog_model

    save_tiny_sam_catalog_model(seg_model)
    paths = write_images(tmp_path / "images", ["a.jpg", "b.jpg"])
    dataset = boxed_dataset(make_dataset, paths)
    first, counts, _ = segment_existing(dataset, "one", tmp_path, seg_model)
    assert counts == {"hits": 0, "misses": 2}
    second, counts, _ = segment_existing(dataset, "two", tmp_path, seg_model)
    assert counts == {"hits": 2, "misses": 0}
    assert_same_masks(first, second)
