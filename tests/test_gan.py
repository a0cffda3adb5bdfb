"""numbann.gan: the generator's gradient through the discriminator against
central differences, the discriminator's loss against a NumPy BCE, a short
training run on a 1-D Gaussian, the ring data, and bad input."""
import numpy as np
import pytest

import numbann as nb
from numbann.data import make_ring
from numbann.gan import GAN


def small_gan(seed=0, hidden=6):
    G = nb.MLP([2, hidden, 1], hidden="tanh", output="identity", seed=seed)
    D = nb.MLP([1, hidden, 1], hidden="tanh", output="sigmoid", seed=seed + 1)
    return GAN(G, D)


def test_generator_gradient_runs_through_the_discriminator():
    gan = small_gan()
    z = np.random.default_rng(0).normal(size=(7, 2))
    J, grad = gan.generator_gradient(z)
    theta = gan.generator.theta

    def J_G(values):
        saved = theta.copy()
        theta[:] = values
        p = gan.discriminator.forward(gan.generator.forward(z))[:, 0]
        theta[:] = saved
        return -np.mean(np.log(p))                      # BCE with label 1 (real)

    assert J == pytest.approx(J_G(theta), rel=1e-12)
    eps = 1e-6
    numeric = np.array([(J_G(theta + eps * e) - J_G(theta - eps * e)) / (2 * eps)
                        for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert gan.discriminator.theta.size and np.any(grad != 0)


def test_discriminator_loss_is_the_mean_bce_of_real_and_fake():
    gan = small_gan()
    rng = np.random.default_rng(1)
    real, fake = rng.normal(2, 0.5, size=(4, 1)), rng.normal(0, 1, size=(6, 1))
    J, grad = gan.discriminator_gradient(real, fake)
    p_real, p_fake = gan.discriminator.forward(real)[:, 0], gan.discriminator.forward(fake)[:, 0]
    expected = -np.concatenate([np.log(p_real), np.log(1 - p_fake)]).mean()
    assert J == pytest.approx(expected, rel=1e-12)
    assert grad.shape == gan.discriminator.theta.shape


def test_training_moves_the_samples_to_the_data():
    gan = small_gan(seed=3, hidden=8)
    X = np.random.default_rng(2).normal(2.0, 0.5, size=(512, 1))
    before = gan.sample(2000, seed=5)
    adam = dict(lr=1e-2, betas=(0.5, 0.999))
    history = gan.fit(X, epochs=60, batch_size=64, seed=4, snapshot_every=30, verbose=0,
                      d_optimizer=nb.Adam(**adam), g_optimizer=nb.Adam(**adam))
    after = gan.sample(2000, seed=5)
    assert len(history.d_loss) == len(history.g_loss) == 60 * 8
    assert sorted(history.snapshots) == [0, 30, 60]
    assert abs(after.mean() - 2.0) < 0.3 < abs(before.mean() - 2.0)
    # at the equilibrium D says 1/2 everywhere: J_D = ln 2
    assert np.mean(history.d_loss[-50:]) == pytest.approx(np.log(2), abs=0.05)


def test_ring_and_bad_input():
    X, mode = make_ring(80, modes=8, radius=2.0, std=0.0, seed=0)
    assert np.bincount(mode).tolist() == [10] * 8
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 2.0)
    angle = np.mod(np.arctan2(X[:, 1], X[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(angle, 2 * np.pi * mode / 8, atol=1e-12)
    G = nb.MLP([2, 4, 2], output="identity")
    with pytest.raises(ValueError, match="one sigmoid unit"):
        GAN(G, nb.MLP([2, 3, 2], output="softmax"))
    with pytest.raises(ValueError, match="makes samples of 2 values but the discriminator reads 3"):
        GAN(G, nb.MLP([3, 4, 1], output="sigmoid"))
    with pytest.raises(TypeError, match="generator must be a numbann network"):
        GAN("G", nb.MLP([2, 4, 1], output="sigmoid"))
    with pytest.raises(ValueError, match="X"):
        small_gan().fit(np.zeros((5, 3)), epochs=1, verbose=0)
