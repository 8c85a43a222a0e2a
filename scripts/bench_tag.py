#!/usr/bin/env python
"""Album tagging speed: `facerec tag` (MTCNN + dlib ResNet) against the `face_recognition` package
(dlib HOG detector + the same dlib ResNet) on the same photos, in one run.

    python scripts/bench_tag.py --album ../shared/faces/face_recognition --people PEOPLE_DIR
    python scripts/bench_tag.py --album ALBUM --people PEOPLE_DIR --workers 4 --out bench-tag.json

Before and after in one run: facerec is timed once per --engines entry ("reference" = the mtcnn package,
facerec's detector before issue 10; "auto" = facerec.vision.mtcnn_fast) and --dlib-engines entry ("dlib" = dlib's
own compute_face_descriptor, in a child process, before issue 10; "onnx" = the same network run by ONNX
Runtime in the main thread; "auto" = onnx when installed), each with a fresh gallery; the command lines once
per --cli-dlib-engines entry (FACEREC_DLIB_ENGINE).
"true faces": when the album (or a parent folder) holds the shared set's MANIFEST.tsv, each photo's
faces found are capped by the faces it holds (1 for a portrait, N for "group:N"), so false detections do
not count. The JSON records the process RSS before and after each facerec run (flat memory).

Whole process, as a user runs them (--cli-repeats N, taken in turn, median): `facerec tag ALBUM --people
PEOPLE_DIR` (model loading and enrollment included) against the `face_recognition` command with
--cpus 2 (its process pool; the first photo of each person as its known-people folder, photos over
1600 px shrunk, as it does). Its "faces" are its output lines, one per photo and known name matched,
or "unknown_person": a face that matches two people counts twice.

PEOPLE_DIR has one folder per person (as for `facerec enroll`). Both tools enroll the same people
first (not timed), then name every face of every photo under ALBUM (timed): facerec through
`tag_album` with a fresh gallery (so every photo is analysed; nothing is skipped), face_recognition
with face_locations + face_encodings + compare_faces (tolerance 0.6, its default), one photo after
the other as its README does. Times include decoding. facerec's MTCNN runs at most 1280 px on a
side; face_recognition's HOG runs on the full image at its default upsampling (1).

Camera-size photos (--camera-size DIR, e.g. ../shared/faces/compreface): an album of ~24 variants of the 20 MP and
larger photos under DIR (re-encoded, cropped, mirrored, stored turned with EXIF orientation 3 or 6) and the
same album with every photo shrunk to 1600 px on its long side; `facerec tag` (whole process, model loading
included, the people of DIR's smaller photos enrolled beforehand into a gallery copied for each run) on both,
in turn, and the ratio "camera-size seconds / 1600 px seconds", with the faces and names of both compared.

    python scripts/bench_tag.py --camera-size ../shared/faces/compreface

face_recognition is optional: `pip install --no-deps face-recognition` (dlib and its models come with
facerec's dlib extra). Without it only facerec is timed.
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

from bench_common import rss_mb  # noqa: E402  - scripts/ is sys.path[0] when a script runs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--album", type=Path, help="folder of photos to tag (sub-folders included)")
    p.add_argument("--people", type=Path, help="PEOPLE_DIR/<Name>/<photos> to enroll first")
    p.add_argument("--camera-size", type=Path, metavar="DIR",
                   help="time the camera-size album made from DIR's 20 MP+ photos against it at 1600 px (see above)")
    p.add_argument("--camera-photos", type=int, default=24, help="photos in the camera-size album (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None, help="facerec decode/detect threads (default: min(4, CPUs))")
    p.add_argument("--threshold", type=float, default=None, help="facerec cosine distance threshold")
    p.add_argument("--limit", type=int, default=None, help="use only the first N photos of the album")
    p.add_argument("--skip-face-recognition", action="store_true", help="time facerec only")
    p.add_argument("--engines", default="reference,auto",
                   help="facerec MTCNN engines to time, comma-separated (default: %(default)s)")
    p.add_argument("--dlib-engines", default="auto",
                   help="engines of facerec's dlib backbone to time, comma-separated: dlib, onnx, auto (default: %(default)s)")
    p.add_argument("--cli-dlib-engines", default="auto",
                   help="FACEREC_DLIB_ENGINE values for the whole-process facerec runs (default: %(default)s)")
    p.add_argument("--cli-repeats", type=int, default=1,
                   help="whole-process runs of both command lines, in turn (0: skip; default: %(default)s)")
    p.add_argument("--no-flip", action="store_true",
                   help="facerec embeds each face once instead of averaging it with its mirror image (faster)")
    p.add_argument("--cpus", type=int, default=2, help="face_recognition --cpus for the command line (default: 2)")
    p.add_argument("--out", "--json-out", dest="json_out", type=Path, default=Path("bench-tag.json"),
                   help="where to write the results as JSON (default: %(default)s)")
    return p.parse_args(argv)


def album_photos(album: Path, limit: int | None) -> list[Path]:
    from facerec.album.photos import walk_album

    photos, _ = walk_album(album)
    return photos[:limit] if limit else photos


def expected_faces(photos: list[Path]) -> dict[Path, int]:
    """Faces each photo holds, from the shared set's MANIFEST.tsv when one is found above the photos."""
    import csv

    expected: dict[Path, int] = {}
    for photo in photos:
        for folder in photo.resolve().parents:
            manifest = folder / "MANIFEST.tsv"
            if manifest.is_file():
                if folder not in expected:
                    for row in csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"):
                        ident = row["identity"]
                        expected[(folder / row["local_path"]).resolve()] = (
                            int(ident.split(":")[1]) if ident.startswith("group:") else 1)
                    expected[folder] = -1  # marks the manifest as read
                break
    return {p: expected[p.resolve()] for p in photos if p.resolve() in expected}


