"""An independent Grad-CAM reference: a small residual CNN in plain numpy.

The network, with 'same' 3x3 convolutions:

    x -> conv0 -> ReLU = B -> conv1 -> ReLU = A  (the explained layer)
      -> conv2 -> (+ B, the skip connection across A) -> ReLU = C
      -> global average pooling -> dense -> softmax

The forward pass and the backward pass from a class probability to A are
written out by hand in float64, without any Keras or backend code.
"""

from __future__ import annotations

import numpy as np


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Cross-correlation with zero padding, as Keras Conv2D(padding="same").

    x (H, W, Cin), kernel (3, 3, Cin, Cout), bias (Cout,) -> (H, W, Cout).
    """
    height, width, _ = x.shape
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, kernel.shape[-1]))
    for di in range(3):
        for dj in range(3):
            out += np.einsum(
                "hwc,co->hwo", padded[di : di + height, dj : dj + width], kernel[di, dj]
            )
    return out + bias


def conv_same_backward(grad_out: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Gradient of `conv_same` with respect to its input."""
    height, width, _ = grad_out.shape
    grad_padded = np.zeros((height + 2, width + 2, kernel.shape[2]))
    for di in range(3):
        for dj in range(3):
            grad_padded[di : di + height, dj : dj + width] += np.einsum(
                "hwo,co->hwc", grad_out, kernel[di, dj]
            )
    return grad_padded[1:-1, 1:-1]


def residual_forward(weights: list[np.ndarray], image: np.ndarray) -> dict:
    """The forward pass of one image: every intermediate, float64."""
    k0, b0, k1, b1 = (np.asarray(w, np.float64) for w in weights[:4])
    skip = relu(conv_same(image.astype(np.float64), k0, b0))
    activations = relu(conv_same(skip, k1, b1))
    return dict(skip=skip, activations=activations, **residual_head(weights, activations, skip))


def residual_head(weights: list[np.ndarray], activations: np.ndarray, skip: np.ndarray) -> dict:
    """The rest of the forward pass from A (and the skip connection B)."""
    k2, b2, dense_kernel, dense_bias = (np.asarray(w, np.float64) for w in weights[4:])
    pre_merge = conv_same(activations, k2, b2) + skip
    merged = relu(pre_merge)
    logits = merged.mean(axis=(0, 1)) @ dense_kernel + dense_bias
    probs = np.exp(logits - logits.max())
    return dict(
        pre_merge=pre_merge,
        merged=merged,
        logits=logits,
        probs=probs / probs.sum(),
        k2=k2,
        dense_kernel=dense_kernel,
    )


def head_gradient(f: dict, target: int, score: str = "output") -> tuple[np.ndarray, np.ndarray]:
    """d score / d A and d score / d pre_merge, by hand, from the intermediates `f`."""
    probs, pre_merge, merged = f["probs"], f["pre_merge"], f["merged"]
    onehot = np.eye(len(probs))[target]
    # d p_t / d logits = p_t (onehot_t - p); d logit_t / d logits = onehot_t
    grad_logits = onehot if score == "logit" else probs[target] * (onehot - probs)
    grad_pooled = f["dense_kernel"] @ grad_logits
    height, width = merged.shape[:2]
    grad_merged = np.broadcast_to(grad_pooled / (height * width), merged.shape)
    grad_pre_merge = grad_merged * (pre_merge > 0)
    return conv_same_backward(grad_pre_merge, f["k2"]), grad_pre_merge


def residual_gradcam(
    weights: list[np.ndarray], image: np.ndarray, target: int | None, score: str = "output"
):
    """Grad-CAM at A for one image.

    Args:
        weights: [k0, b0, k1, b1, k2, b2, dense_kernel, dense_bias].
        image: (H, W, C).
        target: class id, or None for the top class.
        score: "output" differentiates the softmax probability, "logit" the
            score before it.

    Returns:
        (heatmap (H, W), probabilities (classes,), activations A, gradients dA).
    """
    f = residual_forward(weights, image)
    activations, probs = f["activations"], f["probs"]
    target = int(np.argmax(probs)) if target is None else target
    gradients, _ = head_gradient(f, target, score)
    cam = np.einsum("hwc,c->hw", activations, gradients.mean(axis=(0, 1)))
    cam = np.maximum(cam, 0)
    heatmap = cam / (cam.max() + 1e-7)
    return heatmap, probs, activations, gradients


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)
