"""Tracks: the detections of a video's frames linked into objects.

Ultralytics' ByteTrack and BoT-SORT run standalone on the detections a
catalog model staged, so that any detector tracks. Their own thresholds
(0.25 to keep a detection in a track, 0.1 below which one is ignored) are
lowered to the run's minimum confidence: every staged detection can start
or continue a track. A detection the tracker does not link keeps no index;
none is dropped. Each linked detection gets FiftyOne's ``Detection.index``
(the track's id, unique within one video; tracks restart per video) and
``track_confidence``, the mean confidence of its track's detections in the
video.

A track confirmed on its second frame is reported by the trackers from that
frame on; its first detection, which the tracker holds as unconfirmed, is
given the track's index too once the track is confirmed.
"""

import os
from types import SimpleNamespace

import numpy as np

from ..errors import AutolabelError
from .declaration import TRACKER_BOTSORT, TRACKER_BYTETRACK

#: the attribute of a tracked detection: its track's mean confidence
TRACK_CONFIDENCE_ATTR = "track_confidence"

#: FiftyOne's attribute of an object's identity across frames
INDEX_ATTR = "index"


class _Detections:
    """The detections of one frame as the trackers take them: ``conf``,
    ``cls``, ``xywh`` (pixel centers and sizes), boolean indexing."""

    def __init__(self, xywh, conf, cls):
        self.xywh = xywh
        self.conf = conf
        self.cls = cls

    def __len__(self):
        return len(self.conf)

    def __getitem__(self, index):
        return _Detections(self.xywh[index], self.conf[index], self.cls[index])


def tracker_settings(tracker, min_confidence):
    """The settings of a tracker for a run: ultralytics' defaults
    (``ultralytics/cfg/trackers/<tracker>.yaml``) with the thresholds
    lowered to the run's minimum confidence, and BoT-SORT's camera motion
    compensation off (it needs the frames, which the writer no longer
    holds).

    Args:
        tracker: ``"bytetrack"`` or ``"botsort"``
        min_confidence: the run's minimum confidence

    Returns:
        a namespace of the tracker's settings

    Raises:
        AutolabelError: if the tracker is unknown
    """
    if tracker not in (TRACKER_BYTETRACK, TRACKER_BOTSORT):
        raise AutolabelError(
            "unknown tracker %r; use %s or %s"
            % (tracker, TRACKER_BYTETRACK, TRACKER_BOTSORT)
        )

    import ultralytics
    from ultralytics.utils import YAML

    path = os.path.join(
        os.path.dirname(ultralytics.__file__),
        "cfg",
        "trackers",
        "%s.yaml" % tracker,
    )
    args = dict(YAML.load(path))
    floor = float(min_confidence or 0.0)
    for key in ("track_high_thresh", "new_track_thresh"):
        args[key] = min(float(args[key]), floor)

    # below track_high_thresh a detection only continues a track; at or
    # below track_low_thresh the tracker ignores it
    args["track_low_thresh"] = min(float(args["track_low_thresh"]), floor)
    if tracker == TRACKER_BOTSORT:
        args["gmc_method"] = "none"
        args["with_reid"] = False

    return SimpleNamespace(**args)


def _new_tracker(tracker, settings):
    if tracker == TRACKER_BOTSORT:
        from ultralytics.trackers.bot_sort import BOTSORT

        return BOTSORT(settings)

    from ultralytics.trackers.byte_tracker import BYTETracker

    return BYTETracker(settings)


def track_video(frames, tracker, min_confidence):
    """Links the detections of one video's frames into tracks, in place:
    each linked detection gets ``index`` and ``track_confidence``.

    Args:
        frames: the video's staged frame values, in frame order, as
            ``(value, (width, height))`` tuples; a value is a staged
            ``Detections`` dict (``{"detections": [...]}``) whose
            detections have ``label``, ``bounding_box`` (relative
            ``[x, y, w, h]``) and ``confidence``
        tracker: ``"bytetrack"`` or ``"botsort"``
        min_confidence: the run's minimum confidence

    Returns:
        the number of tracks
    """
    settings = tracker_settings(tracker, min_confidence)
    state = _new_tracker(tracker, settings)
    classes = {}
    first_seen = {}  # track id -> the detection it started unconfirmed on
    for value, (width, height) in frames:
        dets = value.get("detections") or []
        boxes = np.array(
            [d["bounding_box"] for d in dets], dtype=np.float64
        ).reshape(-1, 4) * [width, height, width, height]
        xywh = np.concatenate(
            [boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]], axis=1
        ).astype(np.float32)
        conf = np.array(
            [d.get("confidence") or 0.0 for d in dets], dtype=np.float32
        )
        cls = np.array(
            [classes.setdefault(d.get("label"), len(classes)) for d in dets],
            dtype=np.float32,
        )
        out = state.update(_Detections(xywh, conf, cls))
        for row in np.asarray(out).reshape(-1, 8):
            dets[int(row[7])][INDEX_ATTR] = int(row[4])

        for track in state.tracked_stracks:
            if not track.is_activated and track.frame_id == state.frame_id:
                first_seen[track.track_id] = dets[int(track.idx)]

    return index_tracks([value for value, _ in frames], first_seen)


def index_tracks(values, first_seen=None):
    """Gives the first detections of confirmed tracks their index and every
    indexed detection of a video its track's mean confidence.

    Args:
        values: the video's staged frame values (Detections dicts)
        first_seen (None): a dict of track id to the detection the track
            started on, before the tracker confirmed it

    Returns:
        the number of tracks
    """
    tracks = {}
    for value in values:
        for det in value.get("detections") or []:
            if det.get(INDEX_ATTR) is not None:
                tracks.setdefault(det[INDEX_ATTR], []).append(det)

    for track_id, det in (first_seen or {}).items():
        if track_id in tracks and det.get(INDEX_ATTR) is None:
            det[INDEX_ATTR] = track_id
            tracks[track_id].append(det)

    for dets in tracks.values():
        scores = [d["confidence"] for d in dets if d.get("confidence") is not None]
        mean = float(np.mean(scores)) if scores else None
        for det in dets:
            det[TRACK_CONFIDENCE_ATTR] = mean

    return len(tracks)
