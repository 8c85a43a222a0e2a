#!/usr/bin/env python
"""How often is an enrolled person named per appearance in a video? Single-frame naming vs a track's evidence.

    python scripts/evaluate_track_naming.py --faces ../shared/faces

The clip is face_recognition's `short_hamilton_clip.mp4` (275 frames, 640x360) with the two people its example
enrolls, one photo each (Lin-Manuel Miranda, Alex Lacamoire). Who is where was labelled by looking at the
frames (TRUTH below): 4 appearances of the enrolled people (Alex small at the piano and Lin far away on stage in
0-0.65 s; Alex close, in profile, 0.7-1.0 s; Lin close 2.8-7.05 s) and an audience of people nobody enrolled
(7.1 s to the end). Each variant of the clip (as is; halved to 320x180: smaller, blurrier faces) runs through
facerec.video.loop.run_loop (detection every 3 frames, so the result does not depend on the machine's speed)
once per `evidence` setting: 1 = every identification from its own frame (the default), 5 = also from the
quality-weighted mean of the track's 5 best looks, the closer answer voting (facerec.video.evidence). An appearance counts as named when
most of the detections inside it carry the right (settled) name; a detection given an enrolled person's name
where that person is not (the audience, or the other person) is a false name.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PEOPLE = {"Lin_Manuel_Miranda": "lin-manuel-miranda.png", "Alex_Lacamoire": "alex-lacamoire.png"}
# (from s, to s, x from, x to as fractions of the width, who): the enrolled people's appearances; the rest unknown
TRUTH = [(0.0, 0.65, 0.0, 0.35, "Alex_Lacamoire"), (0.0, 0.65, 0.6, 1.0, "Lin_Manuel_Miranda"),
         (0.7, 1.0, 0.0, 1.0, "Alex_Lacamoire"), (2.8, 7.05, 0.0, 1.0, "Lin_Manuel_Miranda")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, required=True, help="the shared face set (../shared/faces)")
    p.add_argument("--evidence", default="1,5", help="comma-separated evidence sizes to compare (default: %(default)s)")
    p.add_argument("--threshold", type=float, help="cosine distance threshold (default: dlib's identify threshold)")
    return p.parse_args(argv)


def who_is_there(ts: float, centre_x: float) -> str | None:
    for start, end, x0, x1, name in TRUTH:
        if start <= ts <= end and x0 <= centre_x <= x1:
            return name
    return None


def halved(clip: Path, folder: Path) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = folder / "half.mp4"
    writer = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        small = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (small.shape[1], small.shape[0]))
        writer.write(small)
    cap.release()
    writer.release()
    return out


def score(clip: Path, recognizer, pipeline, evidence: int) -> dict:
    """Per labelled appearance: named when most of the detections inside it carry the right settled name."""
    from facerec.video.loop import run_loop
    from facerec.video.sources import open_video

    video = open_video(str(clip))
    width = video.size[0]
    right = [0] * len(TRUTH)
    seen = [0] * len(TRUTH)
    false_frames = []

    def on_frame(result) -> None:
        for view in result.tracks:
            if not view.detected:
                continue
            centre = (view.box[0] + view.box[2] / 2) / width
            index = next((i for i, (t0, t1, x0, x1, _) in enumerate(TRUTH)
                          if t0 <= result.frame.ts <= t1 and x0 <= centre <= x1), None)
            name = view.name if view.settled else None
            if index is not None:
                seen[index] += 1
                right[index] += name == TRUTH[index][4]
            if name in PEOPLE and (index is None or name != TRUTH[index][4]):
                false_frames.append(f"{name}@{result.frame.ts:.1f}s")

    run_loop(video, pipeline, recognizer, detect_every=3, evidence=evidence, on_frame=on_frame)
    named = [i for i in range(len(TRUTH)) if seen[i] and right[i] * 2 > seen[i]]
    return {"named": len(named), "appearances": len(TRUTH), "false_names": false_frames,
            "which": [f"{TRUTH[i][4]}@{TRUTH[i][0]}s ({right[i]}/{seen[i]})" for i in named]}


def main(argv=None) -> int:
    args = parse_args(argv)
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline
    from facerec.recognition.recognizer import Recognizer

    base = args.faces / "face_recognition"
    clip = base / "_video" / "short_hamilton_clip.mp4"
    pipeline = FacePipeline("dlib")
    with tempfile.TemporaryDirectory(prefix="facerec-track-naming-") as tmp:
        tmp = Path(tmp)
        for person, photo in PEOPLE.items():
            (tmp / "people" / person).mkdir(parents=True)
            (tmp / "people" / person / photo).write_bytes((base / person / photo).read_bytes())
        with Gallery(tmp / "gallery.sqlite") as gallery:
            enroll_folder(tmp / "people", gallery, pipeline, progress=False)
        recognizer = Recognizer(tmp / "gallery.sqlite", pipeline=pipeline, threshold=args.threshold)
        print(f"threshold {recognizer.threshold_:.4f}; {len(TRUTH)} appearances of enrolled people per clip")
        print(f"{'clip':<16} {'evidence':>8}  {'named':>5}  which / false names")
        for label, path in [("640x360", clip), ("320x180 (half)", halved(clip, tmp))]:
            for k in (int(v) for v in args.evidence.split(",")):
                r = score(path, recognizer, pipeline, k)
                print(f"{label:<16} {k:>8}  {r['named']}/{r['appearances']}  {', '.join(r['which']) or '-'}"
                      f" / {', '.join(r['false_names']) or 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
