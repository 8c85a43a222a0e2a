"""From a photo to names: the pipeline (detect, align, embed), matchers, verification, the Recognizer."""
