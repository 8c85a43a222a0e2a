"""facerec: face recognition by transfer learning (MTCNN + VGGFace/VGGFace2 on Keras 3, dlib optional)."""
__version__ = "0.1.0"
