#!/usr/bin/env python
"""Album tagging speed: `facerec tag` (MTCNN + dlib ResNet) against the `face_recognition` package
(dlib HOG detector + the same dlib ResNet) on the same photos, in one run.

    python scripts/bench_tag.py --album ../shared/faces/face_recognition --people PEOPLE_DIR
    python scripts/bench_tag.py --album ALBUM --people PEOPLE_DIR --workers 4 --out bench-tag.json

PEOPLE_DIR has one folder per person (as for `facerec enroll`). Both tools enroll the same people
first (not timed), then name every face of every photo under ALBUM (timed): facerec through
`tag_album` with a fresh gallery (so every photo is analysed; nothing is skipped), face_recognition
with face_locations + face_encodings + compare_faces (tolerance 0.6, its default), one photo after
the other as its README does. Times include decoding. facerec's MTCNN runs at most 1280 px on a
side; face_recognition's HOG runs on the full image at its default upsampling (1).

face_recognition is optional: pip install 'facerec[bench]' (or `pip install --no-deps
face-recognition` when dlib and its models are already there). Without it only facerec is timed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--album", type=Path, required=True, help="folder of photos to tag (sub-folders included)")
    p.add_argument("--people", type=Path, required=True, help="PEOPLE_DIR/<Name>/<photos> to enroll first")
    p.add_argument("--workers", type=int, default=None, help="facerec decode/detect threads (default: min(4, CPUs))")
    p.add_argument("--threshold", type=float, default=None, help="facerec cosine distance threshold")
    p.add_argument("--limit", type=int, default=None, help="use only the first N photos of the album")
    p.add_argument("--skip-face-recognition", action="store_true", help="time facerec only")
    p.add_argument("--out", "--json-out", dest="json_out", type=Path, default=Path("bench-tag.json"),
                   help="where to write the results as JSON (default: %(default)s)")
    return p.parse_args(argv)


def album_photos(album: Path, limit: int | None) -> list[Path]:
    from facerec.tag import walk_album

    photos, _ = walk_album(album)
    return photos[:limit] if limit else photos


def bench_facerec(photos: list[Path], people: Path, workers: int | None, threshold: float | None) -> dict:
    """Enroll (untimed), then tag a temporary album of links to exactly `photos` with a fresh gallery."""
    from facerec.enroll import enroll_folder
    from facerec.gallery import Gallery
    from facerec.pipeline import FacePipeline
    from facerec.tag import configure_threads, default_workers, matcher_for_album, tag_album

    workers = workers or default_workers()
    configure_threads(workers)
    pipeline = FacePipeline("dlib")
    with tempfile.TemporaryDirectory(prefix="facerec-bench-") as tmp:
        album = Path(tmp) / "album"
        album.mkdir()
        for i, photo in enumerate(photos):  # links keep the subset exact without copying the files
            (album / f"{i:05d}_{photo.name}").symlink_to(photo.resolve())
        with Gallery(Path(tmp) / "gallery.sqlite") as gallery:
            enroll_folder(people, gallery, pipeline, progress=False)
            matcher = matcher_for_album(gallery, pipeline.embedding_id, threshold)
            warm_up(pipeline, photos)
            start = time.perf_counter()
            summary = tag_album(album, gallery, pipeline, matcher=matcher, workers=workers)
            seconds = time.perf_counter() - start
    return {"tool": "facerec tag (MTCNN + dlib)", "photos": len(photos), "faces": summary.faces,
            "named": summary.named, "unreadable": summary.unreadable, "seconds": seconds, "workers": workers}


def warm_up(pipeline, photos: list[Path]) -> None:
    """Load MTCNN and TensorFlow before the clock starts (a long album run pays this once)."""
    from facerec.errors import ImageError
    from facerec.imageio import load_image

    for photo in photos[:1]:
        try:
            pipeline.analyse_image(load_image(photo))
        except ImageError:
            pass


def import_face_recognition():
    try:
        import face_recognition
    except ImportError as e:
        print(f"face_recognition is not installed ({e}); install it with: pip install 'facerec[bench]' "
              "(or pip install --no-deps face-recognition if dlib and its models are installed). "
              "Timing facerec only.", file=sys.stderr)
        return None
    return face_recognition


def bench_face_recognition(fr, photos: list[Path], people: Path) -> dict:
    known, names = [], []
    for person in sorted(p for p in people.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for photo in sorted(person.iterdir()):
            try:
                encodings = fr.face_encodings(fr.load_image_file(str(photo)))
            except Exception:  # noqa: BLE001 - unreadable enrollment photo: skip like facerec does
                continue
            if encodings:
                known.append(encodings[0])
                names.append(person.name)
    faces = named = unreadable = 0
    start = time.perf_counter()
    for photo in photos:
        try:
            image = fr.load_image_file(str(photo))
        except Exception:  # noqa: BLE001 - corrupt photo: count it and go on
            unreadable += 1
            continue
        locations = fr.face_locations(image)
        for encoding in fr.face_encodings(image, locations):
            faces += 1
            if known and any(fr.compare_faces(known, encoding, tolerance=0.6)):
                named += 1
    seconds = time.perf_counter() - start
    return {"tool": "face_recognition (HOG + dlib)", "photos": len(photos), "faces": faces, "named": named,
            "unreadable": unreadable, "seconds": seconds, "enrolled_faces": len(known)}


def with_rates(result: dict) -> dict:
    s = max(result["seconds"], 1e-9)
    return {**result, "seconds": round(result["seconds"], 3), "photos_per_s": round(result["photos"] / s, 3),
            "faces_per_s": round(result["faces"] / s, 3)}


def print_table(rows: list[dict]) -> None:
    headers = ["tool", "photos", "faces", "named", "seconds", "photos/s", "faces/s"]
    cells = [[r["tool"], r["photos"], r["faces"], r["named"], f"{r['seconds']:.2f}", f"{r['photos_per_s']:.2f}",
              f"{r['faces_per_s']:.2f}"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells)]
    for line in [headers, *cells]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))


def load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def main(argv=None) -> int:
    args = parse_args(argv)
    photos = album_photos(args.album, args.limit)
    if not photos:
        print(f"no photos under {args.album}", file=sys.stderr)
        return 1
    load_before = load()
    rows = [with_rates(bench_facerec(photos, args.people, args.workers, args.threshold))]
    fr = None if args.skip_face_recognition else import_face_recognition()
    if fr is not None:
        rows.append(with_rates(bench_face_recognition(fr, photos, args.people)))
    print_table(rows)
    ratio = None
    if len(rows) == 2 and rows[1]["photos_per_s"] > 0:
        ratio = round(rows[0]["photos_per_s"] / rows[1]["photos_per_s"], 3)
        print(f"\nfacerec / face_recognition speed (photos/s): {ratio:.2f}x")
    report = {"album": str(args.album), "people": str(args.people), "results": rows, "speed_ratio": ratio,
              "threshold": args.threshold,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "numpy": np.__version__, "load_average_before": load_before, "load_average_after": load()}}
    if load_before and load_before[0] > (os.cpu_count() or 1):
        print(f"note: the machine was busy (load {load_before[0]:.1f} on {os.cpu_count()} CPUs); timings are noisy",
              file=sys.stderr)
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