def true_faces(found: dict[Path, int], expected: dict[Path, int]) -> int | None:
    if not expected:
        return None
    return sum(min(n, expected[p]) for p, n in found.items() if p in expected)


def bench_facerec(photos: list[Path], people: Path, workers: int | None, threshold: float | None,
                  engine: str = "auto", flip: bool | None = None, dlib_engine: str = "auto") -> dict:
    """Enroll (untimed), then tag a temporary album of links to exactly `photos` with a fresh gallery."""
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline
    from facerec.album.tag import configure_threads, default_workers, tag_album
    from facerec.recognition.recognizer import Recognizer

    workers = workers or default_workers()
    configure_threads(workers)
    from facerec.vision.detect import Detector

    from facerec.backbones.dlib_backbone import DlibBackbone

    pipeline = FacePipeline(DlibBackbone(engine=dlib_engine), detector=Detector(engine=engine), flip=flip)
    with tempfile.TemporaryDirectory(prefix="facerec-bench-") as tmp:
        album = Path(tmp) / "album"
        links = linked_album(album, photos)
        with Gallery(Path(tmp) / "gallery.sqlite") as gallery:
            enroll_folder(people, gallery, pipeline, progress=False)
            recognizer = Recognizer(gallery.path, pipeline=pipeline, threshold=threshold)
            warm_up(pipeline, photos)
            rss_start = rss_mb()
            start = time.perf_counter()
            summary = tag_album(album, gallery, pipeline, recognizer=recognizer, workers=workers)
            seconds = time.perf_counter() - start
            rss_end = rss_mb()
    found = {links[r.path]: len(r.faces) for r in summary.results if r.path in links}
    flip_note = ", no flip" if pipeline.flip is False else ""
    return {"tool": f"facerec tag (MTCNN {engine} + dlib on {pipeline.backbone.engine}{flip_note})",
            "engine": f"{engine}+{pipeline.backbone.engine}", "photos": len(photos),
            "faces": summary.faces, "found_per_photo": found, "named": summary.named,
            "unreadable": summary.unreadable, "seconds": seconds, "workers": workers,
            "rss_mb_start": rss_start, "rss_mb_end": rss_end}


