"""The parts of the latent-adversarial models (holistic/models/latent/).

Parameter counts are the reference implementations' (``reference/latent_models.md`` §3.2, §4.2),
recomputed by hand in the comments; shapes at 32, 64, 112 and 128 px; the decisions of §8 each
have a test that fails if the choice is undone (running statistics, z for real images, the
audio plane, one-hot Q, size-agnostic heads, batch and time kept apart in the attention).
"""

import pytest
import torch
from torch import nn

from holistic.models.latent import (
    Combiner,
    Discriminator,
    Generator,
    SequenceCombiner,
    SequenceState,
    quadrant_planes,
)
from holistic.models.latent._layers import HalvingConv, halved
from holistic.schema import va_quadrant

SIZES = [32, 64, 112, 128]
ANCLAF_SKIPS = (True, True, False, True, True)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def images(batch: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- the halving convolution ---------------------------------------------------------------------


@pytest.mark.parametrize("side", range(1, 10))
def test_halving_conv_gives_ceil_half(side):
    conv = HalvingConv(2, 3)
    assert conv(torch.zeros(1, 2, side, side + 1)).shape[2:] == (
        halved(side, 1),
        halved(side + 1, 1),
    )
    assert halved(side, 1) == (side + 1) // 2


def test_halving_conv_is_the_reference_padding_on_even_sides():
    # Reference: Conv2d(k=4, s=2, p=1) on even sides; its 112 px D pads layer 5 by 2 (7 -> 4).
    conv = HalvingConv(2, 3)
    reference = nn.Conv2d(2, 3, kernel_size=4, stride=2, padding=1)
    reference.load_state_dict(conv.conv.state_dict())
    x = torch.randn(1, 2, 8, 8)
    assert torch.equal(conv(x), reference(x))
    odd = nn.Conv2d(2, 3, kernel_size=4, stride=2, padding=2)
    odd.load_state_dict(conv.conv.state_dict())
    x = torch.randn(1, 2, 7, 7)
    assert torch.equal(conv(x), odd(x))


# --- G -------------------------------------------------------------------------------------------


def test_generator_parameter_counts_are_the_references():
    # GeneratorMZ (w = 16, bias-free convs, affine IN): stem 3*16*49 + 32; down 16*32*16 + 64,
    # 32*64*16 + 128; one block 2 * (64*64*9 + 128); up 64*32*16 + 64, 32*16*16 + 32; out 16*3*49.
    aln = 2352 + 32 + 8192 + 64 + 32768 + 128 + 2 * (36864 + 128) + 32768 + 64 + 8192 + 32 + 2352
    assert aln == 160_928
    assert count(Generator(16, 1, 1, (False,))) == aln
    # GeneratorM: four more blocks.
    assert count(Generator(16, 5, 3, ANCLAF_SKIPS)) == aln + 4 * 2 * (36864 + 128) == 456_864


@pytest.mark.parametrize("size", SIZES)
def test_generator_shapes(size):
    g = Generator(2, 5, 3, ANCLAF_SKIPS)
    image, z = g(images(2, size))
    assert image.shape == (2, 3, size, size) and image.abs().max() <= 1
    assert z.shape == (2, 8, size // 4, size // 4)
    assert torch.equal(g.encode(images(2, size)), z)


def test_generator_latent_is_the_chosen_block_and_skips_follow_the_flags():
    g = Generator(2, 5, 3, ANCLAF_SKIPS)
    assert list(g.encoder)[-1] is g.encoder.block3 and not g.encoder.block3.skip
    assert [name for name, _ in g.decoder.named_children()][:2] == ["block4", "block5"]
    assert [b.skip for b in (g.encoder.block1, g.encoder.block2, g.decoder.block4)] == [1, 1, 1]
    # A block without skip returns its body alone; with skip, input + body.
    block = g.encoder.block3
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(block(x), block.body(x))
    assert torch.equal(g.encoder.block1(x), x + g.encoder.block1.body(x))


def test_generator_instance_norm_keeps_no_running_statistics():
    # Decision 17: the same normalisation in train and eval (defects 7.1.12, 7.2.3).
    g = Generator(2)
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.track_running_stats and m.affine for m in norms)
    assert not list(g.buffers())
    x = images(2, 32)
    with torch.no_grad():
        trained = g.train()(x).image
        evaluated = g.eval()(x).image
    assert torch.equal(trained, evaluated)


def test_generator_refuses_bad_sizes_and_arguments():
    g = Generator(2)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        g(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="latent_block"):
        Generator(2, 2, 3, (True, True))
    with pytest.raises(ValueError, match="one flag per block"):
        Generator(2, 2, 1, (True,))


# --- D -------------------------------------------------------------------------------------------


def test_discriminator_parameter_counts_are_the_references():
    # DiscriminatorMZ (w = 32): audio Linear 46 -> 112 (5,264); convs 4->32 ... 512->1024 with
    # biases (2,080 + 32,832 + 131,200 + 524,544 + 2,097,664 + 8,389,632); critic 1024*9;
    # VA head 1024*2*2*2.
    aln = 5264 + 2080 + 32832 + 131200 + 524544 + 2097664 + 8389632 + 9216 + 8192
    assert aln == 11_200_624
    d = Discriminator(
        32, z_channels=64, z_mode="add", audio_features=46, audio_plane="rows", image_size=112
    )
    assert count(d) == aln
    # DiscriminatorM (w = 16): 2,803,962 in the reference, whose 10 extra parameters are an unused
    # Linear(4, 2) (linear41); our D has the layers it uses.
    anclaf = 784 + 8224 + 32832 + 131200 + 524544 + 2097664 + 512 * 9 + 512 * 2 * 4
    assert count(Discriminator(16)) == anclaf == 2_803_962 - 10
    # The full audio plane: Linear 46 -> 112 * 112 instead of 46 -> 112.
    full = Discriminator(32, audio_features=46, audio_plane="full", image_size=112)
    assert count(full) - count(Discriminator(32, audio_features=46, audio_plane="rows")) == (
        (46 + 1) * (112 * 112 - 112)
    )


@pytest.mark.parametrize("size", SIZES)
def test_discriminator_heads_work_at_any_size(size):
    d = Discriminator(4, quadrant=True, z_channels=8, z_mode="concat")
    z = torch.randn(2, 8, size // 4, size // 4)
    out = d(images(2, size), z)
    assert out.critic.shape == (2,) and out.va.shape == (2, 2) and out.quadrant.shape == (2, 4)
    side = halved(size, 6)
    assert out.patches.shape == (2, 1, side, side)
    assert torch.allclose(out.critic, out.patches.mean(dim=(1, 2, 3)))
    if size in (112, 128):  # the reference's 2x2 map: the head pooling is the identity
        assert side == 2


def test_discriminator_z_modes_and_gradients():
    x, z = images(2, 32), torch.randn(2, 8, 8, 8, requires_grad=True)
    for mode in ("add", "concat"):
        d = Discriminator(4, z_channels=8, z_mode=mode)
        z.grad = None
        out = d(x, z)
        (out.critic.sum() + out.va.sum()).backward()
        assert z.grad is not None and z.grad.abs().sum() > 0, mode
    assert Discriminator(4, z_channels=8, z_mode="concat").convs[2].conv.in_channels == 8 + 8


def test_discriminator_z_errors_name_the_mismatch():
    d = Discriminator(4, z_channels=8, z_mode="add")
    with pytest.raises(ValueError, match=r"\(2, 8, 8, 8\).*got \(2, 8, 4, 4\)"):
        d(images(2, 32), torch.zeros(2, 8, 4, 4))
    # Real and fake alike (decision 2): a D built with z refuses an image without it.
    with pytest.raises(ValueError, match="for every image, real"):
        d(images(2, 32))
    with pytest.raises(ValueError, match="built without z"):
        Discriminator(4)(images(2, 32), torch.zeros(2, 8, 8, 8))
    with pytest.raises(ValueError, match=r"z_channels=6.*z_mode='concat'"):
        Discriminator(4, z_channels=6, z_mode="add")
    with pytest.raises(ValueError, match="go together"):
        Discriminator(4, z_mode="add")


def test_discriminator_audio_plane_full_and_rows_and_gradient():
    audio = torch.randn(2, 6)
    full = Discriminator(4, audio_features=6, image_size=32)
    plane = full.audio_input(audio, 32, 32)
    assert plane.shape == (2, 1, 32, 32) and plane.abs().max() <= 1
    assert not torch.allclose(plane[:, :, 0], plane[:, :, 1])  # a full 2-D plane
    rows = Discriminator(4, audio_features=6, audio_plane="rows", image_size=32)
    plane = rows.audio_input(audio, 32, 32)
    assert torch.equal(plane[:, :, 0], plane[:, :, 17])  # the reference: every row the same
    out = full(images(2, 32), audio=audio)
    out.va.sum().backward()
    assert full.audio.weight.grad is not None and full.audio.weight.grad.abs().sum() > 0
    assert full.convs[0].conv.in_channels == 4


def test_discriminator_audio_errors_name_the_mismatch():
    with pytest.raises(ValueError, match="built without audio"):
        Discriminator(4)(images(2, 32), audio=torch.zeros(2, 6))
    d = Discriminator(4, audio_features=6, image_size=32)
    with pytest.raises(ValueError, match=r"audio \[B, 6\].*got \(2, 5\)"):
        d(images(2, 32), audio=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="built for 32x32 images.*got 64x64"):
        d(images(2, 64), audio=torch.zeros(2, 6))
    with pytest.raises(ValueError, match="takes audio"):
        d(images(2, 32))


def test_discriminator_va_output():
    d = Discriminator(4, va_output="tanh")
    with torch.no_grad():
        tanh = d(images(2, 32)).va
        d.va_output = "linear"
        linear = d(images(2, 32)).va
    assert torch.allclose(tanh, torch.tanh(linear))
    with pytest.raises(ValueError, match="va_output"):
        d.va_output = "sigmoid"


# --- Q and C -------------------------------------------------------------------------------------


def test_va_quadrant_follows_the_table_and_counts_the_midpoint_as_high():
    va = torch.tensor([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [0.0, 0.0], [0.0, -0.1]])
    assert va_quadrant(va).tolist() == [0, 1, 2, 3, 0, 3]
    assert va_quadrant(torch.tensor([[0.4, 0.6]]), midpoint=0.5).tolist() == [1]


def test_quadrant_planes_are_one_hot():
    planes = quadrant_planes(torch.tensor([2, 0]), 3, 5)
    assert planes.shape == (2, 4, 3, 5)
    assert planes[0, 2].eq(1).all() and planes[0].sum(0).eq(1).all() and planes[1, 0].eq(1).all()
    soft = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    assert torch.equal(quadrant_planes(soft, 2, 2)[0, :, 1, 1], soft[0])
    with pytest.raises(ValueError, match=r"0\.\.3, got \[0, 4\]"):
        quadrant_planes(torch.tensor([0, 4]), 2, 2)
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        quadrant_planes(torch.zeros(2, 3), 2, 2)


def test_combiner_parameter_count():
    # Convs 64->64->128->256->512->1024 with biases, then Linear 1024 -> 2; the Q planes add
    # 4 input channels to the first conv (4 * 64 * 16 weights).
    convs = 65600 + 131200 + 524544 + 2097664 + 8389632
    assert count(Combiner(64, quadrants=False)) == convs + 1024 * 2 + 2
    assert count(Combiner(64)) == convs + 1024 * 2 + 2 + 4 * 64 * 16


@pytest.mark.parametrize("size", SIZES)
def test_combiner_works_for_the_latent_of_any_face_size(size):
    # Decision 11 / defect 7.2.9: the reference stack needs a 32x32 latent (128 px faces).
    c = Combiner(8, width=4)
    z = torch.randn(2, 8, size // 4, size // 4, requires_grad=True)
    va, features = c(z, torch.tensor([1, 3]))
    assert va.shape == (2, 2) and features.shape == (2, 64) == (2, c.num_features)
    va.sum().backward()
    assert z.grad.abs().sum() > 0


def test_combiner_q_changes_the_prediction_and_is_checked():
    c = Combiner(8, width=4)
    z = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(c(z, torch.tensor([0, 0])).va, c(z, torch.tensor([2, 2])).va)
    with pytest.raises(ValueError, match="pass q"):
        c(z)
    with pytest.raises(ValueError, match="without Q"):
        Combiner(8, quadrants=False, width=4)(z, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match=r"Z \[B, 8, h, w\]"):
        c(torch.zeros(2, 9, 8, 8), torch.tensor([0, 0]))


# --- the sequence combiner ----------------------------------------------------------------------


def sequence(**kwargs) -> SequenceCombiner:
    torch.manual_seed(0)
    return SequenceCombiner(8, **{"width": 4, "hidden_size": 6, **kwargs})


def window(batch: int = 3, frames: int = 5, side: int = 8, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, frames, 8, side, side, generator=generator)
    q = torch.randint(0, 4, (batch, frames), generator=generator)
    return z, q


def test_sequence_parameter_counts_are_the_references():
    # CombinerSeqAtt, d = 64: convs 11,208,640; LSTM(1024 + 1024 -> 512) 4*512*(2048 + 512) +
    # 2*4*512; score Linear(2048 -> 1); Linear(512 -> 2). The released stage 3 reads Z only.
    assert count(SequenceCombiner(64, quadrants=False)) == 16_458_691
    assert count(SequenceCombiner(64, quadrants=False, attention_state="h")) == 15_409_091
    assert count(SequenceCombiner(64, quadrants=False, width=16)) == 4_390_387
    assert count(SequenceCombiner(64)) == 16_458_691 + 4 * 64 * 16


@pytest.mark.parametrize("side", [8, 16, 28, 32])
def test_sequence_shapes(side):
    s = sequence(attention=True)
    z, q = window(2, 4, side)
    out = s(z, q)
    assert out.va.shape == (2, 4, 2) and out.features.shape == (2, 4, 6)
    assert out.attention.shape == (2, 4, 3)
    assert out.state.h.shape == (2, 6) and out.state.memory.shape == (2, 0, 12)


def test_s_and_sa_have_the_same_parameters_and_sa_starts_from_s():
    plain, attending = sequence(), sequence(attention=True)
    assert [(n, p.shape) for n, p in plain.named_parameters()] == [
        (n, p.shape) for n, p in attending.named_parameters()
    ]
    attending.load_state_dict(plain.state_dict(), strict=True)
    z, q = window()
    with torch.no_grad():
        a, b = plain(z, q), attending(z, q)
    # The first step has no memory, so its context is zeros in both.
    assert torch.allclose(a.va[:, 0], b.va[:, 0])
    assert not torch.allclose(a.va[:, 1:], b.va[:, 1:])
    assert not a.attention.any()


@pytest.mark.parametrize("score", ["linear", "general", "concat"])
def test_attention_weights_sum_to_one_over_the_earlier_steps(score):
    s = sequence(attention=True, score=score)
    with torch.no_grad():
        weights = s(*window(3, 5)).attention  # [B, 5, 4]
    assert not weights[:, 0].any()  # no memory at the first step
    for t in range(1, 5):
        assert torch.allclose(weights[:, t].sum(1), torch.ones(3))
        assert not weights[:, t, t:].any()  # only the states after earlier steps
        assert (weights[:, t, :t] > 0).all()


def test_attention_keeps_batch_and_time_apart():
    # Defect 7.2.6: a view of the time-major memory as batch-major mixes samples. Permuting the
    # batch must permute the outputs, and changing one sample must leave the others alone.
    s = sequence(attention=True)
    z, q = window(4, 5)
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = s(z, q)
        permuted = s(z[order], q[order])
        changed = z.clone()
        changed[1] = torch.randn_like(changed[1])
        other = s(changed, q)
    assert torch.allclose(permuted.va, out.va[order], atol=1e-6)
    assert torch.allclose(permuted.attention, out.attention[order], atol=1e-6)
    keep = torch.tensor([0, 2, 3])
    assert torch.allclose(other.va[keep], out.va[keep], atol=1e-6)
    assert not torch.allclose(other.va[1], out.va[1])


def test_linear_score_ignores_the_query():
    # A softmax ignores a constant added to every score, so the query half of the reference's
    # Linear([query; m_k]) and its bias get no gradient (the docs say so); "general" uses it.
    s = sequence(attention=True)
    out = s(*window())
    out.va.sum().backward()
    grad = s.score.weight.grad[0]
    size = s.state_size
    assert grad[:size].abs().max() < 1e-6 * max(1.0, grad[size:].abs().max())
    assert grad[size:].abs().max() > 0
    general = sequence(attention=True, score="general")
    general(*window()).va.sum().backward()
    assert general.score.weight.grad.abs().sum() > 0


def test_divide_context_divides_by_the_number_of_memory_entries():
    inputs = {}

    def capture(name):
        def hook(module, args):
            inputs.setdefault(name, []).append(args[0].detach().clone())

        return hook

    z, q = window(2, 4)
    for divide in (False, True):
        s = sequence(attention=True, divide_context=divide)
        s.lstm.register_forward_pre_hook(capture(divide))
        with torch.no_grad():
            s(z, q)
    # Steps 1 and 2 see the same memory in both models (the context of step 1 is over one entry,
    # so dividing leaves it, and the state after it, unchanged); step 2 averages two entries.
    for t in (1, 2):
        plain, divided = inputs[False][t][:, 0, -12:], inputs[True][t][:, 0, -12:]
        assert plain.abs().sum() > 0
        assert torch.allclose(divided, plain / t, atol=1e-6)


@pytest.mark.parametrize("attention", [False, True])
def test_stream_state_carries_over_windows(attention):
    # With a rolling memory at least as long as the stream, two windows of 3 with the state carried
    # are one window of 6; without carrying, the second window starts from zeros.
    s = sequence(attention=attention, memory_size=8)
    z, q = window(2, 6)
    with torch.no_grad():
        whole = s(z, q)
        first = s(z[:, :3], q[:, :3])
        second = s(z[:, 3:], q[:, 3:], first.state)
        fresh = s(z[:, 3:], q[:, 3:])
    assert torch.allclose(torch.cat([first.va, second.va], 1), whole.va, atol=1e-6)
    assert not torch.allclose(fresh.va, second.va)
    if attention:
        assert second.attention.shape == (2, 3, 3 + 2)
        assert torch.allclose(second.attention[:, 0, :3].sum(1), torch.ones(2))
        assert first.state.memory.shape == (2, 3, 12)


def test_rolling_memory_attends_to_the_last_k_states():
    s = sequence(attention=True, memory_size=2)
    with torch.no_grad():
        out = s(*window(2, 5))
    assert not out.attention[:, 4, :2].any() and (out.attention[:, 4, 2:] > 0).all()
    assert out.state.memory.shape == (2, 2, 12)


def test_sequence_gradients_and_errors():
    s = sequence(attention=True, score="concat")
    s(*window()).va.sum().backward()
    missing = [n for n, p in s.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
    z, q = window(2, 3)
    with pytest.raises(ValueError, match=r"\[B, n, 8, h, w\]"):
        s(z[:, 0], q)
    with pytest.raises(ValueError, match=r"q must be \[B, n, ...\]"):
        s(z, q[:, :2])
    bad = SequenceState(torch.zeros(3, 6), torch.zeros(3, 6), torch.zeros(3, 0, 12))
    with pytest.raises(ValueError, match=r"\[2, 6\] \(batch, hidden_size\)"):
        s(z, q, bad)
    with pytest.raises(ValueError, match="score must be one of"):
        sequence(score="dot")
