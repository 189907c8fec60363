"""``holistic predict``: a checkpoint on images, folders, globs and videos -> a table, and the
pictures and challenge files made from it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``predict`` command to the ``holistic`` parser's sub-commands."""
    predict = commands.add_parser(
        "predict",
        help="predict VA, expressions and AUs on images, folders and videos -> a table",
        description="Run a saved model on images, folders (recursively), glob patterns and "
        "videos (mp4, avi, mkv, webm, mov): one row per face per frame (docs/inference.md "
        "lists the columns). Faces are found with dlib and aligned as the shards are; a frame "
        "without a face, or an input that cannot be read, is a row with its error.",
    )
    predict.add_argument("checkpoint", type=Path, help="a model saved by a recipe (model/)")
    predict.add_argument("inputs", nargs="+", help="images, folders, globs or videos")
    predict.add_argument("--out", type=Path, required=True, help="the table: .csv or .parquet")
    predict.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: a GPU if present)")
    predict.add_argument("--batch-size", type=int, default=32, help="faces per model call")
    predict.add_argument(
        "--every", type=int, default=1, help="videos: predict every N-th frame only"
    )
    predict.add_argument(
        "--aligned",
        action="store_true",
        help="the inputs are aligned face crops already (no detection; the image is the face)",
    )
    predict.add_argument(
        "--landmarks", action="store_true", help="add the 5 alignment points of each face"
    )
    predict.add_argument(
        "--audio",
        type=Path,
        metavar="DIR",
        help="models that take audio: a folder of the videos' extracted tracks (<video "
        "stem>.wav, .flac or .ogg); default: each video's own audio stream",
    )
    predict.add_argument(
        "--annotate",
        type=Path,
        metavar="DIR",
        help="write an annotated copy of every image and video here (box, face id, top "
        "expression, a valence-arousal dot)",
    )
    predict.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="write a figure per video here (valence and arousal over time, expression "
        "timeline, AU heat map)",
    )
    predict.add_argument(
        "--abaw",
        type=Path,
        metavar="DIR",
        help="write the ABAW challenge files of the videos here (needs --edition)",
    )
    predict.add_argument("--edition", help="the ABAW edition of --abaw, e.g. abaw6")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.set_defaults(run=run)
    return predict


def run(args: argparse.Namespace) -> int:
    from holistic.inference.predictor import Predictor
    from holistic.inference.table import TableWriter

    writer = None
    try:
        if args.abaw and not args.edition:
            raise ValueError("--abaw needs --edition (abaw1 ... abaw8)")
        predictor = Predictor(
            args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            aligned=args.aligned,
            every=args.every,
            landmarks=args.landmarks,
            audio=args.audio,
        )
        writer = TableWriter(args.out, predictor.columns)
        results = predictor.results(args.inputs, progress=not args.no_progress)
        with writer, _Pictures(args.annotate, args.every) as pictures:
            for frame, rows in results:
                for row in rows:
                    writer.write(row)
                pictures.add(frame, rows)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as error:
        print(f"holistic predict: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = (
            f"; the rows so far are in {writer.partial}" if writer and writer.rows_written else ""
        )
        print(f"holistic predict: stopped{kept}", file=sys.stderr)
        return 130
    for line in predictor.summary.lines():
        print(line)
    print(f"table: {args.out} ({writer.rows_written} rows)")
    if args.annotate:
        print(f"annotated copies: {args.annotate}")
    if args.plots or args.abaw:
        try:
            _from_table(args)
        except ValueError as error:
            print(f"holistic predict: {error}", file=sys.stderr)
            return 2
    return 0


class _Pictures:
    """Annotated copies of the inputs, written as their frames come: one video writer open at a
    time (the current video's), images one by one. ``folder`` None: nothing is written."""

    def __init__(self, folder: Path | None, every: int) -> None:
        self.folder, self.every = folder, every
        self.names: dict[str, Path] = {}
        self.video: Any = None
        self.video_input: str | None = None

    def __enter__(self) -> _Pictures:
        return self

    def add(self, frame: Any, rows: list[dict]) -> None:
        from holistic.inference.render import AnnotatedVideoWriter, write_annotated_image

        if self.folder is None or frame.image is None:
            return
        if not frame.video:
            write_annotated_image(self._target(frame.input, Path(frame.input).suffix), frame.image,
                                  rows)  # fmt: skip
            return
        if self.video_input != frame.input:
            self._close()
            fps = frame.fps / self.every if frame.fps > 0 else 30.0 / self.every
            height, width = frame.image.shape[:2]
            target = self._target(frame.input, ".mp4")
            self.video = AnnotatedVideoWriter(target, fps, (width, height)).__enter__()
            self.video_input = frame.input
        self.video.write(frame.image, rows)

    def _target(self, name: str, suffix: str) -> Path:
        """A file in the folder named after the input; ``-2``, ``-3``, ... when two inputs share a
        name."""
        stem, number = Path(name).stem, 1
        target = self.folder / f"{stem}{suffix.lower() or '.png'}"
        while target in self.names.values():
            number += 1
            target = self.folder / f"{stem}-{number}{suffix.lower() or '.png'}"
        self.names[name] = target
        return target

    def _close(self, error: BaseException | None = None) -> None:
        if self.video is not None:
            self.video.__exit__(type(error) if error else None, error, None)
        self.video, self.video_input = None, None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self._close(error)


def _from_table(args: argparse.Namespace) -> None:
    """The figures per video and the ABAW files, from the finished table."""
    import pandas as pd

    from holistic.inference.sources import is_video, video_info
    from holistic.inference.table import predicted_rows

    table = pd.read_parquet(args.out) if args.out.suffix == ".parquet" else pd.read_csv(args.out)
    videos = [name for name in dict.fromkeys(table["input"]) if is_video(name)]
    predicted = predicted_rows(table)
    if args.plots:
        from holistic.inference.render import plot_video

        for name in videos:
            rows = table[table["input"] == name]
            if (predicted & (table["input"] == name)).any():
                path = plot_video(rows, Path(args.plots) / f"{Path(name).stem}.png")
                print(f"figure: {path}")
    if args.abaw:
        from holistic.inference.abaw import write_submission

        counts = {}
        for name in videos:
            try:
                frames = video_info(name)[1]
            except ValueError:  # unreadable: its rows say so
                continue
            if frames:  # 0: the container does not say
                counts[Path(name).stem] = frames
        rows = table[table["input"].isin(videos)]
        summary = write_submission(rows, args.abaw, edition=args.edition, frame_counts=counts)
        print(f"ABAW {summary['edition']} files ({', '.join(summary['tasks'])}): {args.abaw}")
