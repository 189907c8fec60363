"""forward_stream: a clip model fed a video window by window, its recurrent state passed on,
gives what one call on the whole video gives (what holistic predict relies on per face track)."""

import pytest
import torch

from holistic.models import create_model

STREAMING = {"test_affwildnet": {}, "test_cnn1rnn": {}, "test_cnn3rnn": {}, "test_mtvgggru": {},
             "test_anclaf_s": {}, "test_anclaf_sa": {"memory_size": 3}}  # fmt: skip


@pytest.mark.parametrize("name", STREAMING)
def test_window_by_window_equals_the_whole_video(name):
    torch.manual_seed(0)
    model = create_model(name, image_size=32, **STREAMING[name]).eval()
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


def test_attention_within_windows_only_has_no_stream_form():
    model = create_model("test_anclaf_sa", image_size=32).eval()  # the reference: memory None
    with pytest.raises(ValueError, match="attends within each window only"):
        model.forward_stream(torch.zeros(1, 2, 3, 32, 32))
