"""The synthetic world is learnable, and not trivially so.

A small CNN trained for a few hundred steps on CPU detects AUs far above chance, while a linear
model on raw pixels, trained the same way, does clearly worse: AUs are local, pose/identity/light
vary, so the task needs features, as on real faces.
"""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from holistic.synth.labels import LabelModel, occurrence
from holistic.synth.writers._common import SourceStyle, Studio

SIZE = 48
AUS = (1, 2, 4, 6, 9, 12, 15, 17, 20, 25, 26)  # the EmotioNet 11: brows, eyes, nose, mouth


def _data(n, seed):
    rng = np.random.default_rng(seed)
    studio, model = Studio(SourceStyle(), rng, size=SIZE), LabelModel()
    images, targets = [], []
    for _ in range(n):
        labels = model.sample_still(rng)
        face, _ = studio.draw(labels)
        images.append(face.image)
        occurring = occurrence(labels)
        targets.append([occurring[au] for au in AUS])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return x, torch.tensor(targets, dtype=torch.float32)


def _train(model, x, y, steps=300, batch=64, lr=2e-3):
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(0, len(x), (batch,), generator=generator)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[index]), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


def _mean_auc(model, x, y):
    with torch.no_grad():
        scores = model(x).numpy()
    aucs = [
        roc_auc_score(y[:, j], scores[:, j])
        for j in range(y.shape[1])
        if 0 < y[:, j].sum() < len(y)
    ]
    return float(np.mean(aucs))


def _cnn():
    def block(i, o):
        return [
            torch.nn.Conv2d(i, o, 3, padding=1),
            torch.nn.BatchNorm2d(o),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        ]

    return torch.nn.Sequential(
        *block(3, 16), *block(16, 32), *block(32, 64), *block(64, 64),
        torch.nn.Flatten(), torch.nn.Linear(64 * 3 * 3, len(AUS)),
    )  # fmt: skip


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(2)
    return _data(2000, seed=1), _data(600, seed=2)


def test_a_small_cnn_learns_aus_and_a_linear_model_does_clearly_worse(data):
    (x, y), (x_test, y_test) = data
    cnn = _train(_cnn(), x, y)
    cnn.eval()
    linear = _train(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, len(AUS))), x, y
    )
    cnn_auc, linear_auc = _mean_auc(cnn, x_test, y_test), _mean_auc(linear, x_test, y_test)
    print(f"mean AUC over {len(AUS)} AUs: CNN {cnn_auc:.3f}, linear on pixels {linear_auc:.3f}")
    assert cnn_auc > 0.85  # chance is 0.5
    assert cnn_auc - linear_auc > 0.1
