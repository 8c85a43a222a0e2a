"""Decision thresholds: how they were chosen, and the lookup. The values are data in each backbone's registry
entry (facerec/backbones/__init__.py), next to everything else about that network.

Every threshold is a *cosine distance* between L2-normalised embeddings (0 = identical, 2 = opposite):
two faces are the same person when their distance is <= the threshold. Thresholds are keyed by the
backbone of an embedding id (`facerec.backbones.embedding_id`), and there are three, one per question asked:

- verify:   1:1, "are these two photos one person?" (`facerec verify`, LFW pairs). Chosen for accuracy:
            the threshold that decides the most pairs right on LFW View 1 DevTrain.
- identify: 1:N open set, "who of the enrolled people is this, if anyone?" (identify, tag, webcam,
            matchers). A stranger is compared with every enrolled face, so the threshold follows the
            gallery's size (`identify_threshold`, below): the stricter the more faces are enrolled, so that a
            stranger is named in at most STRANGER_RATE (1 %) of photos whatever the gallery. The registry's
            fixed `identify` value (a false-accept rate of 1e-4 per comparison on DevTrain, which the rule
            gives for about 100 enrolled faces) is for code that does not know the gallery (a trained head).
- cluster:  the distance under which unknown faces may be grouped (average linkage), chosen for
            pairwise precision >= 0.98 on DevTrain images.

How they were measured (reproduce with `python scripts/choose_thresholds.py --lfw ../shared/lfw-view1`,
which tunes on pairsDevTrain.txt and reports DevTest with the chosen values):

    dlib:dlibbox2+flip (dlib ResNet, mapped box, flip), 3,443 DevTrain photos, 0 without a face
    (detected with the `mtcnn` package, now engine "reference"; the default fast engines find the same
    boxes within IoU 0.9, see facerec/vision/mtcnn_fast.py):
      verify   0.0858  DevTrain pair accuracy 0.9918      -> DevTest pair accuracy 0.987
      identify 0.0564  FAR 1e-4 over 5,923,194 different-person image pairs, TAR 0.822 over 2,209
                       same-person pairs                  -> DevTest FAR 0.6e-4, TAR 0.832; open set (180
                       people enrolled with one photo each, 1,094 stranger photos): 0.9 % of strangers
                       named, 83.6 % of enrolled people's photos named right
      cluster  0.045   pairwise precision 0.991, recall 0.590 -> DevTest precision 1.000, recall 0.586
                       (the largest of 0.040, 0.045, ... with precision >= 0.98; 0.05 gives 0.976)
    (The old single default, 0.10 for every purpose, on the same embeddings: DevTest pair accuracy 0.979,
    FAR 2.6e-2 per comparison, 92 % of the open set's strangers named, clusters of precision 0.18.)

Identify at every gallery size. A stranger's photo is named when its nearest enrolled face is within the
threshold; with n enrolled faces (every embedding of every person, faces named from clusters included) and a
false-accept rate f per comparison, that happens with probability 1 - (1 - f) ** n if the comparisons were
independent. So f = 1 - (1 - 1 %) ** (1 / n), about 1 % / n, and the threshold is the distance with that
false-accept rate, read off a generalised Pareto fit of the lower tail of DevTrain's 5.9 M different-person
distances (below their 1 % quantile u = 0.0895: scale 0.00946, shape -0.1276; it gives back the measured
0.0707 / 0.0564 / 0.0463 at FAR 1e-3 / 1e-4 / 1e-5 and extrapolates beyond what 5.9 M pairs can measure), and
never above the verify threshold:

    enrolled faces      1       5      20     100     400    1,000   10,000
    identify          0.0858  0.0758  0.0660  0.0566  0.0499  0.0461  0.0383

An explicit --threshold is a fixed value per comparison instead (the user's word wins), and a backbone
without a fitted tail (the VGGFace ones) keeps its fixed value. Checked with random galleries of 5 to 400
people with k photos each (scripts/choose_thresholds.py; per photo; DevTest, DevTrain in brackets):

    people  k  faces  threshold  named right      strangers named   (at the former fixed 0.0564)
       5    1     5    0.0758    0.957 (0.972)    0.9 % (1.0 %)     named right 0.837, strangers 0.03 %
      20    1    20    0.0660    0.928 (0.923)    0.7 % (0.9 %)     0.824, 0.1 %
     100    1   100    0.0566    0.834 (0.827)    0.6 % (0.8 %)     0.831, 0.6 %
     400    1   400    0.0499    0.725 (0.718)    0.4 % (0.9 %)     0.834, 2.3 %
      20    2    40    0.0617    0.965 (0.953)    0.7 % (0.9 %)     0.930, 0.2 %
     100    2   200    0.0531    0.887 (0.892)    0.8 % (0.9 %)     0.925, 1.2 %
      20    3    60    0.0594    0.979 (0.971)    0.4 % (0.9 %)     0.966, 0.2 %
     100    3   300    0.0512    0.940 (0.919)    0.8 % (0.9 %)     0.968, 1.4 %

Strangers named stay at or under 1 % per photo at every size (at the former fixed threshold they grew to
2.3 % at 400 people on DevTest, 4.7 % with 2 photos each on DevTrain). A small gallery gains: one photo per
person names 93 % of 20 people's other photos instead of 82 %. A large one pays: at 400 people with one photo
each, 72 % instead of 83 %, the price of keeping its strangers unnamed; enrol more photos per person (the
nearest one counts), or pass a larger --threshold where a wrong name costs little. On LFW the comparisons are
not quite independent (a stranger close to one face is close to that person's other faces too), which makes
the rule slightly cautious, the more so the more photos per person.

Without flip (--no-flip) the same values are used; they were not measured separately.

VGGFace backbones (vgg16, resnet50, senet50): their weights cannot be downloaded where these were
measured, so their values are the kind deepface / keras-vggface users report; `facerec calibrate`
measures one on your own gallery for a target false-accept rate (pass it with --threshold).
"""
from __future__ import annotations