def warm_up(pipeline, photos: list[Path]) -> None:
    """Load MTCNN and TensorFlow before the clock starts (a long album run pays this once)."""
    from facerec.errors import ImageError
    from facerec.vision.imageio import load_image

    for photo in photos[:1]:
        try:
            pipeline.analyse_image(load_image(photo))
        except ImageError:
            pass


def import_face_recognition():
    try:
        import face_recognition
    except ImportError as e:
        print(f"face_recognition is not installed ({e}); install it with: pip install --no-deps face-recognition "
              "(dlib and its models come with facerec's dlib extra). "
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
    found: dict[Path, int] = {}
    start = time.perf_counter()
    for photo in photos:
        try:
            image = fr.load_image_file(str(photo))
        except Exception:  # noqa: BLE001 - corrupt photo: count it and go on
            unreadable += 1
            continue
        locations = fr.face_locations(image)
        found[photo] = len(locations)
        for encoding in fr.face_encodings(image, locations):
            faces += 1
            if known and any(fr.compare_faces(known, encoding, tolerance=0.6)):
                named += 1
    seconds = time.perf_counter() - start
    return {"tool": "face_recognition (HOG + dlib)", "photos": len(photos), "faces": faces, "named": named,
            "found_per_photo": found, "unreadable": unreadable, "seconds": seconds, "enrolled_faces": len(known)}


def linked_album(folder: Path, photos: list[Path]) -> dict[Path, Path]:
    """A flat folder of links to `photos` (exactly that subset, nothing copied); link -> photo."""
    folder.mkdir(parents=True)
    links = {}
    for i, photo in enumerate(photos):
        link = folder / f"{i:05d}_{photo.name}"
        link.symlink_to(photo.resolve())
        links[link] = photo
    return links


def known_people_folder(folder: Path, people: Path) -> None:
    """face_recognition's known-people folder: the first photo of each person, named after the person."""
    folder.mkdir(parents=True)
    for person in sorted(p for p in people.iterdir() if p.is_dir() and not p.name.startswith(".")):
        first = sorted(f for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:1]
        for photo in first:
            (folder / f"{person.name}{photo.suffix.lower()}").symlink_to(photo.resolve())


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def bench_command_lines(photos: list[Path], people: Path, repeats: int, cpus: int, flip: bool | None = None,
                        dlib_engines: tuple[str, ...] = ("auto",)) -> list[dict]:
    """`facerec tag --people` (once per dlib engine) and `face_recognition --cpus N`, whole processes, in turn;
    median wall time. The face_recognition row comes last."""
    import shutil
    import statistics

    repo = Path(__file__).resolve().parent.parent
    fr_command = shutil.which("face_recognition") or str(Path(sys.executable).parent / "face_recognition")
    facerec_keys = [f"facerec:{e}" for e in dlib_engines]
    times: dict[str, list[float]] = {**{k: [] for k in facerec_keys}, "face_recognition": []}
    found: dict[str, dict[Path, int]] = {}
    with tempfile.TemporaryDirectory(prefix="facerec-bench-cli-") as tmp:
        links = linked_album(Path(tmp) / "album", photos)
        known_people_folder(Path(tmp) / "known", people)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
               "FACEREC_HOME": str(Path(tmp) / "home"), "FACEREC_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        for i in range(repeats):
            for key in facerec_keys:
                gallery = Path(tmp) / f"gallery{i}-{key.split(':')[1]}.sqlite"  # fresh each time: every photo analysed
                seconds, out = run_timed([sys.executable, "-m", "facerec.cli.main", "tag", str(Path(tmp) / "album"),
                                          "--people", str(people), "--gallery", str(gallery), "--json", "-q"]
                                         + (["--no-flip"] if flip is False else []),
                                         {**env, "FACEREC_DLIB_ENGINE": key.split(":")[1]})
                times[key].append(seconds)
                summary = json.loads(out)
                found[key] = {links[Path(tmp) / "album" / r["path"]]: len(r["faces"]) for r in summary["results"]}
            seconds, out = run_timed([fr_command, "--cpus", str(cpus), str(Path(tmp) / "known"),
                                      str(Path(tmp) / "album")], env)
            times["face_recognition"].append(seconds)
            counts = {photo: 0 for photo in photos}
            for line in out.splitlines():
                path, _, name = line.rpartition(",")
                if Path(path) in links and name != "no_persons_found":
                    counts[links[Path(path)]] += 1
            found["face_recognition"] = counts
    tools = {**{k: f"facerec tag --people, dlib engine {k.split(':')[1]} (command, whole process)" for k in facerec_keys},
             "face_recognition": f"face_recognition --cpus {cpus} (command, whole process)"}
    return [{"tool": tools[k], "engine": f"cli:{k}", "photos": len(photos), "faces": sum(found[k].values()),
             "named": None, "found_per_photo": found[k], "unreadable": None, "seconds": statistics.median(v),
             "runs_s": [round(t, 2) for t in v]} for k, v in times.items()]


def with_rates(result: dict, expected: dict[Path, int]) -> dict:
    s = max(result["seconds"], 1e-9)
    found = result.pop("found_per_photo")
    return {**result, "true_faces": true_faces(found, expected), "seconds": round(result["seconds"], 3),
            "photos_per_s": round(result["photos"] / s, 3), "faces_per_s": round(result["faces"] / s, 3)}


def print_table(rows: list[dict]) -> None:
    headers = ["tool", "photos", "faces", "true faces", "named", "seconds", "photos/s", "faces/s", "RSS MB start/end"]
    cells = [[r["tool"], r["photos"], r["faces"], "-" if r["true_faces"] is None else r["true_faces"],
              "-" if r["named"] is None else r["named"],
              f"{r['seconds']:.2f}", f"{r['photos_per_s']:.2f}", f"{r['faces_per_s']:.2f}",
              f"{r['rss_mb_start']}/{r['rss_mb_end']}" if "rss_mb_start" in r else "-"] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *cells)]
    for line in [headers, *cells]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))


