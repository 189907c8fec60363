"""A trained model on new images and videos: :class:`Predictor`, the code under
``holistic predict``.

Per frame: detect the faces (dlib's HOG detector; skipped with ``aligned=True``), align each to
the model's template at the size the shards are written (the model's input spec says which
template), resize to the model's input as evaluation does, then run the model on batches of
faces gathered across frames and inputs. Rows come out in input and frame order as soon as
their batch is done, so a table of any length streams to disk in constant memory.

The table's columns are :mod:`holistic.inference.columns`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from holistic.inference.audio import FrameAudio
from holistic.inference.columns import (
    BOX_COLUMNS,
    au_column,
    compound_column,
    expression_column,
    landmark_columns,
    occurrence_column,
    table_columns,
)
from holistic.inference.sources import Frame, expand_inputs, read_frames
from holistic.inference.table import column_dtypes
from holistic.inference.tracks import FaceTracker

__all__ = ["NO_FACE", "Face", "PredictionSummary", "Predictor"]

#: The ``error`` of a row whose frame has no face.
NO_FACE = "no face"
#: Side of the aligned crops before the resize to the model's input (the shards' crop size).
CROP_SIZE = 112


@dataclass
class PredictionSummary:
    """What a prediction run read and found (the command prints it at the end)."""

    inputs: int = 0
    frames: int = 0
    faces: int = 0
    frames_without_face: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input, error)
    # A model that takes audio: faced frames it heard silence on, and the videos whose audio
    # could not be read (input, why).
    frames_without_audio: int | None = None
    silent: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary in a few lines of text."""
        lines = [
            f"{self.inputs} input(s), {self.frames} frame(s) read, {self.faces} face(s), "
            f"{self.frames_without_face} frame(s) without a face, {len(self.failures)} failure(s)"
        ]
        lines += [f"  {name}: {error}" for name, error in self.failures]
        if self.frames_without_audio:
            lines.append(
                f"{self.frames_without_audio} frame(s) with a face but no audio (the model heard "
                "its input for silence there: stills and videos without audio)"
            )
            lines += [f"  {name}: no audio: {why}" for name, why in self.silent]
        return lines


@dataclass
class Face:
    """A face found in a frame, ready for the model.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in the frame's pixels.
        score: the detector's score (NaN for aligned inputs).
        points: ``[5, 2]`` alignment points in the frame's pixels (None: a box crop or an
            aligned input).
        crop: RGB ``uint8`` at the model's input size, as evaluation feeds a shard's crop.
        landmarks: ``float32 [68, 2]`` in [-1, 1] crop coordinates, for models that take them
            (as the clip loader gives them); None otherwise.
    """

    box: tuple[float, float, float, float]
    score: float
    points: np.ndarray | None
    crop: np.ndarray
    landmarks: np.ndarray | None = None


@dataclass
class _Pending:
    """A row waiting for its batch: its table values, and its face (None: no face)."""

    row: dict[str, Any]
    face: Face | None = None
    track: tuple[str, int] | None = None  # (input, face id) of a video face: its stream
    audio: tuple[np.ndarray, bool] | None = None  # its frame's audio input, heard or not


