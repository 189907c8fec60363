"""holistic.inference.Predictor and `holistic predict`: real photos, a synthetic video with known
labels, bad input, the table's columns and types, atomic output."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from holistic.cli import main as cli
from holistic.inference.columns import table_columns
from holistic.inference.predictor import NO_FACE, Predictor
from holistic.models import create_model, save_model
from holistic.synth.render import render_face, sample_identity

FACE_COLUMNS = ["face_id", "box_x0", "box_y0", "box_x1", "box_y1", "score"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny FaceBehaviorNet saved as a recipe saves it."""
    torch.manual_seed(0)
    model = create_model("test_facebehaviornet", image_size=32, compounds="rafdb11")
    path = tmp_path_factory.mktemp("model") / "model"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The real photos the test environment ships: scikit-image's astronaut and matplotlib's
    Grace Hopper (one face each), and LFW crops without a face."""
    import matplotlib.cbook
    import skimage.data

    folder = tmp_path_factory.mktemp("photos")
    (folder / "sub").mkdir()
    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    cv2.imwrite(str(folder / "sub" / "hopper.jpg"), hopper)
    cv2.imwrite(str(folder / "astronaut.png"), skimage.data.astronaut()[..., ::-1])
    lfw = skimage.data.lfw_subset()  # 100 face crops, then 100 crops without a face
    for i in (100, 101):
        cv2.imwrite(str(folder / f"noface{i}.png"), _grey(lfw[i], 100))
    return folder


def _grey(image, side):
    return cv2.resize((image * 255).astype(np.uint8), (side, side))[..., None].repeat(3, 2)


def test_faces_are_found_in_real_photos_and_every_column_is_filled(checkpoint, photos):
    predictor = Predictor(checkpoint, landmarks=True)
    table = predictor.predict(photos)
    assert list(table.columns) == table_columns(predictor.tasks, landmarks=True)
    by_name = {name.rsplit("/", 1)[1]: rows for name, rows in table.groupby("input")}
    assert sorted(by_name) == ["astronaut.png", "hopper.jpg", "noface100.png", "noface101.png"]
    for name in ("astronaut.png", "hopper.jpg"):
        [row] = by_name[name].to_dict("records")
        assert row["error"] == "" and row["face_id"] == 0 and row["score"] > 0.5
        missing = [c for c, v in row.items() if c != "error" and pd.isna(v)]
        assert missing == ["time"]  # a photo has no time; every other column is filled
        assert row["box_x1"] - row["box_x0"] > 80  # the face, not a speck
        probabilities = [row[c] for c in table.columns if c.startswith("expr_")]
        assert sum(probabilities) == pytest.approx(1.0)
        assert row["expression"] in predictor.tasks["expr"]
    for name in ("noface100.png", "noface101.png"):
        [row] = by_name[name].to_dict("records")
        assert row["error"] == NO_FACE and pd.isna(row["face_id"]) and pd.isna(row["valence"])
    summary = predictor.summary
    assert (summary.inputs, summary.frames, summary.faces) == (4, 4, 2)
    assert summary.frames_without_face == 2 and summary.failures == []


def test_aligned_inputs_are_the_face_itself(checkpoint):
    import skimage.data

    faces = [_grey(image, 64) for image in skimage.data.lfw_subset()[:5]]
    table = Predictor(checkpoint, aligned=True).predict(faces)
    assert len(table) == 5 and (table["error"] == "").all()
    assert table["score"].isna().all() and (table["box_x1"] == 64).all()
    assert table["valence"].notna().all() and table["AU12_c"].isin([0, 1]).all()


IDENTITY = 1  # a synthetic identity dlib's HOG detector finds at these sizes


def _rendered(smile, size, **framing):
    """A synthetic face and its 68 landmarks (ArcFace crop framing unless ``framing`` says
    otherwise)."""
    from holistic.synth.types import Nuisance

    identity = sample_identity(np.random.default_rng(IDENTITY))
    nuisance = Nuisance(**framing) if framing else Nuisance()
    return render_face(identity, {12: smile, 6: smile / 2}, size=size, nuisance=nuisance)


def _face(smile, size, **framing):
    return _rendered(smile, size, **framing).image


def _smile_video(path, smiles):
    """A 30 fps video of one synthetic face drifting across a 240 x 240 frame, smiling as given."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (240, 240))
    for k, smile in enumerate(smiles):
        frame = _face(smile, 240, scale=0.5, offset=(-0.15 + 0.3 * k / len(smiles), 0.05))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_detected_faces_are_aligned_on_the_true_points(checkpoint):
    """The alignment points the predictor finds in a frame are the face's own (the renderer's
    landmarks), so the model is fed the crop framing its shards hold."""
    from holistic.data.faces import five_points_from_68

    predictor = Predictor(checkpoint)
    for smile, offset in ((0.0, (-0.15, 0.05)), (1.0, (0.1, -0.05))):
        rendered = _rendered(smile, 240, scale=0.5, offset=offset)
        [face] = predictor.faces(rendered.image)
        assert face.crop.shape == (32, 32, 3)
        truth = five_points_from_68(rendered.landmarks)
        error = np.linalg.norm(face.points - truth, axis=1) / np.linalg.norm(truth[0] - truth[1])
        # Errors over the inter-ocular distance. dlib's 5-point model sees the eyes and the
        # nose; the mouth corners are inferred from its mean face, so they miss by more.
        assert error[:3].max() < 0.07 and error[3:].max() < 0.15


