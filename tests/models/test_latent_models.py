"""The registered latent-adversarial models (holistic/models/latent/composite.py).

The model contract (input spec, tasks, forward = forward_heads of forward_features) on the tiny
variants at 32, 64, 112 and 128 px; which parameters the prediction trains (every one outside
``detached_parameters``, and none inside); checkpoint round trips; the paper-sized variants'
parameter counts against the reference implementations (``reference/latent_models.md`` §3.2,
§4.2), built on the meta device.
"""

import pytest
import torch

from holistic.models import (
    AEGCD,
    ANCLaF,
    ANCLaFSequence,
    InputSpec,
    create_model,
    list_models,
    load_model,
    save_model,
)
from holistic.models.spec import VA_NAMES

TINY = ["test_aegcd", "test_anclaf", "test_anclaf_s", "test_anclaf_sa"]
FULL = ["aegcd_112", "aegcd_sz_112", "anclaf_128", "anclaf_s_128", "anclaf_sa_128"]
# name -> (registry name, kwargs): the tiny variants plus options the registry does not pin.
CONFIGS = {
    "aegcd": ("test_aegcd", {}),
    "aegcd_sz_add": ("test_aegcd", {"z_mode": "add", "audio_features": 6}),
    "aegcd_sz_concat_rows": (
        "test_aegcd",
        {"z_mode": "concat", "audio_features": 6, "audio_plane": "rows", "quadrant": True},
    ),
    "anclaf": ("test_anclaf", {}),
    "anclaf_va": ("test_anclaf", {"quadrant_from": "va", "va_output": "linear"}),
    "anclaf_s": ("test_anclaf_s", {}),
    "anclaf_sa": ("test_anclaf_sa", {}),
    "anclaf_sa_general": (
        "test_anclaf_sa",
        {"score": "general", "attention_state": "h", "divide_context": True, "memory_size": 2},
    ),
    "anclaf_s_z_only": ("test_anclaf_s", {"quadrants": False}),
}


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def inputs(model, batch: int = 2, size: int | None = None, frames: int = 3, seed: int = 0):
    """``(x, kwargs)`` for ``model`` from its input spec (audio for AEG-CD-SZ)."""
    spec = model.input_spec
    size = size or spec.image_size
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, frames, 3, size, size) if spec.is_clip else (batch, 3, size, size)
    x = torch.rand(*shape, generator=generator) * 2 - 1
    kwargs = {}
    if spec.audio:
        kwargs["audio"] = torch.randn(batch, spec.audio["egemaps"]["features"], generator=generator)
    return x, kwargs


def build(config: str):
    name, kwargs = CONFIGS[config]
    torch.manual_seed(0)
    return create_model(name, **kwargs)


def test_the_registered_names():
    assert set(TINY) <= set(list_models("test_*"))
    assert set(FULL) <= set(list_models())


@pytest.mark.parametrize("config", list(CONFIGS))
def test_contract(config):
    model = build(config).eval()
    assert model.tasks == {"va": VA_NAMES}
    x, kwargs = inputs(model)
    with torch.no_grad():
        out = model(x, **kwargs)
        features = model.forward_features(x, **kwargs)
        split = model.forward_heads(features)
    lead = tuple(x.shape[:2]) if model.input_spec.is_clip else tuple(x.shape[:1])
    assert set(out) == {"va"} and out["va"].shape == (*lead, 2)
    assert torch.isfinite(out["va"]).all()
    if model.va_output == "tanh":
        assert out["va"].abs().max() <= 1
    assert features.shape == (*lead, model.num_features)
    assert torch.equal(split["va"], out["va"])


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("size", [32, 64, 112, 128])
def test_any_face_size(name, size):
    model = create_model(name).eval()
    x, kwargs = inputs(model, batch=1, size=size, frames=2)
    with torch.no_grad():
        out = model(x, **kwargs)
    assert out["va"].shape[-1] == 2 and out["va"].shape[0] == 1


