"""facerec webcam — identify people live in a camera, a video file or a stream."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from facerec import errors
from facerec.cli.commands._mqtt import add_mqtt_options, publisher_from_args
from facerec.cli.commands._util import COUNT, DISTANCE, NON_NEGATIVE, PIXELS

log = logging.getLogger(__name__)

DESCRIPTION = """Identify the people enrolled in the gallery live, from a camera, a video file or a stream.

A window shows each face with its name and score (and the processing FPS); press q or Esc, or close
the window, to stop. With --headless there is no window: JSON lines go to stdout, one per event
and one per face found by each detection pass (--every-frame: one per face on every frame):

  {"ts": 0.3, "frame": 9, "event": "face", "track": 1, "box": [x, y, w, h], "name": "Alice", "score": 0.94,
   "distance": 0.01, ...}     (the fields of identify --json; distance: of the vote that named the track)
  {"ts": 0.3, "frame": 9, "event": "appeared", "track": 1, "name": "Alice", "score": 0.94, "first_ts": 0.0, ...}
  {"ts": 6.1, "frame": 183, "event": "left", "track": 1, "name": "Alice", "first_ts": 0.0, "last_ts": 2.1, "duration": 2.1, ...}
  ("renamed" when a settled face's majority name changes; ts is seconds of video / since the start)

How it works: faces are detected on every frame while the machine keeps up with the source (else, or
with --detect-every K, every K frames) on a copy --detect-width pixels wide, and followed in between by
box overlap; the fps shown and written is the processed rate over the last 2 s; each new face is embedded a few times, then re-checked
every 2 s, and its name is a vote over those embeddings (`unknown` needs a majority). `appeared`
comes once per appearance, when the vote settles (after 2 embeddings, or 1 very close match);
a known person who comes back within 3 s is the same appearance. `left` comes when a face has
been gone for 1 s (plus those 3 s for known people, in case they come back), or at the end.
Live sources drop frames rather than fall behind; files are processed frame by frame unless
--realtime. Stream URLs are reconnected (5 attempts, backoff) when they drop.

With nobody enrolled for the backbone (or no gallery yet), it runs detection only: every face is
`unknown`; combine with --save-unknown to collect faces to enroll later.

sources: 0, 1, ... (camera index), a video file, or a URL (rtsp://, http://, ...).
The window needs opencv-python (the default opencv-python-headless has no GUI): use --headless.

examples:
  facerec webcam                                  # camera 0, window
  facerec webcam --headless --source 0            # JSON lines; Ctrl-C to stop
  facerec webcam --source meeting.mp4 --headless --record annotated.mp4
  facerec webcam --source rtsp://user:pass@cam/stream --headless --save-unknown unknown_faces/
  facerec webcam --source rtsp://cam/stream --headless --camera-name door --mqtt mqtt://homeassistant.lan

--mqtt URL publishes each event, per-person presence (home / away, retained) and Home Assistant discovery
(a "last person seen" sensor, a presence binary_sensor per enrolled person) to an MQTT broker; a broker
that is down is retried in the background and never stops the video (events meanwhile are counted as
dropped). On a camera or stream, any error in the loop (e.g. a gallery briefly locked by another process)
is reported once per kind and the loop starts again after a backoff (1 s doubling to 60 s).

exit code: 0 when the source ended or you stopped it (q, Esc, Ctrl-C); 1 when a live source was lost
mid-run, or the loop failed on a video file (the reason is said); 2 a bad option (e.g. a broker URL that does
not parse, a camera name with / + #); 3 when the source could not be opened; 4 --mqtt without paho-mqtt."""


def register(sub, common) -> None:
    from facerec.video.loop import DEFAULT_DETECT_EVERY, DEFAULT_DETECT_WIDTH

    p = sub.add_parser("webcam", parents=common, help="identify people live (camera, video file, stream)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="0", metavar="SRC",
                   help="camera index, video file or stream URL (default: %(default)s)")
    p.add_argument("--headless", action="store_true", help="no window: JSON lines on stdout")
    p.add_argument("--every-frame", action="store_true",
                   help="JSON: a face line for every processed frame, not only detection frames")
    p.add_argument("--record", type=Path, metavar="OUT.mp4",
                   help="save the annotated video (mp4v) to a new file: never the source, a photo or an existing "
                        "file (unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="--record may replace an existing file (not the source)")
    p.add_argument("--save-unknown", type=Path, metavar="DIR",
                   help="save one PNG crop per unknown face (per track, not per frame) into DIR")
    p.add_argument("--detect-every", type=_detect_every, default=DEFAULT_DETECT_EVERY, metavar="K",
                   help="run the detector every K processed frames and follow faces in between; 'auto' (the "
                        "default): every frame while the machine keeps up with the source, less often when not")
    p.add_argument("--detect-width", type=NON_NEGATIVE, default=DEFAULT_DETECT_WIDTH, metavar="W",
                   help="detect on a copy W pixels wide, 0 for full size (default: %(default)s)")
    p.add_argument("--min-face-size", type=PIXELS, default=20, metavar="PX",
                   help="smallest face, in pixels of the detection copy (default: %(default)s; "
                        "40 detects about twice as fast)")
    p.add_argument("--max-frames", type=COUNT, metavar="N", help="stop after N processed frames")
    p.add_argument("--threshold", type=DISTANCE, metavar="D",
                   help="cosine distance above which a face is unknown (default: per backbone)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                   help="drop frames to keep up (default: on for cameras and streams, off for files)")
    p.add_argument("--camera-name", default="default", metavar="NAME",
                   help="the camera's name in MQTT topics: letters, digits, _ and - (default: %(default)s)")
    add_mqtt_options(p)
    p.set_defaults(func=run)


def _detect_every(text: str) -> int:
    from facerec.video.loop import AUTO

    return AUTO if text.strip().lower() == "auto" else COUNT(text)


def run(args) -> int:
    from facerec.cli.commands._util import pipeline_from_args
    from facerec.video.outputs import JsonLinesOutput, UnknownFaceSaver, VideoRecorder, WindowOutput, annotate_frame, describe_devices
    from facerec.video.sources import open_video
    from facerec.video.loop import run_loop
    from facerec.video.mqtt import check_camera_name

    check_camera_name(args.camera_name)
    recognizer_box: list = []  # the people MQTT announces: read through the recognizer once it exists
    publisher = publisher_from_args(args, lambda: recognizer_box[0].people() if recognizer_box else [])
    if args.record:
        check_record_path(args)
    window = None if args.headless else WindowOutput()  # fails fast when no window can be shown
    video = open_video(args.source, args.realtime)  # fails fast when the source cannot be opened
    opened = [video]  # the source, and its reopenings after errors: all closed at the end
    recorder = saver = channel = None
    try:
        recorder = VideoRecorder(args.record, video.fps, args.overwrite) if args.record else None
        saver = UnknownFaceSaver(args.save_unknown) if args.save_unknown else None
        pipeline = pipeline_from_args(args)
        matcher, people = load_matcher(args, pipeline, recognizer_box)
        if publisher is not None:
            channel = publisher.camera(args.camera_name)
            publisher.start()
        say(args, f"facerec webcam: {video.describe()}; {_people_text(people, args.backbone)}; "
                  f"{describe_devices(args.backbone)}; "
                  + (f"MQTT {publisher.broker.describe()}; " if publisher else "")
                  + ("Ctrl-C to stop" if args.headless else "q or Esc to stop"))
        json_out = JsonLinesOutput(sys.stdout, args.every_frame) if (args.headless or args.json) else None

        def on_frame(result):
            if json_out:
                json_out.on_frame(result)
            if channel:
                channel.tick()
            if window is None and recorder is None:
                return True
            annotated = annotate_frame(result)
            if recorder:
                recorder.write(annotated, result.frame.ts)
            return window.show(annotated) if window else True

        def on_event(event, result):
            if json_out:
                json_out.on_event(event, result)
            if saver:
                saver.on_event(event, result)
            if channel:
                channel.on_event(event, result)
            if not json_out and event.kind != "renamed":
                say(args, f"{result.frame.ts:8.2f}s  {event.kind:8s} {event.name} (track {event.track_id})")

        def run_once(source):
            return run_loop(source, pipeline, matcher, detect_every=args.detect_every,
                            detect_width=args.detect_width or None, on_frame=on_frame, on_event=on_event,
                            max_frames=args.max_frames)

        stats = run_restarting(run_once, opened, args, channel)
    finally:
        for source in opened:
            source.close()
        if window:
            window.close()
        if publisher:
            publisher.stop()
        if recorder:  # last: naming the recording may fail (a file appeared meanwhile), and says where it is
            recorder.close()
    say(args, _summary(stats, saver, args, publisher))
    if stats.lost:
        raise errors.FacerecError(stats.lost)
    return errors.EXIT_OK


def check_record_path(args) -> None:
    """--record goes through the output-path rule before anything is opened (exit 2 when refused)."""
    from facerec.files.outputs import check_recording_path, input_set
    from facerec.video.sources import parse_source

    spec = parse_source(args.source)
    inputs = input_set([spec.target]) if spec.kind == "file" else frozenset()
    check_recording_path(args.record, inputs, args.overwrite)


def run_restarting(run_once, opened: list, args, channel=None):
    """Run the loop on the last source in `opened`. On a camera or stream any error is counted, said once per
    kind and the loop starts again on the source opened anew, after a backoff (facerec.video.restarts); on a
    file an error ends the run with its reason (exit 1): replaying a file would repeat its events."""
    import time

    from facerec.video.restarts import Restarts

    restarts = Restarts("facerec webcam", log, traceback=bool(args.verbose))
    while True:
        video, began = opened[-1], time.monotonic()
        try:
            return run_once(video)
        except errors.FacerecError:
            raise
        except Exception as e:  # noqa: BLE001 - a door camera runs for months: a transient error must not end it
            if not video.spec.live or video.finite:
                raise errors.FacerecError(f"the video loop stopped: {type(e).__name__}: {e}") from e
            delay = restarts.failed(e, time.monotonic() - began)
            say(args, f"facerec webcam: {type(e).__name__}: {e}; restarting in {delay:g} s "
                      f"({restarts.count} restarts so far)")
            if channel is not None:
                channel.all_away()
        time.sleep(delay)
        opened.append(reopen(args))


def reopen(args):
    """The live source again, waiting for it while it cannot be opened (Ctrl-C stops the wait)."""
    import time

    from facerec.video.sources import SourceError, open_video

    while True:
        try:
            return open_video(args.source, args.realtime)
        except SourceError as e:
            say(args, f"facerec webcam: {e}; trying again in 5 s")
            time.sleep(5.0)


def load_matcher(args, pipeline, keep: list | None = None):
    """The Recognizer over everyone enrolled for the backbone (refitted if someone is enrolled while the video
    runs), or None when nobody is (detection only); and the names it can give. `keep` receives the Recognizer."""
    from facerec.recognition.recognizer import Recognizer

    recognizer = Recognizer(args.gallery, pipeline=pipeline, threshold=args.threshold)
    if keep is not None:
        keep.append(recognizer)
    people = recognizer.people()
    return (recognizer if people else None), people


def _people_text(people: list[str], backbone: str) -> str:
    if not people:
        return "nobody enrolled (detection only)"
    return f"{len(people)} people enrolled ({backbone})"


def _summary(stats, saver, args, publisher=None) -> str:
    parts = [f"{stats.frames} frames ({stats.dropped} dropped) in {stats.seconds:.1f} s, {stats.fps:.1f} fps",
             f"{stats.events.get('appeared', 0)} appearances", f"ended: {stats.ended}"]
    if saver:
        parts.append(f"{len(saver.saved)} unknown faces saved in {args.save_unknown}")
    if args.record:
        parts.append(f"video saved to {args.record}")
    if publisher:
        parts.append(f"MQTT: {publisher.published} events published, {publisher.dropped} dropped (broker not connected)")
    return "facerec webcam: " + "; ".join(parts)


def say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)
