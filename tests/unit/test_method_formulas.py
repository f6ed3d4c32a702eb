"""Each method's formula on hand-made `MethodInputs`, against loops written here.

No model and no backend: the activations and gradients are seeded random
arrays (2 images, 2 targets, a 3x4 grid, 5 channels), and each reference is
the paper's formula written out location by location and channel by channel.
The passes some methods run (masked, ablated, Hessian, guided) are functions
given here whose answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from camlens.methods import METHODS, MethodInputs, compute

N, K, H, W, C = 2, 2, 3, 4, 5


def inputs(seed: int = 0, **extra) -> MethodInputs:
    rng = np.random.default_rng(seed)
    activations = rng.uniform(0, 2, (N, H, W, C))
    activations[..., 1] = 0.0  # a channel that is off everywhere
    fields = dict(
        activations=activations,
        gradients=rng.normal(0, 1, (N, K, H, W, C)),
        images=rng.uniform(0, 1, (N, H, W, 3)).astype(np.float32),
        sign=1.0,
        masked_scores=None,
        mask_batch_size=2,
        target_count=K,
        scores=rng.uniform(0.5, 1, (N, K)),
    )
    fields.update(extra)
    return MethodInputs(**fields)


def normalized(raw: np.ndarray) -> np.ndarray:
    """ELI5's normalisation of one map: ReLU, then divided by the maximum plus 1e-7."""
    raw = np.maximum(raw, 0)
    return raw / (raw.max() + 1e-7)


def weighted(a: np.ndarray, weights) -> np.ndarray:
    """sum_k w_k A^k for one image, written as a loop over channels."""
    total = np.zeros(a.shape[:2])
    for k in range(a.shape[-1]):
        total += weights[k] * a[:, :, k]
    return total


def gradcam(a, g, n, t):
    return weighted(a, [g[:, :, k].mean() for k in range(C)])


def gradcampp(a, g, n, t):
    weights = []
    for k in range(C):
        total, weight = a[:, :, k].sum(), 0.0
        for i in range(H):
            for j in range(W):
                denominator = 2 * g[i, j, k] ** 2 + total * g[i, j, k] ** 3
                alpha = g[i, j, k] ** 2 / denominator if denominator else 0.0
                weight += alpha * max(g[i, j, k], 0.0)
        weights.append(weight)
    return weighted(a, weights)


def xgradcam(a, g, n, t):
    weights = [
        (a[:, :, k] * g[:, :, k]).sum() / a[:, :, k].sum() if a[:, :, k].sum() else 0.0
        for k in range(C)
    ]
    return weighted(a, weights)


def layercam(a, g, n, t):
    return sum(np.maximum(g[:, :, k], 0) * a[:, :, k] for k in range(C))


def hirescam(a, g, n, t):
    return sum(g[:, :, k] * a[:, :, k] for k in range(C))


def elementwise(a, g, n, t):
    return sum(np.maximum(g[:, :, k] * a[:, :, k], 0) for k in range(C))


def first_component(matrix: np.ndarray, shape) -> np.ndarray:
    """The projection on the first right singular vector (numpy's SVD), summing >= 0."""
    _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
    projection = matrix @ vt[0]
    return (projection if projection.sum() >= 0 else -projection).reshape(shape)


def eigencam(a, g, n, t):
    return first_component(a.reshape(-1, C), (H, W))


def eigengradcam(a, g, n, t):
    return first_component((a * g).reshape(-1, C), (H, W))


def segeigencam(a, g, n, t):
    matrix = (np.abs(g) * a).reshape(-1, C)
    matrix = matrix - matrix.mean(axis=0)
    projection = matrix @ np.linalg.svd(matrix)[2][0]
    projection = -projection if abs(projection.min()) > abs(projection.max()) else projection
    return projection.reshape(H, W)


def fem(a, g, n, t):
    total = np.zeros((H, W))
    for k in range(C):
        mean, deviation = a[:, :, k].mean(), a[:, :, k].std()
        total += mean * (a[:, :, k] > mean + 2 * deviation)
    return total


