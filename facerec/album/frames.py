"""Which frame a face region's numbers are in: the stored image or the image as displayed (EXIF orientation
applied), and turning normalised boxes between the two. One rule for reading (facerec.album.regions) and
writing (facerec.album.xmp), so facerec's own regions round-trip:

MWG areas are in the stored frame, as the MWG Guidelines 2.0 say ("Region metadata is applied to the stored
image. When applying a rotation by applying Exif Orientation, the rotation must be applied to the regions as
well", 5.9 Image Region Metadata), except where ``mwg-rs:AppliedToDimensions`` has the shape of the displayed
image and not that of the stored one (orientations 5-8 swap width and height): programs that wrote areas
of the displayed image. With orientations 2-4 (same shape both ways), a square photo or no
AppliedToDimensions, the stored frame (the guideline).
"""
from __future__ import annotations

from dataclasses import dataclass

ORIENTATIONS = frozenset(range(1, 9))
TURNED = frozenset({5, 6, 7, 8})  # orientations whose displayed image swaps width and height
INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}  # the orientation that undoes each one


@dataclass(frozen=True)
class ImageFrame:
    """The stored size of an image and its EXIF orientation (1-8)."""

    width: int
    height: int
    orientation: int = 1

    @property
    def displayed(self) -> tuple[int, int]:
        return (self.height, self.width) if self.orientation in TURNED else (self.width, self.height)


def turn_point(u: float, v: float, orientation: int) -> tuple[float, float]:
    """Where a normalised point of the stored image lands once EXIF orientation is applied (as Pillow's
    ImageOps.exif_transpose does it)."""
    return {
        1: (u, v), 2: (1 - u, v), 3: (1 - u, 1 - v), 4: (u, 1 - v),
        5: (v, u), 6: (1 - v, u), 7: (1 - v, 1 - u), 8: (v, 1 - u),
    }.get(orientation, (u, v))


def stored_to_displayed(box: tuple[float, float, float, float], orientation: int) -> tuple[float, float, float, float]:
    """A normalised (left, top, width, height) box of the stored image, in the displayed image's frame."""
    x, y, w, h = box
    (u0, v0), (u1, v1) = (turn_point(u, v, orientation) for u, v in ((x, y), (x + w, y + h)))
    return min(u0, u1), min(v0, v1), abs(u1 - u0), abs(v1 - v0)


def displayed_to_stored(box: tuple[float, float, float, float], orientation: int) -> tuple[float, float, float, float]:
    return stored_to_displayed(box, INVERSE.get(orientation, 1))


def mwg_in_stored_frame(dims: tuple[float, float] | None, frame: ImageFrame) -> bool:
    """False only when AppliedToDimensions `dims` say the MWG areas are in the displayed frame (the rule above):
    the exact size first, then the shape (landscape / portrait) for regions drawn on a resized copy."""
    if dims is None or frame.orientation not in TURNED or frame.width == frame.height:
        return True
    w, h = dims
    if (round(w), round(h)) == (frame.width, frame.height):
        return True
    if (round(w), round(h)) == frame.displayed:
        return False
    return w == h or (w > h) == (frame.width > frame.height)
