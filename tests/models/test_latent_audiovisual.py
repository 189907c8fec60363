"""DiLaST (ANCLaF on faces or on the stored audio image) and AViGaS-Net (AVi-CaS, AVi-GaS):
holistic/models/latent/composite.py and audiovisual.py.

Shapes and the contract; the audio model reads the audio image, never the face; the GMU's gates
(in [0, 1], summing to 1, all on the face where a frame has no audio); frames without audio never
reach the prediction; finite loss and gradients when a whole batch lacks audio; window by window
equals one call; checkpoints reload from their folder with the audio settings; the recipe's
hand-overs (frame models' G and D, P's convolutions, the -SA LSTM).
"""

import pytest
import torch

from holistic.losses.affect import affect_loss
from holistic.models import create_model, list_models, load_model, save_model
from holistic.models.latent import (
    ANCLaF,
    ANCLaFSequence,
    AViGaSNet,
    FusedSequenceCombiner,
)

AUDIO = {"modality": "audio", "audio_image_size": 32}
# name -> (registry name, kwargs): the clip models, each with the audio it reads (if any).
CLIP_MODELS = {
    "avicas": ("test_avicas", {}),
    "avigas": ("test_avigas", {}),
    "avigas_frame_gate": ("test_avigas", {"per_unit_gate": False, "score": "general"}),
    "dilast_sa_video": ("test_dilast_sa", {}),
    "dilast_sa_audio": ("test_dilast_sa", AUDIO),
}
AV_MODELS = ["avicas", "avigas", "avigas_frame_gate"]
SETTINGS = {"sample_rate": 16000, "mel_bands": 64, "mel_image_size": 32}  # a manifest's JSON


def build(config: str):
    name, kwargs = CLIP_MODELS[config]
    torch.manual_seed(0)
    return create_model(name, **kwargs)


def reads_audio(model) -> bool:
    return "mel_image" in model.input_spec.audio