def test_audio_model_at_its_sizes():
    model = create_model("test_aegcd", z_mode="add", audio_features=6, image_size=64).eval()
    assert model.input_spec.audio == {"egemaps": {"features": 6, "frames": 3}}
    x, kwargs = inputs(model)
    with torch.no_grad():
        assert model(x, **kwargs)["va"].shape == (2, 2)
    with pytest.raises(ValueError, match="takes audio"):
        model(x)
    with pytest.raises(ValueError, match="built for 64x64"):
        model(torch.zeros(2, 3, 32, 32), **kwargs)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_prediction_trains_every_parameter_but_the_detached_ones(config):
    model = build(config).train()
    detached = model.detached_parameters
    assert detached and all(
        any(n.startswith(p) for n, _ in model.named_parameters()) for p in detached
    )
    x, kwargs = inputs(model, frames=4)
    model(x, **kwargs)["va"].sum().backward()
    for name, parameter in model.named_parameters():
        grad = parameter.grad
        if any(name.startswith(prefix) for prefix in detached):
            # Training-only parts and those behind the hard quadrant decision get none; the
            # linear score's bias gets rounding noise (a softmax ignores it).
            assert grad is None or grad.abs().max() < 1e-6, name
        else:
            assert grad is not None and torch.isfinite(grad).all() and grad.any(), name


def test_what_is_detached_and_why():
    assert create_model("test_aegcd").detached_parameters == ("discriminator.critic",)
    assert create_model("test_aegcd", quadrant=True).detached_parameters == (
        "discriminator.critic",
        "discriminator.quadrant",
    )
    assert create_model("test_anclaf").detached_parameters == ("generator.decoder", "discriminator")
    assert create_model("test_anclaf_s").detached_parameters[-1] == "sequence.score"
    assert create_model("test_anclaf_sa").detached_parameters[-1] == "sequence.score.bias"
    general = create_model("test_anclaf_sa", score="general")
    assert general.detached_parameters == ("generator.decoder", "discriminator")


def test_aegcd_passes_z_of_g_x_to_d():
    model = build("aegcd_sz_add").eval()
    x, kwargs = inputs(model)
    seen = {}

    def capture(module, args, kw):
        seen["image"], seen["z"] = args[0], args[1]

    model.discriminator.register_forward_pre_hook(capture, with_kwargs=True)
    with torch.no_grad():
        image, z = model.generator(x)
        model.discriminator(image, z, kwargs["audio"])
        assert torch.equal(seen["z"], z)
        trunk = model.discriminator.forward_features(image, z, kwargs["audio"])
        expected = model.discriminator.forward_va(model.discriminator.pool(trunk))
        assert torch.allclose(model(x, **kwargs)["va"], expected)


def test_anclaf_q_comes_from_d_on_g_x_as_one_hot():
    model = build("anclaf").eval()
    x, _ = inputs(model)
    with torch.no_grad():
        z, q = model.latents(x)
        image, z_again = model.generator(x)
        assert torch.equal(z, z_again)
        assert torch.equal(q, model.discriminator(image).quadrant.argmax(1))
        va = model.combiner(z, q).va
    assert q.dtype == torch.long and torch.allclose(model(x)["va"], va)