import math
from typing import Mapping

PURPOSES = ("verify", "identify", "cluster")

# The documented open-set target: the chance, per photo, that a stranger is given an enrolled person's name.
STRANGER_RATE = 0.01

# For a backbone no entry knows (none today): deepface-like values for 2048-d VGGFace2 embeddings.
DEFAULT_THRESHOLDS = {"verify": 0.40, "identify": 0.35, "cluster": 0.35}


def thresholds_for(key: str) -> dict[str, float]:
    """The thresholds of an embedding id ("dlib:dlibbox2+flip") or backbone name: its registry entry's."""
    from facerec.backbones import REGISTRY, backbone_of

    found = REGISTRY.get(backbone_of((key or "").lower()))
    return dict(found.thresholds) if found else dict(DEFAULT_THRESHOLDS)


def threshold_for(key: str, purpose: str = "verify") -> float:
    """Cosine-distance threshold for an embedding id or backbone name and a purpose (verify, identify, cluster)."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    return thresholds_for(key)[purpose]


# ---- identify at every gallery size


def comparison_far(n_samples: int, stranger_rate: float = STRANGER_RATE) -> float:
    """The false-accept rate per comparison f at which a stranger compared with `n_samples` enrolled faces is
    named with probability `stranger_rate`: 1 - (1 - f) ** n = stranger_rate. It treats the comparisons as
    independent, which on LFW is slightly cautious (a person's several photos look alike)."""
    if not 0 < stranger_rate < 1:
        raise ValueError(f"stranger_rate must be between 0 and 1, not {stranger_rate}")
    return -math.expm1(math.log1p(-stranger_rate) / max(1, int(n_samples)))


def distance_at_far(tail: Mapping[str, float], far: float) -> float:
    """The cosine distance whose false-accept rate per comparison is `far`, from a generalised Pareto fit of the
    impostor distances below `u` (a fraction `p_u` of them lie below u; `sigma`, `xi`: the fit's scale, shape)."""
    u, p_u, sigma, xi = (float(tail[k]) for k in ("u", "p_u", "sigma", "xi"))
    if abs(xi) < 1e-9:
        return u + sigma * math.log(far / p_u)
    return u - sigma / xi * ((far / p_u) ** (-xi) - 1.0)


def identify_threshold(key: str, n_samples: int, stranger_rate: float = STRANGER_RATE) -> float:
    """The identify threshold for a gallery of `n_samples` enrolled faces (every embedding of every person, those
    added by naming faces included): the distance at which a stranger is named with probability `stranger_rate`
    per photo, never above the verify threshold. A backbone without a fitted impostor tail keeps its fixed value."""
    from facerec.backbones import REGISTRY, backbone_of

    found = REGISTRY.get(backbone_of((key or "").lower()))
    if found is None or found.impostor_tail is None:
        return threshold_for(key, "identify")
    distance = distance_at_far(found.impostor_tail, comparison_far(n_samples, stranger_rate))
    return round(min(distance, found.thresholds["verify"]), 4)


def identify_rule(key: str) -> str:
    """How identify's threshold is chosen for this embedding id or backbone, in words (for calibrate and info)."""
    from facerec.backbones import REGISTRY, backbone_of

    found = REGISTRY.get(backbone_of((key or "").lower()))
    if found is None or found.impostor_tail is None:
        return "fixed"
    return f"gallery size: a stranger named in at most {STRANGER_RATE:.0%} of photos"


# ---- learning from confirmations (facerec.gallery.learning)

# At most this many samples of one person come from confirmed album faces (per embedding id): a person whose
# photos are confirmed by the hundred would otherwise fill the gallery, and every sample makes identify's
# threshold stricter for everyone (it follows the number of enrolled faces, above).
CONFIRMED_SAMPLE_CAP = 20

# A confirmed face whose embedding is within this fraction of the verify threshold of one of the person's
# samples is not added: it teaches nothing (the same photo again, a burst). dlib: 0.15 x 0.0858 = 0.0129, below
# the distance of nearly every two different photos of one person on LFW (their median is near 0.035).
DUPLICATE_FRACTION = 0.15


def duplicate_distance(key: str) -> float:
    """The cosine distance under which a confirmed face adds nothing to a person's samples (embedding id or backbone)."""
    return round(threshold_for(key, "verify") * DUPLICATE_FRACTION, 4)