def load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


CAMERA_MIN_PIXELS = 20_000_000
SMALL_SIDE = 1600
# (name, how the variant is stored): every variant displays as (part of) the original photo.
VARIANTS = ("q92", "crop80", "mirror", "exif6", "exif3")


CAMERA_RUNS = ("camera", "camera, full decode", "1600px")
# `facerec tag` as before the reduced decode: every photo decoded whole, chips cut from the full image.
FULL_DECODE = """
import sys
from facerec.recognition.pipeline import FacePipeline
def detect_photo(self, photo):
    image = photo.decode(1.0)[0]
    faces = self.detect(image)
    return faces, self.align(image, faces)
FacePipeline.detect_photo = detect_photo
from facerec.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def camera_variant(image, variant: str):
    """(stored picture, EXIF orientation) of one variant of a displayed camera photo."""
    from PIL import Image

    if variant == "crop80":
        w, h = image.size
        return image.crop((w // 10, h // 10, w - w // 10, h - h // 10)), 1
    if variant == "mirror":
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 1
    if variant == "exif6":
        return image.transpose(Image.Transpose.ROTATE_90), 6
    if variant == "exif3":
        return image.transpose(Image.Transpose.ROTATE_180), 3
    return image, 1


def save_jpeg(image, path: Path, orientation: int) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, format="JPEG", quality=92, exif=exif.tobytes())


def build_camera_albums(source: Path, folder: Path, count: int) -> tuple[Path, Path, Path, list[str]]:
    """(camera-size album, the same at 1600 px, people folder, the big photos used) under `folder`."""
    from PIL import Image, ImageOps

    from facerec.vision.imageio import open_photo

    big, small = [], []
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg") and not path.parent.name.startswith("_"):  # not _group, _negatives
            width, height = open_photo(path).size
            (big if width * height >= CAMERA_MIN_PIXELS else small).append(path)
    camera, reduced, people = folder / "camera", folder / "1600px", folder / "people"
    for d in (camera, reduced):
        d.mkdir(parents=True)
    for path in small:  # the people: their photos that are not camera-size
        (people / path.parent.name).mkdir(parents=True, exist_ok=True)
        (people / path.parent.name / path.name).symlink_to(path.resolve())
    made = 0
    for variant in VARIANTS:
        for path in big:
            if made == count:
                break
            with Image.open(path) as im:
                shown = ImageOps.exif_transpose(im.convert("RGB"))
            stored, orientation = camera_variant(shown, variant)
            name = f"{path.stem}_{variant}.jpg"
            save_jpeg(stored, camera / name, orientation)
            scale = SMALL_SIDE / max(stored.size)
            save_jpeg(stored.resize((round(stored.width * scale), round(stored.height * scale)), Image.Resampling.LANCZOS),
                      reduced / name, orientation)
            made += 1
    return camera, reduced, people, [p.name for p in big]


def bench_camera_size(args) -> int:
    """Whole-process `facerec tag` on the camera-size album and on the same photos at 1600 px, in turn."""
    import shutil
    import statistics

    repo = Path(__file__).resolve().parent.parent
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="facerec-bench-camera-") as tmp:
        camera, reduced, people, big = build_camera_albums(args.camera_size, Path(tmp), args.camera_photos)
        if not big:
            print(f"no photos of {CAMERA_MIN_PIXELS / 1e6:.0f} MP or more under {args.camera_size}", file=sys.stderr)
            return 1
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
               "FACEREC_HOME": str(Path(tmp) / "home"), "FACEREC_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        gallery = Path(tmp) / "people.sqlite"
        run_timed([sys.executable, "-m", "facerec.cli.main", "enroll", str(people), "--gallery", str(gallery), "-q"], env)
        times: dict[str, list[float]] = {key: [] for key in CAMERA_RUNS}
        found: dict[str, dict[str, list[str]]] = {}
        for i in range(max(1, args.cli_repeats)):
            for key, (album, prefix) in {"camera": (camera, ["-m", "facerec.cli.main"]),
                                         "camera, full decode": (camera, ["-c", FULL_DECODE]),
                                         "1600px": (reduced, ["-m", "facerec.cli.main"])}.items():
                copy = Path(tmp) / f"run{i}-{key}.sqlite"
                shutil.copyfile(gallery, copy)
                seconds, out = run_timed([sys.executable, *prefix, "tag", str(album), "--gallery",
                                          str(copy), "--json", "-q"], env)
                times[key].append(seconds)
                found[key] = {r["path"]: [f["name"] for f in r["faces"]] for r in json.loads(out)["results"]}
        megapixels = [round(np.prod(open_photo_size(p)) / 1e6, 1) for p in sorted(camera.iterdir())]
    seconds = {k: statistics.median(v) for k, v in times.items()}
    ratio = seconds["camera"] / seconds["1600px"]
    before = seconds["camera, full decode"] / seconds["1600px"]
    lost = differences(found["1600px"], found["camera"])
    changed = differences(found["camera, full decode"], found["camera"])
    rows = [[key, len(found[key]), f"{min(megapixels)}-{max(megapixels)} MP" if key != "1600px" else "long side 1600 px",
             sum(len(v) for v in found[key].values()), sum(n != "unknown" for v in found[key].values() for n in v),
             f"{seconds[key]:.1f}", f"{seconds[key] / seconds['1600px']:.2f}x", " ".join(f"{t:.1f}" for t in times[key])]
            for key in CAMERA_RUNS]
    headers = ["album", "photos", "size", "faces", "named", "seconds (median)", "/ 1600 px", "runs"]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    for line in [headers, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    print(f"\ncamera-size seconds / same photos at 1600 px: {ratio:.2f}x (whole process, `facerec tag`, same run; "
          f"{before:.2f}x when every pixel is decoded, as before)")
    print(f"photos whose faces or names differ from the full decode's: {len(changed)}")
    for path, (full, now) in sorted(changed.items()):
        print(f"  {path}: full decode {full}, now {now}")
    print(f"photos whose faces or names differ from the 1600 px copy's: {len(lost)}")
    for path, (small_names, camera_names) in sorted(lost.items()):
        print(f"  {path}: at 1600 px {small_names}, camera-size {camera_names}")
    print(f"load average before/after: {load_before} / {load()} on {os.cpu_count()} CPUs")
    report = {"camera_size": str(args.camera_size), "big_photos": big, "seconds": times, "ratio": round(ratio, 3),
              "ratio_full_decode": round(before, 3), "differences": lost, "differences_from_full_decode": changed, "found": found, "load_average_before": load_before, "load_average_after": load()}
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json_out}")
    return 0


def differences(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Photos whose names (one per face) differ between two runs: {path: (names in a, names in b)}."""
    return {p: (a.get(p, []), b.get(p, [])) for p in sorted(set(a) | set(b)) if sorted(a.get(p, [])) != sorted(b.get(p, []))}


