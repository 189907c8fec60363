import math

import pytest
import torch
import torch.nn.functional as F

from holistic.losses import (
    critic_loss,
    discriminator_adv_loss,
    generator_adv_loss,
    gradient_penalty,
    quadrant_loss,
    reconstruction_loss,
    va_quadrant,
)


def _images(n=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 4, 4, generator=generator) * 2 - 1


class LinearCritic(torch.nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so the penalty is (‖w‖ - 1)²."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((3, 4, 4), scale))
        self.b = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return (x * self.w).sum((1, 2, 3)) + self.b


def test_wgan_terms_golden_values():
    real_score = torch.tensor([1.0, 3.0])
    fake_score = torch.tensor([-1.0, 0.0])
    assert discriminator_adv_loss(real_score, fake_score)["adv_d"].item() == pytest.approx(-2.5)
    assert generator_adv_loss(fake_score)["adv_g"].item() == pytest.approx(0.5)
    # A patch map [N, 1, 2, 2] counts as its per-sample mean; a mask drops samples.
    patches = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]]], [[[0.0, 0.0], [0.0, 100.0]]]])
    mask = torch.tensor([True, False])
    assert generator_adv_loss(patches)["adv_g"].item() == pytest.approx(-(4.0 + 25.0) / 2)
    assert generator_adv_loss(patches, mask=mask)["adv_g"].item() == pytest.approx(-4.0)


def test_gradient_penalty_of_a_linear_critic():
    critic = LinearCritic(scale=0.5)  # ‖w‖ = 0.5 · √48
    real, fake = _images(seed=1), _images(seed=2)
    gp = gradient_penalty(critic, real, fake)["gp"]
    assert gp.item() == pytest.approx((0.5 * math.sqrt(48) - 1) ** 2, rel=1e-5)
    gp.backward()  # the penalty trains the critic (double backward)
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0