def test_landmarks_for_clip_models_are_in_the_clip_loaders_crop_coordinates():
    """dlib's 68 points, moved into the aligned crop and scaled to [-1, 1] as the clip loader
    scales a shard's landmarks, land near the renderer's own points in the shard's crop."""
    model = create_model("test_affwildnet", image_size=32, landmarks=True)
    predictor = Predictor(model)
    [face] = predictor.faces(_rendered(0.5, 240, scale=0.5, offset=(0.1, 0.0)).image)
    truth = _rendered(0.5, 112).landmarks / 112 * 2 - 1  # the crop a shard holds
    assert face.landmarks.shape == (68, 2) and np.abs(face.landmarks).max() < 1.2
    assert np.median(np.abs(face.landmarks - truth)) < 0.04  # about 2 px of the 112 px crop


class SmileReadout(torch.nn.Module):
    """A valence model learned in closed form: ridge regression from the pixels of aligned
    32 px crops (as the shards hold them, slightly jittered) to valence = 2 smile - 1."""

    def __init__(self, rng: np.random.Generator) -> None:
        from holistic.data.transforms import build_eval_transform, to_model_input
        from holistic.models.spec import InputSpec, model_tasks

        super().__init__()
        self.input_spec, self.tasks = InputSpec(kind="image", image_size=32), model_tasks()
        resize, smiles = build_eval_transform(32), rng.uniform(0, 1, 200)
        crops = [_rendered(s, 112, scale=rng.uniform(0.93, 1.07),
                           offset=tuple(rng.uniform(-0.04, 0.04, 2))).image
                 for s in smiles]  # fmt: skip
        pixels = np.stack([to_model_input(c, resize) for c in crops]).reshape(200, -1) / 127.5 - 1
        self.mean = torch.from_numpy(pixels.mean(0)).float()
        centred, target = pixels - pixels.mean(0), 2 * smiles - 1
        gram = centred.T @ centred + 10.0 * np.eye(centred.shape[1])
        self.weight = torch.from_numpy(np.linalg.solve(gram, centred.T @ target)).float()
        self.bias = float(target.mean())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = x.permute(0, 2, 3, 1).flatten(1) - self.mean  # the crop's HWC pixel order
        valence = torch.clamp(pixels @ self.weight + self.bias, -1, 1)
        return {"va": torch.stack([valence, torch.zeros_like(valence)], dim=1)}


def test_predictions_on_a_video_with_known_labels_track_them(tmp_path):
    """A model learned on aligned crops, run by the predictor on a video in which it finds,
    tracks and aligns the face itself, follows the video's known valence."""
    from holistic.metrics.va import ccc

    model = SmileReadout(np.random.default_rng(0))
    truth = (1 - np.cos(np.linspace(0, 2 * np.pi, 40))) / 2  # a smile that comes and goes
    table = Predictor(model, batch_size=8).predict(str(_smile_video(tmp_path / "v.avi", truth)))
    found = (table["error"] == "").to_numpy()
    assert found.sum() >= 32 and table["face_id"][found].unique().tolist() == [0]
    predicted = table["valence"].to_numpy()[found]
    # Chance (a constant, or predictions unrelated to the face) is a CCC of 0; measured 0.69 to
    # 0.72 over three seeds of the readout's training crops.
    assert ccc(predicted, 2 * truth[found] - 1) > 0.5


