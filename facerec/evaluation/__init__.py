"""How well does recognition work on *your* photos? Identification, verification and calibration metrics.

Three evaluations, all on cosine distances between L2-normalised embeddings (0 = identical, 2 = opposite;
"same person" means distance <= threshold, as everywhere in facerec):

1. Labelled folder (`<root>/<Name>/*.jpg`): enroll k photos per person in memory, identify the rest with a
   matcher (nn / svm / logreg / head), and report top-1 accuracy on enrolled people, the open-set
   false-accept rate on people who were *not* enrolled, and a confusion matrix.
2. LFW-style `pairs.txt`: 10-fold cross-validated verification accuracy (threshold picked on 9 folds,
   tested on the 10th), ROC AUC, TAR at FAR = 1e-3 / 1e-2, and the best threshold.
3. `calibrate(gallery, backbone, target_far)`: the threshold that keeps false accepts on the gallery's
   impostor pairs at or below a target rate.

Modules: metrics (pure numpy), pairs (LFW pairs.txt), folder (labelled folders), calibrate, plots.
"""
from __future__ import annotations
