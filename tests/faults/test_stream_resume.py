"""Resuming mid-epoch: ``loader(start=k)`` yields exactly the batches ``k, k+1, ...`` of an
uninterrupted iteration (augmented ones included, with DataLoader workers interleaved), and the
batches before ``k`` are drawn from the undecoded streams without decoding a single JPEG."""

import pytest
import torch
from test_stream_damage import SPACE, build, face_records, video_records

import holistic.data.stages as stages
from holistic.data.clips import ClipLoader
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.transforms import build_train_transform


@pytest.fixture(scope="module")
def fed(tmp_path_factory) -> Federation:
    root = tmp_path_factory.mktemp("resume")
    build(root, "faces", face_records())
    return Federation(str(build(root, "vid", video_records())))


def mixer(fed: Federation) -> AlignedMixer:
    # Two sets from two sources, shuffled, augmented: every kind of state a skip must keep.
    return AlignedMixer(fed, SPACE, {"va": 3, "expr": 2}, build_train_transform(32), seed=7,
                        shuffle_buffer=6, steps=7)  # fmt: skip


def clips(fed: Federation) -> ClipLoader:
    return ClipLoader(fed, SPACE, length=3, batch_size=2, transform=build_train_transform(32),
                      datasets=["vid"], steps=5, shuffle_buffer=4, seed=7)  # fmt: skip


def assert_same_batches(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], torch.Tensor):
                assert torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("make", [mixer, clips], ids=["mixer", "clips"])
def test_batches_from_start_are_those_of_an_uninterrupted_run(fed, make, num_workers):
    loader = make(fed)
    loader.set_epoch(1)
    full = list(loader.loader(num_workers=num_workers))
    assert len(full) == loader.steps
    for start in (1, 4):
        resumed = loader.loader(num_workers=num_workers, start=start)
        assert len(resumed) == loader.steps - start
        assert_same_batches(list(resumed), full[start:])
    assert len(loader) == loader.steps  # the loader itself still starts at 0
    assert list(loader.loader(start=loader.steps)) == []


@pytest.mark.parametrize("make", [mixer, clips], ids=["mixer", "clips"])
def test_skipped_batches_are_not_decoded(fed, make, monkeypatch):
    decoded = []
    original = stages.decode_sample

    def counting(raw):
        decoded.append(raw["__key__"])
        return original(raw)

    monkeypatch.setattr(stages, "decode_sample", counting)
    monkeypatch.setattr("holistic.data.clips.decode_sample", counting)
    loader = make(fed)
    per_batch = 5 if make is mixer else 2 * 3
    list(loader.loader(start=4))
    assert len(decoded) == (loader.steps - 4) * per_batch
    decoded.clear()
    list(loader.loader())
    assert len(decoded) == loader.steps * per_batch


def test_training_state_resumes_through_start(fed):
    from holistic.training.state import batches_from

    full = list(batches_from(mixer(fed), 0, 10))  # 7 steps per epoch: into the second epoch
    assert_same_batches(list(batches_from(mixer(fed), 4, 10)), full[4:])
    assert_same_batches(list(batches_from(mixer(fed), 8, 10)), full[8:])


def test_a_negative_start_is_refused(fed):
    with pytest.raises(ValueError, match="start must be >= 0"):
        mixer(fed).loader(start=-1)


def test_workers_split_the_start_position():
    # Worker w of k yields the rank's batches w, w + k, ...: batch 5 of 2 workers is worker 1's
    # third (index 2); worker 0 starts at its index 3 (batch 6).
    assert [stages.first_batch(5, part, 2, 1) for part in range(2)] == [3, 2]
    assert [stages.first_batch(0, part, 4, 2) for part in range(4)] == [0, 0, 0, 0]
    assert stages.first_batch(3, 3, 4, 2) == 1  # rank 1, worker 1: batches 1, 3, ...