def test_a_video_face_keeps_one_id_and_every_frame_has_a_row(checkpoint, tmp_path):
    smiles = (1 - np.cos(np.linspace(0, 2 * np.pi, 24))) / 2  # a smile that comes and goes
    table = Predictor(checkpoint, batch_size=5).predict(_smile_video(tmp_path / "v.avi", smiles))
    assert table["frame"].tolist() == list(range(24))
    assert table["time"].to_numpy() == pytest.approx(np.arange(24) / 30)
    found = table[table["error"] == ""]
    assert len(found) >= 20 and set(table["error"]) <= {"", NO_FACE}
    assert found["face_id"].unique().tolist() == [0]  # one face, one id, across misses
    assert (
        found["valence"].notna().all() and table.loc[table["error"] != "", "valence"].isna().all()
    )


def test_every_nth_frame_and_frames_given_as_arrays(checkpoint, tmp_path):
    video = _smile_video(tmp_path / "v.avi", np.full(10, 0.5))
    table = Predictor(checkpoint, every=4).predict(str(video))
    assert table["frame"].tolist() == [0, 4, 8]
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in _read_all(video)]
    same = Predictor(checkpoint, every=4).predict(iter(frames))
    assert same["frame"].tolist() == [0, 4, 8] and (same["input"] == "frames").all()
    assert same["valence"].to_numpy() == pytest.approx(table["valence"].to_numpy(), abs=1e-5)


def _read_all(video):
    capture, frames = cv2.VideoCapture(str(video)), []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames


def test_au_occurrences_use_the_checkpoint_thresholds(checkpoint, tmp_path):
    model_json = json.loads((checkpoint / "model.json").read_text())
    assert "au_thresholds" not in model_json
    face = [_face(0.5, 112)]
    default = Predictor(checkpoint, aligned=True).predict(face[0]).iloc[0]
    aus = Predictor(checkpoint, aligned=True).tasks["au"]
    assert all(default[f"AU{au:02d}_c"] == int(default[f"AU{au:02d}"] >= 0.5) for au in aus)
    saved = tmp_path / "model"
    save_model(create_model("test_facebehaviornet", image_size=32, compounds="rafdb11"), saved,
               au_thresholds={aus[0]: 0.0, aus[1]: 1.0})  # fmt: skip
    row = Predictor(saved, aligned=True).predict(face[0]).iloc[0]
    assert row[f"AU{aus[0]:02d}_c"] == 1 and row[f"AU{aus[1]:02d}_c"] == 0
    with pytest.raises(ValueError, match=r"AUs \[99\] are not the model's"):
        Predictor(checkpoint, aligned=True, au_thresholds={99: 0.5})


@pytest.mark.parametrize("name", ["test_cnn1rnn", "test_affwildnet", "test_modelfusion",
                                  "test_decisionfusion"])  # fmt: skip
def test_clip_models_run_on_each_face_track_as_a_stream(name, tmp_path):
    """The state is carried from batch to batch: cutting the track into batches of 5 faces
    gives what one call on the whole track gives (AffWildNet with landmarks: dlib's 68; the
    ensembles carry their members' states)."""
    torch.manual_seed(0)
    landmarks = {"landmarks": True} if name == "test_affwildnet" else {}
    model = create_model(name, image_size=32, **landmarks).eval()
    video = _smile_video(tmp_path / "v.avi", np.linspace(0, 1, 14))
    small = Predictor(model, batch_size=5).predict(str(video))
    whole = Predictor(model, batch_size=100).predict(str(video))
    found = small["error"] == ""
    assert found.sum() >= 12 and small["face_id"][found].unique().tolist() == [0]
    assert small["valence"][found].to_numpy() == pytest.approx(
        whole["valence"][found].to_numpy(), abs=1e-5
    )
    # A still image is a one-frame clip.
    still = Predictor(model).predict(_face(0.5, 240, scale=0.5))
    assert len(still) == 1 and still["valence"].notna().all()


@pytest.mark.parametrize(
    ("name", "kwargs", "aligned", "message"),
    [
        ("test_anclaf_sa", {}, False, "attends within each window only"),
        ("test_aegcd", {"z_mode": "add", "audio_features": 75}, False, "records no fill"),
        ("test_affwildnet", {"landmarks": True}, True, "drop --aligned"),
    ],
)
def test_models_predict_cannot_feed_are_refused_with_what_they_need(name, kwargs, aligned,
                                                                    message):  # fmt: skip
    model = create_model(name, image_size=32, **kwargs)
    with pytest.raises(ValueError, match=message):
        Predictor(model, aligned=aligned)