def open_photo_size(path: Path) -> tuple[int, int]:
    from facerec.vision.imageio import open_photo

    return open_photo(path).size


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.camera_size is not None:
        return bench_camera_size(args)
    if args.album is None or args.people is None:
        print("--album and --people are needed (or --camera-size DIR)", file=sys.stderr)
        return 2
    photos = album_photos(args.album, args.limit)
    if not photos:
        print(f"no photos under {args.album}", file=sys.stderr)
        return 1
    load_before = load()
    expected = expected_faces(photos)
    flip = False if args.no_flip else None
    rows = [with_rates(bench_facerec(photos, args.people, args.workers, args.threshold, engine, flip, dlib_engine),
                       expected)
            for engine in args.engines.split(",") for dlib_engine in args.dlib_engines.split(",")]
    fr = None if args.skip_face_recognition else import_face_recognition()
    if fr is not None:
        rows.append(with_rates(bench_face_recognition(fr, photos, args.people), expected))
    print_table(rows)
    ratios = {}
    if fr is not None and rows[-1]["photos_per_s"] > 0:
        print()
        for r in rows[:-1]:
            ratios[r["engine"]] = round(r["photos_per_s"] / rows[-1]["photos_per_s"], 3)
            print(f"facerec ({r['engine']}) / face_recognition speed (photos/s): {ratios[r['engine']]:.2f}x")
    ratio = ratios.get(rows[-2]["engine"]) if ratios else None
    if fr is not None and args.cli_repeats > 0:
        cli_rows = [with_rates(r, expected) for r in bench_command_lines(
            photos, args.people, args.cli_repeats, args.cpus, flip, tuple(args.cli_dlib_engines.split(",")))]
        print()
        print_table(cli_rows)
        rows += cli_rows
        if cli_rows[-1]["photos_per_s"] > 0:
            print()
            for r in cli_rows[:-1]:
                key = "cli" if r is cli_rows[-2] else r["engine"]  # "cli": the last facerec engine listed
                ratios[key] = round(r["photos_per_s"] / cli_rows[-1]["photos_per_s"], 3)
                print(f"{r['tool']} / face_recognition --cpus {args.cpus}, whole processes (photos/s, median of "
                      f"{args.cli_repeats}): {ratios[key]:.2f}x")
    report = {"album": str(args.album), "people": str(args.people), "results": rows, "speed_ratio": ratio,
              "speed_ratios": ratios,
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