FORMULAS = {
    "gradcam": gradcam,
    "gradcam++": gradcampp,
    "xgradcam": xgradcam,
    "layercam": layercam,
    "hirescam": hirescam,
    "gradcam-elementwise": elementwise,
    "eigencam": eigencam,
    "eigengradcam": eigengradcam,
    "fem": fem,
    "segeigencam": segeigencam,
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_method_equals_its_formula(name):
    given = inputs()
    maps = compute(METHODS[name], given)
    assert maps.shape == (N, K, H, W)
    for n in range(N):
        for t in range(K):
            expected = normalized(FORMULAS[name](given.activations[n], given.gradients[n, t], n, t))
            np.testing.assert_allclose(maps[n, t], expected, atol=1e-9)


def sigmoid_kernel_component(features: np.ndarray) -> np.ndarray:
    """KPCA-CAM's projection written out: rows centred, Gram matrix
    tanh(x.y / C + 1), centred by the projector J = I - 1/n, top eigenpair."""
    rows = features - features.mean(axis=0)
    count = len(rows)
    centring = np.eye(count) - np.full((count, count), 1 / count)
    gram = centring @ np.tanh(rows @ rows.T / features.shape[1] + 1) @ centring
    values, vectors = np.linalg.eigh(gram)
    return vectors[:, -1] * np.sqrt(values[-1])


def test_kpcacam_is_the_sigmoid_kernel_principal_component_signed_by_total_activation():
    from sklearn.decomposition import KernelPCA

    given = inputs()
    maps = compute(METHODS["kpcacam"], given)
    for n in range(N):
        features = given.activations[n].reshape(-1, C)
        written_out = sigmoid_kernel_component(features)
        # pytorch-grad-cam's KPCA_CAM (the paper's code): scikit-learn on the centred rows
        theirs = KernelPCA(1, kernel="sigmoid").fit_transform(features - features.mean(axis=0))
        np.testing.assert_allclose(np.abs(theirs[:, 0]), np.abs(written_out), atol=1e-9)
        totals = features.sum(axis=1)
        if written_out @ (totals - totals.mean()) < 0:
            written_out = -written_out
        for t in range(K):  # class-agnostic: every target gets the image's map
            np.testing.assert_allclose(maps[n, t], normalized(written_out.reshape(H, W)), atol=1e-6)


def test_fem_threshold_is_strict_so_a_constant_channel_adds_nothing():
    given = inputs()
    given.activations[..., 0] = 5.0  # mean 5, deviation 0: no location exceeds it
    without = inputs()
    without.activations[..., 0] = 0.0
    np.testing.assert_allclose(
        compute(METHODS["fem"], given), compute(METHODS["fem"], without), atol=1e-12
    )


def test_finercam_takes_the_gradient_of_the_score_differences():
    rng = np.random.default_rng(3)
    compared = rng.normal(0, 1, (N, K, 3, H, W, C))
    given = inputs(comparison_gradients=compared)
    maps = compute(METHODS["finercam"], given)
    for n in range(N):
        for t in range(K):
            difference = sum(given.gradients[n, t] - compared[n, t, m] for m in range(3))
            expected = normalized(gradcam(given.activations[n], difference, n, t))
            np.testing.assert_allclose(maps[n, t], expected, atol=1e-9)


def test_scorecam_weights_are_the_softmax_of_the_masked_scores():
    """At the input's resolution each mask is the channel min-max scaled; the masked
    score here is the masked image's mean times a per-target factor."""
    factors = np.array([1.0, -2.0])
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 1, (N, H, W, 3)).astype(np.float32)

    def masked_scores(n, masked):
        return masked.reshape(len(masked), -1).mean(axis=1)[:, None] * factors[None]

    given = inputs(images=images, masked_scores=masked_scores)
    maps = compute(METHODS["scorecam"], given)
    for n in range(N):
        a = given.activations[n]
        scores = []
        for k in range(C):
            span = a[:, :, k].max() - a[:, :, k].min()
            mask = (a[:, :, k] - a[:, :, k].min()) / span if span else np.zeros((H, W))
            scores.append((images[n] * mask[:, :, None]).mean() * factors)
        scores = np.array(scores)  # (C, K)
        for t in range(K):
            weights = np.exp(scores[:, t] - scores[:, t].max())
            expected = normalized(weighted(a, weights / weights.sum()))
            np.testing.assert_allclose(maps[n, t], expected, atol=1e-6)


