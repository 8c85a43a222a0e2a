"""Live video: the webcam / stream loop, tracks, identity votes, appear and leave events."""