def clips(model, batch=2, frames=5, seed=0, mask=None):
    """Faces ``[B, T, 3, 32, 32]`` and, for a model that reads audio, ``audio`` ``[B, T, 32,
    32]`` and ``audio_mask`` (all heard unless ``mask`` says otherwise)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, frames, 3, 32, 32, generator=generator) * 2 - 1
    if not reads_audio(model):
        return x, {}
    audio = (torch.rand(batch, frames, 32, 32, generator=generator) * 2 - 1).half()  # as stored
    if mask is None:
        mask = torch.ones(batch, frames, dtype=torch.bool)
    return x, {"audio": audio, "audio_mask": mask}


def test_the_registered_names_and_what_they_read():
    assert {"test_dilast", "test_dilast_sa", "test_avicas", "test_avigas"} <= set(
        list_models("test_*")
    )
    with torch.device("meta"):
        video, audio = create_model("dilast_video_128"), create_model("dilast_audio_128")
        sa = create_model("dilast_sa_audio_128")
        cas, gas = create_model("avicas_128"), create_model("avigas_128")
    assert isinstance(video, ANCLaF) and video.modality == "video" and not video.input_spec.audio
    assert isinstance(audio, ANCLaF) and audio.input_spec.audio == {"mel_image": {"size": 128}}
    assert isinstance(sa, ANCLaFSequence) and sa.sequence.attention and sa.sequence.memory_size == 7
    assert isinstance(cas, AViGaSNet) and (cas.fusion, gas.fusion) == ("concat", "gate")
    for model in (cas, gas):
        assert model.input_spec.is_clip and model.input_spec.clip_length == 8
        assert model.input_spec.image_size == 128 and model.audio_image_size == 128
        assert model.sequence.attention and model.sequence.memory_size == 7


@pytest.mark.parametrize("config", list(CLIP_MODELS))
def test_shapes_and_the_contract(config):
    model = build(config).eval()
    x, audio = clips(model)
    with torch.no_grad():
        out = model(x, **audio)
        features = model.forward_features(x, **audio)
        split = model.forward_heads(features)
    assert set(out) == {"va"} and out["va"].shape == (2, 5, 2)
    assert out["va"].abs().max() <= 1 and model.tasks == {"va": ("valence", "arousal")}
    assert features.shape == (2, 5, model.num_features)
    assert torch.equal(split["va"], out["va"])
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(x[:, 0], **audio)


def test_the_audio_model_reads_the_audio_image_and_never_the_face():
    torch.manual_seed(0)
    model = create_model("test_dilast", **AUDIO).eval()
    assert model.input_spec.audio == {"mel_image": {"size": 32}}
    faces = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    audio = torch.rand(2, 32, 32) * 2 - 1
    with torch.no_grad():
        first, second = model(faces[0], audio)["va"], model(faces[1], audio)["va"]
        assert torch.equal(first, second)  # other faces, same audio: same prediction
        assert not torch.allclose(model(faces[0], -audio)["va"], first)
        # G reads the one-channel image replicated to 3 channels.
        z, q = model.latents(audio[:, None].expand(-1, 3, -1, -1))
        assert torch.allclose(model.combiner(z, q).va, first)
        # A frame without audio is silence: -1 everywhere.
        mask = torch.tensor([True, False])
        masked = model(faces[0], audio, mask)["va"]
        silent = model(faces[0], torch.full_like(audio, -1.0))["va"]
        assert torch.equal(masked[0], first[0]) and torch.allclose(masked[1], silent[1])
        assert torch.allclose(model(faces[0])["va"], silent)  # no audio at all: silence
    with pytest.raises(ValueError, match=r"expected audio images \(mel_image\) \[2, 32, 32\]"):
        model(faces[0], torch.zeros(2, 16, 16))
    video = create_model("test_dilast")
    with pytest.raises(ValueError, match="reads the faces only"):
        video(faces[0], audio)
    with pytest.raises(ValueError, match="needs audio_image_size"):
        create_model("test_dilast", modality="audio")
    with pytest.raises(ValueError, match="multiple of 4"):
        create_model("test_dilast", modality="audio", audio_image_size=30)


@pytest.mark.parametrize("config", ["avigas", "avigas_frame_gate"])
def test_the_gates_are_an_output_summing_to_one_and_all_on_the_face_without_audio(config):
    model = build(config).eval()
    mask = torch.tensor([[True, True, False, True, False], [False] * 5])
    x, audio = clips(model, mask=mask)
    with torch.no_grad():
        gates = model.forward_sequence(x, **audio).gates
    units = model.sequence.gmu.gate_size
    assert gates.shape == (2, 5, 2, units) and units == (1 if "frame" in config else 64)
    assert gates.min() >= 0 and gates.max() <= 1
    assert torch.allclose(gates.sum(dim=2), torch.ones(2, 5, units))
    assert torch.equal(gates[~mask][:, 0], torch.ones(int((~mask).sum()), units))  # the face
    assert not gates[~mask][:, 1].any()  # no audio, no audio weight
    heard = gates[mask][:, 1]
    assert (heard > 0).all() and (heard < 1).all()  # where there is audio, both count
    assert build("avicas").eval().forward_sequence(x, **audio).gates is None


@pytest.mark.parametrize("config", AV_MODELS)
def test_frames_without_audio_never_reach_the_prediction(config):
    model = build(config).eval()
    mask = torch.tensor([[True, False, True, False, False], [False] * 5])
    x, audio = clips(model, mask=mask)
    noisy = audio["audio"].clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), 32, 32).half() * 5  # what is not heard
    with torch.no_grad():
        va = model(x, **audio)["va"]
        assert torch.equal(model(x, noisy, mask)["va"], va)
        # The clip without any audio: as if no audio had been given at all.
        none = model(x[1:])["va"]
        assert torch.allclose(none, va[1:], atol=1e-6)
        # The heard frames matter.
        changed = audio["audio"].clone()
        changed[mask] = -changed[mask]
        assert not torch.allclose(model(x, changed, mask)["va"][0], va[0])
        if model.fusion == "concat":  # AVi-CaS: zeros in the audio half of [f_video; f_audio]
            latents = model.clip_latents(x, **audio)
            features = model.sequence.modality_features(latents.z, latents.q)
            fused, _ = model.sequence.fuse(features, latents.present)
            half = features[1].shape[-1]
            assert not fused[~mask][:, half:].any() and fused[mask][:, half:].abs().min() > 0


@pytest.mark.parametrize("config", AV_MODELS)
def test_finite_loss_and_gradients_when_the_whole_batch_lacks_audio(config):
    model = build(config).train()
    x, audio = clips(model, mask=torch.zeros(2, 5, dtype=torch.bool))  # the loader's zeros
    va = model(x, **audio)["va"]
    target = torch.rand(2, 5, 2) * 2 - 1
    terms = affect_loss(va.flatten(0, 1), target.flatten(0, 1), torch.ones(10, dtype=torch.bool))
    assert torch.isfinite(terms["total"])
    terms["total"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    assert grads["sequence.lstm.weight_ih_l0"].any()  # the face still trains the sequence
    assert grads["video.generator.encoder.stem.0.weight"].any()
    assert all(g is None for n, g in grads.items() if n.startswith("audio."))  # audio never ran


@pytest.mark.parametrize("config", list(CLIP_MODELS))
def test_the_prediction_trains_every_parameter_but_the_detached_ones(config):
    model = build(config).train()
    detached = model.detached_parameters
    names = [n for n, _ in model.named_parameters()]
    assert all(any(n.startswith(prefix) for n in names) for prefix in detached)
    x, audio = clips(model, frames=4)
    model(x, **audio)["va"].sum().backward()
    for name, parameter in model.named_parameters():
        if any(name.startswith(prefix) for prefix in detached):
            # Training-only parts and those behind Q (a hard decision) get none; the linear
            # score's bias gets rounding noise (a softmax ignores it).
            assert parameter.grad is None or parameter.grad.abs().max() < 1e-6, name
        else:
            grad = parameter.grad
            assert grad is not None and torch.isfinite(grad).all() and grad.any(), name


def test_what_is_detached():
    assert create_model("test_avigas").detached_parameters == (
        "video.generator.decoder",
        "video.discriminator",
        "audio.generator.decoder",
        "audio.discriminator",
        "sequence.score.bias",
    )
    assert create_model("test_avicas", attention=False).detached_parameters[-1] == "sequence.score"
    assert create_model("test_dilast", **AUDIO).detached_parameters == (
        "generator.decoder",
        "discriminator",
    )


@pytest.mark.parametrize("config", list(CLIP_MODELS))
def test_window_by_window_equals_the_whole_clip(config):
    model = build(config).eval()
    mask = torch.tensor([[True, True, False, True, True, True, False, False, True]])
    x, audio = clips(model, batch=1, frames=9, mask=mask)
    with torch.no_grad():
        whole, _ = model.forward_stream(x, **audio)
        state, parts = None, []
        for start, stop in ((0, 4), (4, 5), (5, 9)):  # windows of 4, 1 and 4 frames
            window = {k: v[:, start:stop] for k, v in audio.items()}
            out, state = model.forward_stream(x[:, start:stop], state, **window)
            parts.append(out["va"])
        fresh, _ = model.forward_stream(x[:, 5:9], **{k: v[:, 5:9] for k, v in audio.items()})
    assert torch.allclose(torch.cat(parts, dim=1), whole["va"], atol=1e-5)
    assert not torch.allclose(fresh["va"], whole["va"][:, 5:9], atol=1e-5)  # the state matters


def test_attention_within_windows_only_has_no_stream_form():
    model = create_model("test_avigas", memory_size=None).eval()
    with pytest.raises(ValueError, match="attends within each window only"):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32))


@pytest.mark.parametrize("config", [*CLIP_MODELS, "dilast_audio"])
def test_checkpoints_reload_from_their_folder_with_the_audio_settings(config, tmp_path):
    if config == "dilast_audio":
        torch.manual_seed(0)
        model = create_model("test_dilast", **AUDIO)
    else:
        model = build(config)
    if reads_audio(model):
        model.audio_settings = SETTINGS  # what a recipe sets from the training manifest
        assert model.input_spec.audio == {"mel_image": {"size": 32, "settings": SETTINGS}}
    save_model(model.eval(), tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert type(loaded) is type(model) and loaded.input_spec == model.input_spec
    assert loaded.audio_settings == model.audio_settings
    x, audio = clips(model, frames=3)
    if not model.input_spec.is_clip:
        x, audio = x[:, 0], {k: v[:, 0] for k, v in audio.items()}
    with torch.no_grad():
        assert torch.equal(loaded(x, **audio)["va"], model(x, **audio)["va"])


def test_audio_settings_must_store_the_images_the_model_reads():
    model = create_model("test_avigas")
    with pytest.raises(ValueError, match="audio images of side 16.*build it with audio_image"):
        model.audio_settings = {**SETTINGS, "mel_image_size": 16}
    with pytest.raises(ValueError, match="side 0"):
        model.audio_settings = {"sample_rate": 16000}  # made without audio images
    with pytest.raises(ValueError, match="for a model that reads audio images"):
        create_model("test_dilast").audio_settings = SETTINGS
    assert create_model("test_avigas", audio_settings=SETTINGS).audio_settings == SETTINGS


def test_the_fusion_model_holds_the_frame_models_g_and_d():
    torch.manual_seed(0)
    video, audio = create_model("test_dilast").eval(), create_model("test_dilast", **AUDIO).eval()
    model = create_model("test_avigas").eval()
    model.share_frame_parts(video, audio)
    assert model.video.generator is video.generator and model.audio.discriminator is (
        audio.discriminator
    )
    x, heard = clips(model, frames=3)
    with torch.no_grad():
        latents = model.clip_latents(x, **heard)
        z, q = video.latents(x.flatten(0, 1))
        assert torch.equal(latents.z[0].flatten(0, 1), z) and torch.equal(latents.q[0].flatten(), q)
        images = heard["audio"].float().flatten(0, 1)[:, None].expand(-1, 3, -1, -1)
        z, q = audio.latents(images)
        assert torch.allclose(latents.z[1].flatten(0, 1), z) and torch.equal(
            latents.q[1].flatten(), q
        )
    with pytest.raises(ValueError, match="the audio frame model has modality 'video'"):
        model.share_frame_parts(video, video)
    small = create_model("test_dilast", modality="audio", audio_image_size=16)
    with pytest.raises(ValueError, match="reads 16 px audio images"):
        model.share_frame_parts(video, small)


def test_the_sequence_part_starts_from_the_single_modality_models():
    """P's convolutions have the shape of each modality's stack, and AVi-GaS's LSTM (it reads a
    fused vector of P's size) the shape of DiLaST-SA's, so a recipe can start each from them."""
    frame = create_model("test_dilast")
    sa = create_model("test_dilast_sa")
    gas, cas = create_model("test_avigas"), create_model("test_avicas")
    for model in (gas, cas):
        for name in ("video", "audio"):
            model.sequence.features[name].load_state_dict(frame.combiner.features.state_dict())
    recurrent = {k: v for k, v in sa.sequence.state_dict().items() if not k.startswith("features")}
    assert set(recurrent) == {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                              "lstm.bias_hh_l0", "score.weight", "score.bias", "head.weight",
                              "head.bias"}  # fmt: skip
    missing, unexpected = gas.sequence.load_state_dict(recurrent, strict=False)
    assert not unexpected and all(k.startswith(("features", "gmu")) for k in missing)
    with pytest.raises(RuntimeError, match="size mismatch"):  # [f_video; f_audio]: twice as wide
        cas.sequence.load_state_dict(recurrent, strict=False)


def test_the_fused_sequence_model_checks_what_it_is_given():
    part = FusedSequenceCombiner((8, 8), width=4, hidden_size=6, fusion="concat", memory_size=2)
    z, q = torch.randn(2, 3, 8, 4, 4), torch.randint(0, 4, (2, 3))
    out = part([z, z], [q, q], [None, torch.tensor([True, False])])  # a mask per clip
    assert out.va.shape == (2, 3, 2) and out.gates is None
    with pytest.raises(ValueError, match=r"one entry per modality \['video', 'audio'\]"):
        part([z], [q])
    with pytest.raises(ValueError, match="fusion must be one of"):
        FusedSequenceCombiner((8, 8), fusion="sum")
    with pytest.raises(ValueError, match="fused_features is the GMU's size"):
        FusedSequenceCombiner((8, 8), fusion="concat", fused_features=16)
    parts = create_model("test_avigas")
    with pytest.raises(ValueError, match="must fuse"):
        AViGaSNet(
            parts.video,
            parts.audio,
            FusedSequenceCombiner((8, 8), names=("audio", "video"), width=4, hidden_size=6),
            audio_image_size=32,
        )
    with pytest.raises(ValueError, match="its video part reads audio images"):
        AViGaSNet(parts.audio, parts.video, parts.sequence, audio_image_size=32)
    model = create_model("test_avicas")
    with pytest.raises(ValueError, match="audio_mask says some frames have audio"):
        model(torch.zeros(1, 2, 3, 32, 32), audio_mask=torch.ones(1, 2, dtype=torch.bool))


def test_paper_sized_parameter_counts():
    """Ours follow the ANCLaF reference's widths (P's d = 64); the paper's Table 11 counts are
    smaller and cannot be composed from its text (reference/latent_models.md §5.4). With d = 16
    the GMU adds 262,400 weights, near the paper's AVi-GaS minus AVi-CaS (263,681)."""

    def count(module):
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):
        frame = create_model("dilast_audio_128")
        gas, cas = create_model("avigas_128"), create_model("avicas_128")
        narrow = create_model("avigas_128", combiner_width=16)
    # DiLaST's frame model is ANCLaF's (G 456,864 + D with the quadrant head + C).
    assert count(frame) == 456_864 + 2_808_048 + 11_214_786
    # Each modality holds G and D; P's conv stack (without its Linear) per modality in the
    # sequence part.
    assert count(gas.video) == count(gas.audio) == 456_864 + 2_808_048
    stack = 11_214_786 - 2_050
    lstm = 4 * 512 * (1_024 + 1_024 + 512) + 8 * 512  # LSTM(F + [h; c], 512)
    score_head = 2 * 1_024 + 1 + 512 * 2 + 2
    assert count(gas.sequence.gmu) == 2 * 1_024 * 1_024 + 2 * 1_024 * 1_024 + 1_024
    assert count(gas.sequence) == 2 * stack + count(gas.sequence.gmu) + lstm + score_head
    assert count(cas.sequence) == 2 * stack + lstm + 4 * 512 * 1_024 + score_head
    assert count(narrow.sequence.gmu) == 262_400