def test_sequence_model_is_per_frame_latents_then_the_sequence_combiner():
    model = build("anclaf_sa").eval()
    x, _ = inputs(model, frames=4)
    with torch.no_grad():
        z, q = model.latents(x.flatten(0, 1))
        direct = model.sequence(z.unflatten(0, (2, 4)), q.unflatten(0, (2, 4)))
        out = model.forward_sequence(x)
        assert torch.allclose(model(x)["va"], direct.va)
    assert out.attention.shape == (2, 4, 3)
    assert torch.allclose(out.attention[:, 1:].sum(-1), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(torch.zeros(2, 3, 32, 32))


def test_sequence_model_streams_with_the_state():
    model = create_model("test_anclaf_sa", memory_size=8).eval()
    x, _ = inputs(model, frames=6)
    with torch.no_grad():
        whole = model.forward_sequence(x)
        first = model.forward_sequence(x[:, :3])
        second = model.forward_sequence(x[:, 3:], first.state)
    assert torch.allclose(torch.cat([first.va, second.va], 1), whole.va, atol=1e-6)


def test_s_and_sa_share_parameters_and_checkpoints(tmp_path):
    plain, attending = create_model("test_anclaf_s"), create_model("test_anclaf_sa")
    assert [(n, p.shape) for n, p in plain.named_parameters()] == [
        (n, p.shape) for n, p in attending.named_parameters()
    ]
    attending.load_state_dict(plain.state_dict(), strict=True)  # -SA starts from -S


@pytest.mark.parametrize("config", list(CONFIGS))
def test_checkpoint_round_trip(config, tmp_path):
    model = build(config).eval()
    save_model(model, tmp_path / "ckpt")
    loaded = load_model(tmp_path / "ckpt")
    assert type(loaded) is type(model)
    assert loaded.input_spec == model.input_spec and loaded.va_output == model.va_output
    x, kwargs = inputs(model)
    with torch.no_grad():
        assert torch.equal(loaded(x, **kwargs)["va"], model(x, **kwargs)["va"])


def test_checkpoint_records_a_changed_va_output(tmp_path):
    model = create_model("test_anclaf").eval()
    model.va_output = "linear"
    save_model(model, tmp_path)
    assert load_model(tmp_path).va_output == "linear"


@pytest.mark.parametrize("name", FULL)
def test_full_size_variants_build_on_meta(name):
    with torch.device("meta"):
        model = create_model(name, pretrained=False)
    assert isinstance(model.input_spec, InputSpec) and model.tasks == {"va": VA_NAMES}
    assert all(p.is_meta for p in model.parameters())


def test_full_size_parameter_counts_against_the_references():
    with torch.device("meta"):
        aeg = create_model("aegcd_sz_112", audio_features=46, audio_plane="rows")
        anclaf = create_model("anclaf_128", quadrant_from="va")
        paper_anclaf = create_model("anclaf_128")
        released_s = create_model("anclaf_s_128", quadrants=False)
        sa = create_model("anclaf_sa_128")
        sa_h = create_model("anclaf_sa_128", quadrants=False, attention_state="h")
    assert isinstance(aeg, AEGCD) and isinstance(anclaf, ANCLaF) and isinstance(sa, ANCLaFSequence)
    # AEG-CD-SZ with the reference's 46 audio columns, row-broadcast plane: exactly
    # GeneratorMZ + DiscriminatorMZ.
    assert count(aeg.generator) == 160_928 and count(aeg.discriminator) == 11_200_624
    assert aeg.input_spec.image_size == 112 and aeg.input_spec.audio
    # ANCLaF: GeneratorM exactly; DiscriminatorM less its unused Linear(4, 2).
    assert count(anclaf.generator) == 456_864
    assert count(anclaf.discriminator) == 2_803_962 - 10
    # The paper's D: a 4-way quadrant head (512*4*2*2) instead of the VA head (512*2*2*2).
    assert count(paper_anclaf.discriminator) == 2_803_952 + 512 * 2 * 4
    # C: the reference's conv stack (d = 64) on [Z; 4 Q planes], Linear(1024, 2).
    assert count(paper_anclaf.combiner) == 11_208_640 + 4 * 64 * 16 + 2050
    # CombinerSeqAtt (d = 64): exactly, when reading Z only as the released stage 3 does.
    assert count(released_s.sequence) == 16_458_691
    assert count(sa.sequence) == 16_458_691 + 4 * 64 * 16
    assert count(sa_h.sequence) == 15_409_091
    assert sa.input_spec.clip_length == 8 and sa.input_spec.image_size == 128


def test_builders_refuse_weight_sources_and_bad_parts():
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("test_aegcd", pretrained=True)
    with pytest.raises(ValueError, match="quadrant_from must be one of"):
        create_model("test_anclaf", quadrant_from="labels")
    with pytest.raises(ValueError, match=r"z_channels=8.*z_mode='concat'"):
        create_model("test_aegcd", z_mode="add", discriminator_width=8)
