"""Test set-up: a private database and plugins directory for the session.

The environment is set before FiftyOne is imported, so every test (and every
``autolabel`` or ``fiftyone`` subprocess a test starts) uses the real
FiftyOne with its real MongoDB, in a database that is dropped at the end.
"""

import atexit
import os
import shutil
import tempfile
import uuid

_DB_NAME = "autolabel-test-%s" % uuid.uuid4().hex[:12]
_PLUGINS_DIR = tempfile.mkdtemp(prefix="autolabel-plugins-")
# tiny randomly initialised models are saved here, where the loaders look
_MODEL_ZOO_DIR = tempfile.mkdtemp(prefix="autolabel-models-")
# about 1 GB of tiny models and loop checkpoints: a run (or a collection
# only) leaves no disk behind; CI once ran out of space on a machine that
# kept earlier runs'
atexit.register(shutil.rmtree, _MODEL_ZOO_DIR, ignore_errors=True)
atexit.register(shutil.rmtree, _PLUGINS_DIR, ignore_errors=True)
os.environ["FIFTYONE_DATABASE_NAME"] = _DB_NAME
os.environ["FIFTYONE_PLUGINS_DIR"] = _PLUGINS_DIR
os.environ["FIFTYONE_MODEL_ZOO_DIR"] = _MODEL_ZOO_DIR
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "False"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import fiftyone as fo  # noqa: E402
# ultralytics' logger writes to the sys.stdout of the moment it is imported:
# imported here, that is the session's, not a test's capture closed later
# (a later warning then prints "--- Logging error ---" into another test)
import ultralytics  # noqa: E402,F401
import fiftyone.core.odm as foo  # noqa: E402

import tiny_models as TU  # noqa: E402
from autolabel.plugin import install_plugin  # noqa: E402

install_plugin(_PLUGINS_DIR)


@pytest.fixture(scope="session", autouse=True)
def _drop_test_database():
    yield
    foo.get_db_conn().client.drop_database(_DB_NAME)


@pytest.fixture
def make_dataset():
    """Returns a function creating uniquely named datasets, deleted after the
    test."""
    created = []

    def _make(samples=(), media_type=None):
        dataset = fo.Dataset("test-%s" % uuid.uuid4().hex[:10])
        if media_type is not None:
            dataset.media_type = media_type

        if samples:
            dataset.add_samples(list(samples), progress=False)

        created.append(dataset.name)
        return dataset

    yield _make
    for name in created:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


@pytest.fixture(scope="session")
def tiny_models():
    TU.save_tiny_yolo("yolo11n", "detect")
    TU.save_tiny_yolo("yolo11n-seg", "segment")
    TU.save_tiny_yolo("yolo11n-cls", "classify")
    TU.save_tiny_sam("sam-vit-b")


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """Generated images of several sizes and encodings, and bad files."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(18):
        h, w = int(rng.integers(120, 300)), int(rng.integers(120, 300))
        cv2.imwrite(
            str(root / ("img%02d.jpg" % i)), TU.random_image(h, w, seed=i)
        )

    image = TU.random_image(160, 200, seed=99)
    cv2.imwrite(str(root / "gray.png"), image[:, :, 0])
    cv2.imwrite(str(root / "deep.png"), image.astype(np.uint16) * 257)
    Image.fromarray(image).convert("CMYK").save(root / "cmyk.jpg")
    data = (root / "img00.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    return root


@pytest.fixture
def grouped(make_dataset, image_dir, tmp_path):
    """A grouped dataset (FiftyOne's multimodal layout) of six groups: a
    "left" and a "right" image and a "pcd" point cloud."""
    dataset = make_dataset()
    dataset.add_group_field("group", default="left")
    images = sorted(str(p) for p in image_dir.glob("img*.jpg"))
    samples = []
    for i in range(6):
        group = fo.Group()
        pcd = tmp_path / ("scene%d.pcd" % i)
        pcd.write_text("")
        samples += [
            fo.Sample(filepath=images[2 * i], group=group.element("left")),
            fo.Sample(filepath=images[2 * i + 1], group=group.element("right")),
            fo.Sample(filepath=str(pcd), group=group.element("pcd")),
        ]

    dataset.add_samples(samples, progress=False)
    return dataset


# ------------------------------------------------ the browser tests' services


@pytest.fixture(scope="session")
def app_server():
    """A real App server on the session's database."""
    import browser as B

    server = B.AppServer()
    server.start()
    yield server
    server.stop()


#: the session's launcher, once a test asked for one
_LAUNCHER = []


@pytest.fixture
def launcher():
    """A real ``fiftyone delegated launch`` on the session's database,
    started once and kept running while consecutive tests ask for it."""
    import browser as B

    if not _LAUNCHER:
        _LAUNCHER.append(B.Launcher())

    yield _LAUNCHER[0].start()


@pytest.fixture(autouse=True)
def _no_launcher_unless_asked(request):
    # a launcher left running would execute the operations other tests
    # queue to inspect them while queued (cancel, retry)
    if _LAUNCHER and "launcher" not in request.fixturenames:
        _LAUNCHER[0].stop()

    yield


@pytest.fixture(scope="session", autouse=True)
def _stop_launcher():
    yield
    if _LAUNCHER:
        _LAUNCHER[0].stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright."""
    import browser as B

    playwright_sync = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed"
    )
    with playwright_sync.sync_playwright() as p:
        browser = B.launch_browser(p)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh browser context and page; a failed test saves its screen."""
    import browser as B
    from panel_page import UI_TIMEOUT

    context = chromium.new_context(viewport=B.VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    failed_before = request.session.testsfailed
    yield page
    # the call's report is counted before the teardown runs
    if request.session.testsfailed > failed_before:
        try:
            B.screenshot(page, "FAILED-%s" % request.node.name)
        except Exception:
            pass

    context.close()


@pytest.fixture(scope="session")
def tiny_yolo():
    """A randomly initialised YOLO11n with COCO's classes, saved where the
    loader looks for ``yolo11n`` (the session's model zoo directory, which
    the App server and the launcher share)."""
    TU.save_tiny_yolo("yolo11n", "detect")
    return "yolo11n"


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-images")
    paths = []
    rng = np.random.default_rng(7)
    for i in range(10):
        h, w = int(rng.integers(160, 260)), int(rng.integers(160, 260))
        path = str(root / ("img%02d.jpg" % i))
        cv2.imwrite(path, TU.random_image(h, w, seed=100 + i))
        paths.append(path)

    return paths


@pytest.fixture
def image_dataset(make_dataset, image_paths):
    return make_dataset(fo.Sample(filepath=p) for p in image_paths)


#: the classes of labeled_dataset
BROWSER_CLASSES = ("cat", "dog", "bird")


@pytest.fixture
def labeled_dataset(make_dataset, image_paths):
    """The browser images, each with 4 detections of 3 classes with spread
    confidences in a ``predictions`` field."""
    rng = np.random.default_rng(3)
    samples = []
    for i, path in enumerate(image_paths):
        dets = [
            fo.Detection(
                label=BROWSER_CLASSES[(i + j) % 3],
                bounding_box=[0.05 + 0.22 * j, 0.1 + 0.1 * (i % 3), 0.18, 0.3],
                confidence=float(np.round(rng.uniform(0.05, 0.99), 3)),
            )
            for j in range(4)
        ]
        samples.append(
            fo.Sample(filepath=path, predictions=fo.Detections(detections=dets))
        )

    return make_dataset(samples)
