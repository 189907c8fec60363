"""forward_stream: a clip model fed a video window by window, its recurrent state passed on,
gives what one call on the whole video gives (what holistic predict relies on per face track)."""

import pytest
import torch

from holistic.models import create_model

STREAMING = {"test_affwildnet": {}, "test_cnn1rnn": {}, "test_cnn3rnn": {}, "test_mtvgggru": {},
             "test_anclaf_s": {}, "test_anclaf_sa": {"memory_size": 3},
             "test_modelfusion": {}, "test_modelfusion_fc": {"head": "fc"},
             "test_decisionfusion": {"weights": [[0.5, 0.2], [0.3, 0.6]]}}  # fmt: skip


@pytest.mark.parametrize("name", STREAMING)
def test_window_by_window_equals_the_whole_video(name):
    torch.manual_seed(0)
    model = create_model(name.removesuffix("_fc"), image_size=32, **STREAMING[name]).eval()
    frames = torch.rand(1, 9, 3, 32, 32) * 2 - 1
    inputs = {}
    if model.input_spec.landmarks:
        inputs["landmarks"] = torch.rand(1, 9, 68, 2) * 2 - 1
    with torch.no_grad():
        whole, _ = model.forward_stream(frames, **inputs)
        state, parts = None, []
        for start, stop in ((0, 4), (4, 5), (5, 9)):  # windows of 4, 1 and 4 frames
            window = {k: v[:, start:stop] for k, v in inputs.items()}
            out, state = model.forward_stream(frames[:, start:stop], state, **window)
            parts.append(out)
    for task, value in whole.items():
        streamed = torch.cat([part[task] for part in parts], dim=1)
        assert streamed.shape == value.shape == (1, 9, value.shape[-1])
        assert torch.allclose(streamed, value, atol=1e-5), task
    # Starting from a fresh state is not the same as continuing: the state matters.
    with torch.no_grad():
        fresh, _ = model.forward_stream(frames[:, 5:9], **{k: v[:, 5:9] for k, v in inputs.items()})
    assert not torch.allclose(fresh["va"], whole["va"][:, 5:9], atol=1e-5)


def test_a_state_of_another_model_is_refused():
    model = create_model("test_cnn3rnn", image_size=32).eval()
    _, state = model.forward_stream(torch.zeros(1, 2, 3, 32, 32))
    with pytest.raises(ValueError, match="expected a state of 3 GRU"):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32), state[:1])


@pytest.mark.parametrize(
    ("name", "parts", "match"),
    [
        ("test_modelfusion", 2, r"state of 3 part\(s\) \(one per member, then the fusion GRU's\)"),
        ("test_decisionfusion", 1, r"state of 2 part\(s\) \(one per member\)"),
    ],
)
def test_an_ensemble_names_the_parts_of_its_state(name, parts, match):
    model = create_model(name, image_size=32).eval()
    _, state = model.forward_stream(torch.zeros(1, 2, 3, 32, 32))
    assert len(state) == parts + 1
    with pytest.raises(ValueError, match=match):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32), state[:parts])


def test_decision_fusion_of_a_member_without_a_stream_form_says_so():
    from holistic.models.ensemble import DecisionFusion

    class Whole(torch.nn.Module):  # a clip model that only runs on whole clips
        def __init__(self):
            super().__init__()
            self.inner = create_model("test_cnn1rnn", image_size=32)
            self.input_spec, self.tasks = self.inner.input_spec, self.inner.tasks

        def forward(self, x, landmarks=None):
            return self.inner(x)

    model = DecisionFusion([create_model("test_cnn3rnn", image_size=32), Whole()]).eval()
    assert model(torch.zeros(1, 2, 3, 32, 32))["va"].shape == (1, 2, 2)
    with pytest.raises(ValueError, match=r"member 1 \(Whole\) has no stream form"):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32))


def test_attention_within_windows_only_has_no_stream_form():
    model = create_model("test_anclaf_sa", image_size=32).eval()  # the reference: memory None
    with pytest.raises(ValueError, match="attends within each window only"):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32))
