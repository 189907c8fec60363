"""A/V-MT-VGG-GRU (holistic/models/audiovisual.py): two MT-VGG-GRU streams, a visual and an
audio one, fused by a GRU. Shapes and the paper's layer sizes; frames without audio (the mask
reaches the fusion; a clip without any audio still trains); window-by-window streaming equals
the whole clip; the audio settings survive a save and a load; the visual CNN starts from a
FaceBehaviorNet checkpoint; bad inputs fail naming what to pass."""

import json

import pytest
import torch

from holistic.losses import flatten_frames, multitask_loss
from holistic.models import AVMTVGGGRU, create_model, load_model, save_model
from holistic.models.audiovisual import MEL_FILL, StreamOutputs


def _inputs(batch=2, frames=4, seed=0):
    """Clips in [-1, 1] ``[B, T, 3, 32, 32]`` and log-mel windows ``[B, T, 64, 11]``."""
    generator = torch.Generator().manual_seed(seed)
    clips = torch.rand(batch, frames, 3, 32, 32, generator=generator) * 2 - 1
    mel = torch.rand(batch, frames, 64, 11, generator=generator) * 2 - 1
    return clips, mel


def _model(**kwargs) -> AVMTVGGGRU:
    torch.manual_seed(0)
    return create_model("test_avmtvgggru", **kwargs)


def _labels(batch=2, frames=4):
    """Every frame labelled for every task (VA, basic7, fbn17), flattened to ``[B*T, ...]``."""
    generator = torch.Generator().manual_seed(3)
    n = batch * frames
    return {
        "va": torch.rand(n, 2, generator=generator) * 2 - 1,
        "va_mask": torch.ones(n, dtype=torch.bool),
        "expr": torch.randint(0, 7, (n,), generator=generator),
        "expr_mask": torch.ones(n, dtype=torch.bool),
        "au": torch.randint(0, 2, (n, 17), generator=generator).float(),
        "au_mask": torch.ones(n, 17, dtype=torch.bool),
    }


def test_outputs_of_every_output_layer_per_frame():
    model = _model().eval()
    clips, mel = _inputs()
    with torch.no_grad():
        out = model(clips, mel)
        every = model.forward_streams(clips, mel)
        features = model.forward_features(clips, mel)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "va": (2, 4, 2),
        "expr": (2, 4, 7),
        "au": (2, 4, 17),
    }
    assert set(every) == {"video", "audio", "fused"}
    for layer in every.values():
        assert {k: v.shape for k, v in layer.items()} == {k: v.shape for k, v in out.items()}
    assert all(torch.equal(every["fused"][k], out[k]) for k in out)  # forward is the fused layer
    assert features.shape == (2, 4, model.num_features) == (2, 4, 16)
    # The streams' own output layers are other layers than the fused one.
    assert not torch.allclose(every["video"]["va"], out["va"])
    assert not torch.allclose(every["audio"]["va"], out["va"])
    assert model.input_spec.is_clip and model.input_spec.audio == {
        "mel": {"fill": MEL_FILL, "settings": None}
    }
    wrapped = StreamOutputs(model)
    assert not list(wrapped.parameters(recurse=False))  # adds no parameters of its own
    with torch.no_grad():
        again = wrapped(clips, mel)
    assert all(torch.equal(again["audio"][k], every["audio"][k]) for k in out)


def test_the_paper_variant_has_its_layer_sizes():
    with torch.device("meta"):
        model = create_model("avmtvgggru_vgg16")
    assert model.backbone.pretrained_cfg["architecture"] == "vgg16"
    assert model.audio.backbone.pretrained_cfg["architecture"] == "resnet18"
    assert next(model.audio.backbone.parameters()).shape[1] == 1  # one input channel: the mel
    assert model.video.fc[0].out_features == model.audio.fc[0].out_features == 4096
    grus = [model.video.rnns[0], model.audio.rnns[0], model.fusion]
    assert all((gru.hidden_size, gru.num_layers) == (128, 2) for gru in grus)
    assert model.fusion.input_size == 128 + 128 + 1  # both streams and the audio mask
    assert model.input_spec.clip_length == 90 and model.input_spec.image_size == 96


def test_a_frame_without_audio_hears_silence_and_the_fusion_knows():
    model = _model().eval()
    clips, mel = _inputs(batch=1)
    silent = torch.zeros(1, 4, dtype=torch.bool)
    heard = torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        masked = model.forward_streams(clips, mel, silent)
        other = model.forward_streams(clips, torch.zeros_like(mel), silent)
        silence = model.forward_streams(clips, torch.full_like(mel, MEL_FILL), heard)
        with_audio = model(clips, mel, heard)
    # Where the mask is False the window's content is not read: silence goes in instead.
    for layer in ("audio", "fused"):
        assert all(torch.equal(masked[layer][k], other[layer][k]) for k in with_audio)
    assert torch.equal(masked["audio"]["va"], silence["audio"]["va"])
    # The fusion tells "no audio" from "silence" (the mask is its input) and uses the audio.
    assert not torch.allclose(masked["fused"]["va"], silence["fused"]["va"])
    assert not torch.allclose(masked["fused"]["va"], with_audio["va"])
    # The visual stream does not hear anything.
    assert torch.equal(masked["video"]["va"], silence["video"]["va"])