def test_gradient_penalty_interpolates_clean_real_and_fake_with_the_given_rng():
    # D(x) = ½‖x‖²: the gradient at x̂ is x̂ itself, so the penalty reveals where x̂ lies.
    def critic(x):
        return 0.5 * x.pow(2).sum((1, 2, 3))

    real, fake = _images(seed=3), _images(seed=4)
    gp = gradient_penalty(critic, real, fake, rng=torch.Generator().manual_seed(11))["gp"]
    alpha = torch.rand(4, generator=torch.Generator().manual_seed(11)).reshape(4, 1, 1, 1)
    mixed = alpha * real + (1 - alpha) * fake
    expected = (mixed.flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    again = gradient_penalty(critic, real, fake, rng=torch.Generator().manual_seed(11))["gp"]
    other = gradient_penalty(critic, real, fake, rng=torch.Generator().manual_seed(12))["gp"]
    assert again.item() == gp.item() and other.item() != gp.item()


def test_critic_loss_sees_conditioning_alike_and_never_trains_the_generator():
    # The critic closes over per-sample conditioning z (decision 2, defect 7.1.6): real,
    # generated and interpolated images all get it, with the batch's shapes.
    z = torch.randn(4, 3, 4, 4)
    critic_net = LinearCritic()
    calls = []

    def critic(x):
        calls.append(x)
        return critic_net(x + z)

    g_param = torch.nn.Parameter(torch.tensor(0.3))
    real = _images(seed=5)
    fake = torch.tanh(_images(seed=6) * g_param)
    out = critic_loss(critic, real, fake, rng=torch.Generator().manual_seed(0))
    assert set(out) == {"adv_d", "gp"}
    assert len(calls) == 3 and all(x.shape == real.shape for x in calls)
    expected_adv = critic_net(fake + z).mean() - critic_net(real + z).mean()
    assert out["adv_d"].item() == pytest.approx(expected_adv.item(), rel=1e-5)
    (out["adv_d"] + 10 * out["gp"]).backward()
    assert g_param.grad is None  # fake is detached in the critic step
    assert critic_net.w.grad is not None and torch.isfinite(critic_net.w.grad).all()
    # The generator step: the adversarial term reaches G.
    generator_adv_loss(critic(fake))["adv_g"].backward()
    assert g_param.grad is not None and g_param.grad.abs() > 0


def test_log_loss_is_the_binary_cross_entropy_and_stable_on_large_logits():
    zero = torch.zeros(3)
    assert discriminator_adv_loss(zero, zero, kind="log")["adv_d"].item() == pytest.approx(
        2 * math.log(2)
    )
    assert generator_adv_loss(zero, kind="log")["adv_g"].item() == pytest.approx(math.log(2))
    real, fake = torch.randn(5), torch.randn(5)
    expected = F.binary_cross_entropy_with_logits(
        real, torch.ones(5)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros(5))
    assert discriminator_adv_loss(real, fake, kind="log")["adv_d"].item() == pytest.approx(
        expected.item(), rel=1e-6
    )
    # A critic sure that the fakes are fake: the saturating log(1 - σ) has no gradient left; the
    # non-saturating -log σ(D(fake)) keeps a gradient of -1 per sample and stays finite.
    confident = torch.full((2,), -1000.0, requires_grad=True)
    adv_g = generator_adv_loss(confident, kind="log")["adv_g"]
    assert adv_g.item() == pytest.approx(1000.0)
    adv_g.backward()
    assert torch.allclose(confident.grad, torch.full((2,), -0.5))
    d = discriminator_adv_loss(torch.tensor([1000.0]), torch.tensor([-1000.0]), kind="log")
    assert d["adv_d"].item() == pytest.approx(0.0, abs=1e-6)
    out = critic_loss(LinearCritic(), _images(), _images(seed=9), kind="log")
    assert set(out) == {"adv_d"}  # no penalty for the log loss
    with pytest.raises(ValueError, match="kind"):
        generator_adv_loss(zero, kind="hinge")


@pytest.mark.parametrize("case", ["constant_critic", "input_free_critic", "single", "empty_mask"])
def test_degenerate_batches_are_finite_with_gradients(case):
    critic_net = LinearCritic(scale=0.0)  # constant in its input: zero gradient
    n = 1 if case == "single" else 4
    real, fake = _images(n, 7), _images(n, 8).requires_grad_(True)
    mask = torch.zeros(n, dtype=torch.bool) if case == "empty_mask" else None
    if case == "input_free_critic":

        def critic(x):
            return critic_net.b.expand(x.shape[0])
    else:
        critic = critic_net
    terms = critic_loss(critic, real, fake, mask=mask, rng=torch.Generator().manual_seed(0))
    logits = torch.zeros(n, 4, requires_grad=True)
    terms.update(generator_adv_loss(critic(fake), mask=mask))
    terms.update(reconstruction_loss(real, fake, direct=fake, mask=mask))
    terms.update(quadrant_loss(logits, torch.zeros(n, 2), mask))
    for name, value in terms.items():
        assert torch.isfinite(value), name
        assert value.requires_grad, name
        if case == "empty_mask":
            assert value.item() == 0.0, name
    if case in ("constant_critic", "input_free_critic"):
        assert terms["gp"].item() == pytest.approx(1.0, abs=1e-5)  # ‖0‖ = 0: (0 - 1)²
    sum(terms.values()).backward()
    for tensor in (critic_net.w, critic_net.b, fake, logits):
        assert tensor.grad is None or torch.isfinite(tensor.grad).all()
    assert critic_net.b.grad is not None


def test_reconstruction_terms():
    clean = torch.zeros(2, 3, 2, 2)
    cycled = torch.stack([torch.full((3, 2, 2), 0.5), torch.full((3, 2, 2), -1.5)])
    direct = torch.full((2, 3, 2, 2), 0.25)
    assert set(reconstruction_loss(clean, cycled)) == {"rec"}  # the paper's and the code's
    out = reconstruction_loss(clean, cycled, direct=direct)
    assert out["rec"].item() == pytest.approx(1.0) and out["rec_direct"].item() == 0.25
    masked = reconstruction_loss(clean, cycled, mask=torch.tensor([True, False]))
    assert masked["rec"].item() == pytest.approx(0.5)


def test_va_quadrant_follows_the_table_with_ties_high():
    va = torch.tensor(
        [[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [0.0, 0.0], [-0.1, 0.0], [0.0, -0.1]]
    )
    assert va_quadrant(va).tolist() == [0, 1, 2, 3, 0, 1, 3]
    # SEWA's [0, 1] scale: midpoint 0.5; any leading shape, e.g. [B, T, 2].
    sewa = torch.tensor([[[0.5, 0.5], [0.4, 0.9]], [[0.1, 0.2], [0.7, 0.49]]])
    assert va_quadrant(sewa, midpoint=0.5).tolist() == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        va_quadrant(torch.zeros(3, 3))


def test_quadrant_loss_is_cross_entropy_on_labelled_samples():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=generator, requires_grad=True)
    va = torch.tensor([[0.3, 0.2], [-0.3, 0.2], [-0.3, -0.2], [0.3, -0.2], [float("nan"), 9.0]])
    mask = torch.tensor([True, True, True, True, False])  # the last row holds no label
    loss = quadrant_loss(logits, va, mask)["quadrant"]
    expected = F.cross_entropy(logits[:4], torch.tensor([0, 1, 2, 3]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert logits.grad[4].abs().sum() == 0
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        quadrant_loss(torch.zeros(5, 3), va, mask)
