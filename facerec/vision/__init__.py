"""Images in, faces out: loading (EXIF, colour, size guards), MTCNN detection, the second look, alignment."""