def test_a_batch_without_any_audio_gives_finite_losses_and_gradients():
    model = _model().train()
    clips, mel = _inputs()
    outputs = model.forward_streams(clips, mel, torch.zeros(2, 4, dtype=torch.bool))
    labels = _labels()
    total = sum(
        multitask_loss(flatten_frames(outputs[layer]), labels)["total"]
        for layer in ("video", "audio", "fused")
    )
    total.backward()
    assert torch.isfinite(total)
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # The visual stream and the fusion learn; the audio CNN learns through its own layer only.
    assert grads["fusion.weight_ih_l0"].any() and grads["video.fc.0.weight"].any()
    assert grads["audio.fc.0.weight"].any()
    model.zero_grad()
    fused = model(clips, mel, torch.zeros(2, 4, dtype=torch.bool))
    multitask_loss(flatten_frames(fused), labels)["total"].backward()
    audio = [p.grad for name, p in model.named_parameters() if name.startswith("audio.")]
    assert all(g is None or not g.any() for g in audio)  # nothing heard, nothing learnt
    assert model.video.fc[0].weight.grad.any()


def test_window_by_window_equals_the_whole_clip():
    model = _model().eval()
    clips, mel = _inputs(batch=1, frames=9)
    mask = torch.tensor([[True, True, False, False, True, True, True, False, True]])
    with torch.no_grad():
        whole, _ = model.forward_stream(clips, audio=mel, audio_mask=mask)
        state, parts = None, []
        for start, stop in ((0, 4), (4, 5), (5, 9)):
            window = slice(start, stop)
            out, state = model.forward_stream(
                clips[:, window], state, audio=mel[:, window], audio_mask=mask[:, window]
            )
            parts.append(out)
        assert [tuple(s.shape) for s in state] == [(2, 1, 16)] * 3  # video, audio, fusion GRUs
        fresh, _ = model.forward_stream(clips[:, 5:9], audio=mel[:, 5:9], audio_mask=mask[:, 5:9])
    for task, value in whole.items():
        streamed = torch.cat([part[task] for part in parts], dim=1)
        assert torch.allclose(streamed, value, atol=1e-5), task
        assert torch.allclose(value, model(clips, mel, mask)[task], atol=1e-5)
    assert not torch.allclose(fresh["va"], whole["va"][:, 5:9], atol=1e-5)  # the state matters
    with pytest.raises(ValueError, match=r"state of 3 GRUs \(video, audio, fusion\)"):
        model.forward_stream(clips[:, :2], state[:2], audio=mel[:, :2])


def test_save_and_load_keep_the_audio_settings(tmp_path):
    from holistic.data.audio import AudioSettings

    model = _model().eval()
    settings = AudioSettings(mel_hop_s=0.01).to_json()
    model.audio_settings = settings
    assert model.input_spec.audio["mel"]["settings"] == settings
    save_model(model, tmp_path / "av")
    loaded = load_model(tmp_path / "av")
    assert isinstance(loaded, AVMTVGGGRU) and loaded.audio_settings == settings
    assert loaded.input_spec == model.input_spec
    clips, mel = _inputs()
    with torch.no_grad():
        a, b = model(clips, mel), loaded(clips, mel)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_visual_cnn_starts_from_a_facebehaviornet(tmp_path):
    torch.manual_seed(1)
    fbn = create_model("test_facebehaviornet", image_size=32)
    save_model(fbn, tmp_path / "fbn")
    model = _model(init_from=str(tmp_path / "fbn"))
    theirs = fbn.backbone.state_dict()
    ours = model.backbone.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert model.backbone is model.video.backbone  # what the recipe freezes
    save_model(model, tmp_path / "av")  # init_from is a weight source: not recorded
    assert "init_from" not in json.loads((tmp_path / "av" / "model.json").read_text())["kwargs"]


def test_reset_heads_renews_every_output_layer():
    model = _model()
    old = {name: p.clone() for name, p in model.named_parameters() if ".head." in f".{name}"}
    model.reset_heads(expressions=["neutral", "happiness", "contempt"])
    clips, mel = _inputs()
    with torch.no_grad():
        every = model.eval().forward_streams(clips, mel)
    assert all(
        layer["expr"].shape[-1] == 3 and layer["au"].shape[-1] == 17 for layer in every.values()
    )
    assert model.tasks["expr"] == model.expressions == ("neutral", "happiness", "contempt")
    new = dict(model.named_parameters())
    for name in ("head.out.weight", "video.head.out.weight", "audio.head.out.weight"):
        assert new[name].shape[0] == 2 + 3 + 17 != old[name].shape[0]
        assert torch.equal(new[name][:2], old[name][:2])  # VA rows kept


def test_bad_inputs_say_what_to_pass():
    model = _model().eval()
    clips, mel = _inputs()
    with pytest.raises(ValueError, match="takes audio"):
        model(clips)
    with pytest.raises(ValueError, match=r"expected audio \[B, T, n_mels, W\]"):
        model(clips, mel[:, :3])
    with pytest.raises(ValueError, match=r"expected audio_mask \[B, T\]"):
        model(clips, mel, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model(clips[:, 0], mel)
    video = create_model("test_mtvgggru")
    with pytest.raises(ValueError, match="other vocabularies"):
        AVMTVGGGRU(video, create_model("test_mtvgggru", aus="abaw2021"))