def test_command_writes_csv_and_parquet_and_goes_on_after_bad_input(checkpoint, photos, tmp_path,
                                                                     capsys):  # fmt: skip
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    inputs = [str(photos / "astronaut.png"), str(tmp_path / "bad.jpg"), str(tmp_path / "gone.png")]
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"table{suffix}"
        assert cli(["predict", str(checkpoint), *inputs, "--out", str(out), "--no-progress"]) == 0
        table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert table["error"].fillna("").str.split(":").str[0].tolist() == [
            "", "unreadable image", "no such file"]  # fmt: skip
        assert table.loc[0, "valence"] == pytest.approx(table.loc[0, "valence"])  # a number
    printed = capsys.readouterr().out
    assert "3 input(s), 1 frame(s) read, 1 face(s)" in printed and "2 failure(s)" in printed
    assert cli(["predict", str(checkpoint), str(photos), "--out", str(tmp_path / "t.txt")]) == 2
    assert "write the table as .csv or .parquet" in capsys.readouterr().err


def test_an_interrupted_run_keeps_its_rows_apart_and_the_old_table_intact(checkpoint, photos,
                                                                          tmp_path, monkeypatch):  # fmt: skip
    out = tmp_path / "table.csv"
    out.write_text("an earlier table\n")

    original = Predictor.results

    def results(self, source, progress=False):  # Ctrl-C after the last frame
        yield from original(self, source, progress=progress)
        raise KeyboardInterrupt

    monkeypatch.setattr(Predictor, "results", results)
    assert cli(["predict", str(checkpoint), str(photos), "--out", str(out), "--no-progress"]) == 130
    assert out.read_text() == "an earlier table\n"
    partial = pd.read_csv(tmp_path / "table.partial.csv")
    assert len(partial) == 4  # every row made before the stop
    assert not list(tmp_path.glob(".*.tmp"))


def test_command_draws_pictures_figures_and_abaw_files(checkpoint, photos, tmp_path, capsys):

    video = _smile_video(tmp_path / "clip.avi", np.linspace(0, 1, 12))
    out = tmp_path / "out"
    argv = ["predict", str(checkpoint), str(video), str(photos / "astronaut.png"), "--out",
            str(out / "table.csv"), "--annotate", str(out / "pictures"), "--plots",
            str(out / "plots"), "--abaw", str(out / "abaw"), "--edition", "abaw3",
            "--no-progress"]  # fmt: skip
    assert cli(argv) == 0
    annotated = cv2.VideoCapture(str(out / "pictures" / "clip.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert cv2.imread(str(out / "pictures" / "astronaut.png")).shape == (512, 512, 3)
    assert cv2.imread(str(out / "plots" / "clip.png")) is not None
    assert not (out / "plots" / "astronaut.png").exists()  # figures are per video
    va = (out / "abaw" / "VA_Estimation_Challenge" / "clip.txt").read_text().splitlines()
    assert va[0] == "valence,arousal" and len(va) == 1 + 12  # a line per frame
    assert "ABAW abaw3 files" in capsys.readouterr().out
    assert cli([*argv[:-3], "--no-progress"]) == 2  # --abaw without --edition
    assert "--abaw needs --edition" in capsys.readouterr().err


def test_faces_found_in_a_background_thread_give_the_same_table(checkpoint, photos, tmp_path):
    import threading

    from holistic.inference.predictor import _in_background

    video = _smile_video(tmp_path / "v.avi", np.linspace(0, 1, 8))
    inputs = [str(video), str(photos / "astronaut.png"), str(tmp_path / "missing.png")]
    plain = Predictor(checkpoint, batch_size=3).predict(inputs)
    ahead = Predictor(checkpoint, batch_size=3, prefetch=4).predict(inputs)
    pd.testing.assert_frame_equal(plain, ahead)

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(_in_background(failing(), 2))
    before = threading.active_count()
    stream = _in_background(iter(range(1000)), 2)
    assert next(stream) == 0
    stream.close()  # the consumer stops early: the thread ends too
    assert threading.active_count() == before