def test_ablationcam_weights_are_the_relative_score_drops():
    """The score here is sum_k v_k mean(A^k) over the channels kept: zeroing channel
    k drops it by v_k mean(A^k), relative to the full score."""
    values = np.array([[1.0, 0.5, -0.3, 2.0, 0.7], [0.2, 1.0, 1.0, -1.0, 0.4]])  # (K, C)
    rng = np.random.default_rng(5)
    activations = rng.uniform(0, 2, (N, H, W, C))

    def score(n, keep):  # keep (M, C) -> (M, K)
        means = activations[n].mean(axis=(0, 1))
        return (keep * means) @ values.T

    full = np.stack([score(n, np.ones((1, C)))[0] for n in range(N)])
    given = inputs(
        activations=activations, scores=full, ablated_scores=lambda n, keep: score(n, keep)
    )
    maps = compute(METHODS["ablationcam"], given)
    for n in range(N):
        means = activations[n].mean(axis=(0, 1))
        for t in range(K):
            drops = [values[t, k] * means[k] / abs(full[n, t]) for k in range(C)]
            np.testing.assert_allclose(
                maps[n, t], normalized(weighted(activations[n], drops)), atol=1e-9
            )


def test_shapleycam_weights_are_the_mean_of_g_minus_half_h_a():
    rng = np.random.default_rng(6)
    products = rng.normal(0, 1, (N, K, H, W, C))
    given = inputs(hessian_products=lambda: products)
    maps = compute(METHODS["shapleycam"], given)
    for n in range(N):
        for t in range(K):
            values = given.gradients[n, t] - products[n, t] / 2
            expected = normalized(gradcam(given.activations[n], values, n, t))
            np.testing.assert_allclose(maps[n, t], expected, atol=1e-9)


def test_guided_gradcam_multiplies_gradcam_by_the_guided_gradients():
    """The layer at the input's resolution: Grad-CAM needs no upsampling."""
    rng = np.random.default_rng(7)
    guided = rng.normal(0, 1, (N, K, H, W, 3))
    given = inputs(guided_gradients=lambda: guided)
    maps = compute(METHODS["guided-gradcam"], given)
    for n in range(N):
        for t in range(K):
            coarse = normalized(gradcam(given.activations[n], given.gradients[n, t], n, t))
            saliency = normalized(np.abs(guided[n, t]).max(axis=-1))
            np.testing.assert_allclose(maps[n, t], normalized(coarse * saliency), atol=1e-9)


def test_counterfactual_sign_reaches_the_gradient_free_methods():
    """Score-CAM negates the score increases itself (sign -1): the softmax then
    favours the channels that lower the score."""

    def masked_scores(n, masked):
        return masked.reshape(len(masked), -1).mean(axis=1)[:, None].repeat(K, axis=1)

    plain = compute(METHODS["scorecam"], inputs(masked_scores=masked_scores), relu=False)
    negated = compute(
        METHODS["scorecam"], inputs(masked_scores=masked_scores, sign=-1.0), relu=False
    )
    assert not np.allclose(plain, negated)


def test_signed_maps_keep_negative_evidence():
    given = inputs()
    maps = compute(METHODS["hirescam"], given, relu=False)
    raw = hirescam(given.activations[0], given.gradients[0, 0], 0, 0)
    np.testing.assert_allclose(maps[0, 0], raw / (np.abs(raw).max() + 1e-7), atol=1e-12)
    assert maps.min() < 0


@pytest.mark.parametrize("name", ["layercam", "hirescam", "gradcam"])
def test_eigen_smoothing_projects_the_positive_and_negative_terms_apart(name):
    """P(T+) - P(T-): each part's projection on its first right singular vector,
    scaled to the part's total."""
    given = inputs()
    for relu in (True, False):
        maps = compute(METHODS[name], given, relu=relu, smooth="eigen")
        for n in range(N):
            for t in range(K):
                a, g = given.activations[n], given.gradients[n, t]
                terms = {
                    "layercam": np.maximum(g, 0) * a,
                    "hirescam": g * a,
                    "gradcam": a * g.mean(axis=(0, 1)),
                }[name]
                raw = np.zeros((H, W))
                for sign in (1, -1):
                    matrix = np.maximum(sign * terms, 0).reshape(-1, C)
                    if not matrix.any():
                        continue
                    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
                    projection = matrix @ vt[0]
                    projection = projection if projection.sum() >= 0 else -projection
                    assert projection.min() >= -1e-12  # Perron-Frobenius: no sign to choose
                    raw += sign * projection.reshape(H, W) * matrix.sum() / projection.sum()
                expected = normalized(raw) if relu else raw / (np.abs(raw).max() + 1e-7)
                np.testing.assert_allclose(maps[n, t], expected, atol=1e-9)


def test_class_agnostic_methods_give_every_target_the_same_map():
    given = inputs()
    for name in ("eigencam", "kpcacam", "fem"):
        maps = compute(METHODS[name], given)
        np.testing.assert_array_equal(maps[:, 0], maps[:, 1])
        assert not METHODS[name].class_specific