class Predictor:
    """A checkpoint's model on images, folders, videos, arrays or frame iterators.

    Args:
        model: a checkpoint folder (``model/`` of a run) or a loaded model.
        device: ``"cpu"``, ``"cuda"``, ...; default: a GPU when there is one.
        batch_size: faces per model call.
        aligned: the inputs are already aligned face crops (as the shards hold): no detection,
            the whole image is the face.
        every: in videos, predict every ``every``-th frame only (the others are not decoded).
        landmarks: add the 5 alignment points of each face (``lm_x0 ... lm_y4``).
        detector: a :class:`~holistic.data.faces.FaceDetector` (default: dlib's, finding faces
            of about 40 pixels and up, detecting on frames shrunk to 640 pixels).
        max_gap: seconds a video's face track may go undetected and keep its ``face_id``.
        prefetch: frames read, detected and aligned in a background thread ahead of the model
            (0: in turn with it). Decoding, dlib and the model release Python's lock for their
            work, so on several cores the two overlap (``benchmarks/predict_throughput.py``
            measures what it gives).
        au_thresholds: per-AU occurrence thresholds ``{au: t}``; default: the checkpoint's
            (chosen on validation data by the recipe), else 0.5.
        audio: for a model that takes audio, a folder of the videos' extracted tracks
            (``<video stem>.wav``, ``.flac`` or ``.ogg``); a video without one there, or None:
            the video's own audio stream (:mod:`holistic.inference.audio`).

    Clip models (AffWildNet, CNN-1RNN, CNN-3RNN, MT-VGG-GRU, ANCLaF-S, the fusion ensembles,
    the audio-visual models) run on each video face track as a stream: the faces of a track go through ``model.forward_stream`` in order, the
    recurrent state carried from batch to batch (as ``holistic evaluate --window 0`` runs a
    whole video); a still image is a one-frame clip. Models that take 68 landmarks get them
    from dlib's 68-point model. Models that take audio (AEG-CD-SZ, A/V-MT-VGG-GRU, AVi-CaS,
    AVi-GaS) hear each video's audio at every frame's time, its features made as the model's
    were; stills and videos without audio give them silence, counted in :attr:`summary`.

    Raises:
        ValueError: a model this predictor cannot serve (a clip model without a stream form,
            landmarks with ``aligned``, audio without the fill it needs, ``audio`` for a model
            that takes none), naming what it needs.
    """

    def __init__(
        self,
        model: str | Path | torch.nn.Module,
        *,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        aligned: bool = False,
        every: int = 1,
        landmarks: bool = False,
        detector: Any = None,
        max_gap: float = 1.0,
        au_thresholds: Mapping[int, float] | None = None,
        prefetch: int = 0,
        audio: str | Path | None = None,
    ) -> None:
        from holistic.data.transforms import build_eval_transform
        from holistic.models import load_model

        if batch_size < 1 or every < 1 or prefetch < 0:
            raise ValueError(
                f"batch_size and every must be >= 1 and prefetch >= 0, got {batch_size}, "
                f"{every}, {prefetch}"
            )
        self.prefetch = int(prefetch)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if isinstance(model, str | Path):
            self.checkpoint = str(model)
            model = load_model(model, map_location=self.device)
        else:
            self.checkpoint = None
        self.model = model.to(self.device).eval()
        self.spec, self.tasks = model.input_spec, dict(model.tasks)
        self.batch_size, self.aligned, self.every = int(batch_size), bool(aligned), int(every)
        self.audio = _frame_audio(self.spec, audio)
        _check_servable(self.model, self.aligned, self.device, self.audio)
        self.landmarks, self.max_gap = bool(landmarks), float(max_gap)
        self.thresholds = _au_thresholds(self.tasks.get("au", ()), au_thresholds, self.checkpoint)
        self.columns = table_columns(self.tasks, landmarks=self.landmarks)
        empty = {"string": "", "Int64": None, "float64": math.nan}  # a row without predictions
        self._empty_row = {c: empty[kind] for c, kind in column_dtypes(self.columns).items()}
        self.crop_size = max(CROP_SIZE, self.spec.image_size)
        self.transform = build_eval_transform(self.spec.image_size)
        if detector is None and not self.aligned:
            from holistic.data.faces import FaceDetector

            detector = FaceDetector(upsample=1, max_side=640, with_landmarks=self.spec.landmarks)
        self.detector = detector
        self.summary = PredictionSummary()
        self._tracker: FaceTracker | None = None
        self._tracked: str | None = None  # the input the tracker follows
        self._states: dict[tuple[str, int], Any] = {}  # each track's recurrent state

    # -- public ------------------------------------------------------------------------------

    def predict(self, source: Any, *, progress: bool = False) -> Any:
        """Predictions on ``source`` as a pandas DataFrame (:mod:`~holistic.inference.columns`).

        ``source``: a path (image, video, folder or glob), a list of them, an RGB ``uint8
        [H, W, 3]`` array (an image named ``"array"``), or an iterable of such arrays (the
        frames of one video named ``"frames"``, without times; give
        :class:`~holistic.inference.sources.Frame` objects for names and times).
        """
        from holistic.inference.table import typed_table

        return typed_table(self.rows(source, progress=progress), self.columns)

    def rows(self, source: Any, *, progress: bool = False) -> Iterator[dict[str, Any]]:
        """The table's rows one at a time, in input and frame order (see :meth:`predict`);
        :attr:`summary` counts them."""
        for _, rows in self.results(source, progress=progress):
            yield from rows

    def results(
        self, source: Any, *, progress: bool = False
    ) -> Iterator[tuple[Frame, list[dict[str, Any]]]]:
        """Each frame of ``source`` with its rows (see :meth:`predict`), in order: what the
        pictures of ``holistic predict`` are drawn from. A frame is held only until its batch is
        done (at most ``batch_size`` faces or frames), so memory does not grow with a video."""
        self.summary, self._tracked, self._states = PredictionSummary(), None, {}
        if self.audio is not None:
            self.audio.reset()
        frames = self._frames(source)
        if progress:
            from tqdm.auto import tqdm

            frames = tqdm(frames, unit="frame", desc="predict", smoothing=0.1)
        pending: list[tuple[Frame, list[_Pending]]] = []
        faces = 0
        found = ((frame, self._faces(frame)) for frame in frames)
        if self.prefetch:
            found = _in_background(found, self.prefetch)
        for frame, items in found:
            pending.append((frame, items))
            faces += sum(item.face is not None for item in items)
            if faces >= self.batch_size or len(pending) >= self.batch_size:
                yield from self._run(pending)
                pending, faces = [], 0
        yield from self._run(pending)
        if self.audio is not None:
            self.summary.frames_without_audio = self.audio.frames_without_audio
            self.summary.silent = list(self.audio.missing.items())

    # -- frames and faces --------------------------------------------------------------------

    def _frames(self, source: Any) -> Iterator[Frame]:
        if isinstance(source, np.ndarray):
            self.summary.inputs = 1
            yield Frame("array", image=source)
            return
        items = iter([source] if isinstance(source, str | Path) else source)
        first = next(items, None)
        if first is None:
            return
        items = itertools.chain([first], items)
        if isinstance(first, str | Path):
            paths = expand_inputs(items)
            self.summary.inputs = len(paths)
            yield from read_frames(paths, self.every)
            return
        self.summary.inputs = 1
        for index, item in enumerate(items):
            if isinstance(item, Frame):
                yield item
            elif index % self.every == 0:
                yield Frame("frames", index, image=np.asarray(item), video=True)

    def _faces(self, frame: Frame) -> list[_Pending]:
        """The rows of one frame: one per face, or one without a face."""
        row = {"input": frame.input, "frame": frame.index, "time": frame.time}
        if frame.image is None:
            self.summary.failures.append((frame.input, frame.error))
            return [_Pending({**row, "error": frame.error})]
        self.summary.frames += 1
        try:
            found = self.faces(frame.image)
        except ValueError as error:  # e.g. an image of the wrong shape
            self.summary.failures.append((frame.input, str(error)))
            return [_Pending({**row, "error": f"unreadable image: {error}"})]
        if not found:
            self.summary.frames_without_face += 1
            return [_Pending({**row, "error": NO_FACE})]
        ids = self._face_ids(frame, [face.box for face in found])
        heard = self.audio.at(frame) if self.audio is not None else None
        items = []
        for face_id, face in zip(ids, found, strict=True):
            values = {"face_id": face_id, "score": face.score, "error": ""}
            values.update(zip(BOX_COLUMNS, map(float, face.box), strict=True))
            if self.landmarks:
                points = face.points.reshape(-1) if face.points is not None else [math.nan] * 10
                values.update(zip(landmark_columns(), map(float, points), strict=True))
            track = (frame.input, face_id) if frame.video else None
            items.append(_Pending({**row, **values}, face, track, heard))
        self.summary.faces += len(items)
        return items

    def faces(self, image: np.ndarray) -> list[Face]:
        """The faces of an RGB image, largest first: detected and aligned to the model's template
        (or, with ``aligned``, the image itself), at the model's input size.

        Raises:
            ValueError: not an RGB(A) ``uint8 [H, W, 3|4]`` image.
        """
        from holistic.data.faces import (
            align_face,
            alignment_template,
            crop_box,
            five_points_from_dlib5,
            resize_aligned,
            similarity_transform,
            transform_points,
        )
        from holistic.data.transforms import to_model_input

        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 [H, W, 3] image, got {image.dtype} "
                             f"{tuple(image.shape)}")  # fmt: skip
        image = image[..., :3]
        if self.aligned:
            height, width = image.shape[:2]
            crop = to_model_input(resize_aligned(image, self.crop_size), self.transform)
            return [Face((0.0, 0.0, float(width), float(height)), math.nan, None, crop)]
        found = []
        for box, score in self.detector.detect_scored(image):
            if self.spec.alignment == "box":
                crop, matrix = crop_box(image, box, self.crop_size)
                points = None
            else:
                points = five_points_from_dlib5(self.detector.landmarks5(image, box))
                matrix = similarity_transform(points, alignment_template(self.crop_size))
                crop, _ = align_face(image, five=points, size=self.crop_size)
            landmarks = None
            if self.spec.landmarks:  # the clip loader's [-1, 1] crop coordinates
                inside = transform_points(self.detector.landmarks68(image, box), matrix)
                landmarks = (inside / self.crop_size * 2 - 1).astype(np.float32)
            crop = to_model_input(crop, self.transform)
            found.append(Face(box, score, points, crop, landmarks))
        return found

    def _face_ids(self, frame: Frame, boxes: list) -> list[int]:
        """Track ids in a video (:class:`~holistic.inference.tracks.FaceTracker`, one per
        input); 0, 1, ... (largest face first) in an image."""
        if not frame.video:
            return list(range(len(boxes)))
        if self._tracked != frame.input:
            fps = frame.fps if frame.fps > 0 else 30.0  # frames of an iterator: assume 30
            self._tracker = FaceTracker(max_gap=max(self.every, round(self.max_gap * fps)))
            self._tracked = frame.input
        return self._tracker.update(frame.index, boxes)

    # -- the model ---------------------------------------------------------------------------

    @torch.no_grad()
    def _run(
        self, pending: list[tuple[Frame, list[_Pending]]]
    ) -> Iterator[tuple[Frame, list[dict[str, Any]]]]:
        faced = [item for _, items in pending for item in items if item.face is not None]
        outputs: dict[str, np.ndarray] = {}
        if faced:
            outputs = self._clip_outputs(faced) if self.spec.is_clip else self._outputs(faced)
        face = 0
        for frame, items in pending:
            rows = []
            for item in items:
                row = dict(self._empty_row)
                row.update(item.row)
                if item.face is not None:
                    row.update(self._prediction(outputs, face))
                    face += 1
                rows.append(row)
            yield frame, rows

    def _outputs(self, faced: list[_Pending]) -> dict[str, np.ndarray]:
        """An image model's outputs on the faces, one batch."""
        from holistic.data.stages import batch_images

        images = batch_images(np.stack([item.face.crop for item in faced]), normalise=True)
        heard = self._heard(faced)  # as evaluation feeds frames: audio (and mask) positional
        raw = self.model(images.to(self.device), *heard.values())
        return {task: value.float().cpu().numpy() for task, value in raw.items()}

    def _heard(self, faced: Sequence[_Pending]) -> dict[str, torch.Tensor]:
        """The audio inputs of the faces' frames, ``{"audio": [N, ...], "audio_mask": [N]}``
        (no mask for raw-feature context; nothing for a model without audio)."""
        if self.audio is None:
            return {}
        heard = {"audio": torch.from_numpy(np.stack([item.audio[0] for item in faced]))}
        if self.audio.masked:
            heard["audio_mask"] = torch.tensor([item.audio[1] for item in faced])
        return {key: value.to(self.device) for key, value in heard.items()}

    def _clip_outputs(self, faced: list[_Pending]) -> dict[str, np.ndarray]:
        """A clip model's outputs on the faces: each track's faces, in order, as the next
        frames of its stream (its state carried from the last batch); a still is a 1-frame
        clip of its own."""
        from holistic.data.stages import batch_images

        groups: dict[Any, list[int]] = {}
        for i, item in enumerate(faced):
            groups.setdefault(item.track if item.track is not None else ("still", i), []).append(i)
        if faced[0].track is not None and any(k[0] != faced[0].track[0] for k in self._states):
            self._states = {k: v for k, v in self._states.items() if k[0] == faced[0].track[0]}
        outputs: dict[str, np.ndarray] = {}
        for key, rows in groups.items():
            clip = np.stack([faced[i].face.crop for i in rows])[None]
            inputs = {
                key: value[None] for key, value in self._heard([faced[i] for i in rows]).items()
            }
            if self.spec.landmarks:
                points = np.stack([faced[i].face.landmarks for i in rows])[None]
                inputs["landmarks"] = torch.from_numpy(points).to(self.device)
            images = batch_images(clip, normalise=True).to(self.device)
            raw, state = self.model.forward_stream(images, self._states.get(key), **inputs)
            if key[0] != "still":
                self._states[key] = state
            for task, value in raw.items():
                values = value[0].float().cpu().numpy()
                target = outputs.setdefault(task, np.zeros((len(faced), *values.shape[1:])))
                target[rows] = values
        return outputs

    def _prediction(self, outputs: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "va" in outputs and "va" in self.tasks:
            values["valence"], values["arousal"] = map(float, outputs["va"][i])
        for task, column in (("expr", expression_column), ("compound", compound_column)):
            if task in outputs and task in self.tasks:
                probabilities = _softmax(outputs[task][i])
                names = self.tasks[task]
                values.update(zip(map(column, names), map(float, probabilities), strict=True))
                key = "expression" if task == "expr" else "compound"
                values[key] = names[int(probabilities.argmax())]
        if "au" in outputs and "au" in self.tasks:
            probabilities = 1.0 / (1.0 + np.exp(-outputs["au"][i].astype(np.float64)))
            for au, p, t in zip(self.tasks["au"], probabilities, self.thresholds, strict=True):
                values[au_column(au)] = float(p)
                values[occurrence_column(au)] = int(p >= t)
        return values


def _in_background(items: Iterator[Any], size: int) -> Iterator[Any]:
    """``items`` produced by a background thread, at most ``size`` ahead of the consumer; an
    exception there is raised here, and a consumer that stops early stops the thread."""
    import queue
    import threading

    done, stop = object(), threading.Event()
    ahead: queue.Queue = queue.Queue(maxsize=size)

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ahead.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put((done, None))
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            ahead.put((done, error))

    thread = threading.Thread(target=produce, name="holistic-predict-faces", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ahead.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to put, then let it end
            with contextlib.suppress(queue.Empty):
                ahead.get_nowait()
            thread.join(timeout=0.05)


def _frame_audio(spec: Any, tracks: str | Path | None) -> FrameAudio | None:
    """What the model hears (:class:`~holistic.inference.audio.FrameAudio`), or None for a
    model without audio.

    Raises:
        ValueError: ``tracks`` for a model that takes no audio, or as ``FrameAudio``.
    """
    if not spec.audio:
        if tracks is not None:
            raise ValueError(f"--audio {tracks}: this model takes no audio; leave it out")
        return None
    return FrameAudio(spec.audio, is_clip=spec.is_clip, tracks=tracks)


def _check_servable(
    model: torch.nn.Module, aligned: bool, device: torch.device, audio: FrameAudio | None
) -> None:
    """Refuse, naming what is missing, a model :class:`Predictor` cannot feed."""
    spec = model.input_spec
    if spec.landmarks and aligned:
        raise ValueError(
            "this model takes 68 landmarks per frame, which --aligned inputs do not have; let "
            "holistic predict detect the faces (drop --aligned)"
        )
    if not spec.is_clip:
        return
    if not hasattr(model, "forward_stream"):
        raise ValueError(
            f"{type(model).__name__} takes clips but has no stream form (forward_stream) to run "
            "on a face track; evaluate it on a federation (holistic evaluate)"
        )
    side = spec.image_size
    probe = {"landmarks": torch.zeros(1, 1, 68, 2, device=device)} if spec.landmarks else {}
    if audio is not None:  # one silent frame
        probe["audio"] = torch.from_numpy(audio.silence[None, None]).to(device)
        probe["audio_mask"] = torch.zeros(1, 1, dtype=torch.bool, device=device)
    with torch.no_grad():
        model.forward_stream(torch.zeros(1, 1, 3, side, side, device=device), None, **probe)


def _au_thresholds(
    aus: Sequence[int], given: Mapping[int, float] | None, checkpoint: str | None
) -> np.ndarray:
    """One threshold per AU of the model: ``given``, else the checkpoint's, else 0.5."""
    saved: Mapping[Any, float] = {}
    if given is None and checkpoint is not None:
        from holistic.models.checkpoint import read_model_json

        saved = read_model_json(checkpoint).get("au_thresholds") or {}
    chosen = {int(k): float(v) for k, v in (given if given is not None else saved).items()}
    unknown = sorted(set(chosen) - set(aus))
    if unknown:
        raise ValueError(f"au_thresholds: AUs {unknown} are not the model's {list(aus)}")
    return np.array([chosen.get(int(au), 0.5) for au in aus], dtype=np.float64)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
