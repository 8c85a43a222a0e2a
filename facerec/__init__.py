"""facerec: face recognition by transfer learning (MTCNN + VGGFace/VGGFace2 on Keras 3, dlib optional).

The functions of facerec.api are available here lazily, so `import facerec` stays cheap
(TensorFlow is imported only when a model is needed)."""
__version__ = "0.1.0"

_API = ("detect_faces", "embed_faces", "verify_faces", "enroll_folder", "identify_faces", "tag_album", "forget_person",
        "list_people", "load_image")


def __getattr__(name: str):
    if name in _API:
        from facerec import api

        return getattr(api, name)
    raise AttributeError(f"module 'facerec' has no attribute {name!r}")


__all__ = list(_API)


def __dir__() -> list[str]:
    """The lazy re-exports too, so dir(facerec) and completion list them."""
    return sorted(set(globals()) | set(_API))
