"""From a photo to names: the pipeline (detect, align, embed), matchers, verification, the Recognizer.

The matcher kinds live here, not in match.py, so that the command line can offer them without importing
scikit-learn (a second of start-up)."""

MATCHER_KINDS = ("nn", "svm", "logreg", "head")
AGGREGATES = ("max", "mean", "centroid")  # how the nn matcher scores a person: best photo, mean, centroid
