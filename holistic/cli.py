"""The ``holistic`` command line: ``holistic federate SOURCE ROOT --out OUT`` and friends.

Errors a user can act on (a missing checkpoint or manifest, an unknown dataset or split, a
crafted manifest, a damaged shard) are one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _parse_options(pairs: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"holistic: --option expects key=value, got {pair!r}")
        options[key.strip().replace("-", "_")] = value
    return options


def _check_options(adapter, options: dict[str, str]) -> None:
    parameters = inspect.signature(adapter.scan).parameters
    accepted = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise SystemExit(
            f"holistic: the {adapter.name} source has no option(s) {unknown}; "
            f"it accepts {accepted or 'none'}"
        )


def _federate(args: argparse.Namespace) -> int:
    from holistic.data.adapters import ADAPTERS
    from holistic.data.adapters._base import ScanError
    from holistic.data.manifest import ManifestError
    from holistic.data.shards import federate

    adapter = ADAPTERS[args.source]
    options = _parse_options(args.option)
    if args.images is not None:
        options["images"] = args.images
    _check_options(adapter, options)
    try:
        audio_settings = _audio_settings(args.audio_setting)
    except ValueError as error:
        return _fail("federate", error)
    try:
        result = federate(
            adapter,
            args.root,
            args.out,
            splits=args.split or None,
            options=options,
            size=args.size,
            shard_size=args.shard_size,
            quality=args.quality,
            workers=args.workers,
            align_boxes=not args.no_align_boxes,
            audio=not args.no_audio,
            audio_settings=audio_settings,
            progress=not args.no_progress,
        )
    except (ScanError, ManifestError) as error:  # a bad source, or a bad manifest/rejects in OUT
        return _fail("federate", error)
    print(_summary(result, Path(args.out)))
    return 0


def _audio_settings(pairs: Sequence[str] | None) -> Any:
    """``--audio-setting key=value`` pairs as :class:`~holistic.data.audio.AudioSettings` (None:
    the defaults)."""
    import dataclasses

    from holistic.data.audio import AUDIO_SETTINGS, AudioSettings

    if not pairs:
        return None
    kinds = {
        f.name: type(getattr(AUDIO_SETTINGS, f.name)) for f in dataclasses.fields(AudioSettings)
    }
    values: dict[str, Any] = {}
    for key, text in _parse_options(pairs).items():
        if key not in kinds:
            raise ValueError(f"--audio-setting {key}: unknown; known: {sorted(kinds)}")
        try:
            values[key] = kinds[key](text)
        except ValueError:
            raise ValueError(
                f"--audio-setting {key}={text!r}: not a {kinds[key].__name__}"
            ) from None
    return AudioSettings(**values)


def _summary(result, out: Path) -> str:
    lines = [
        f"{result.dataset}: {result.shards_written} shard(s) written, "
        f"{result.shards_skipped} already done, {result.seconds:.1f} s"
    ]
    for split, entry in result.entry["splits"].items():
        tasks = ", ".join(f"{task} {count}" for task, count in sorted(entry["tasks"].items()))
        rejects = ", ".join(f"{reason} {n}" for reason, n in sorted(entry["rejects"].items()))
        lines.append(
            f"  {split}: {entry['samples']} samples in {len(entry['shards'])} shard(s)"
            f" [{tasks or 'no labels'}]; rejects: {rejects or 'none'}"
        )
    lines.append(f"manifest: {out / 'manifest.json'}   rejects: {out / 'rejects.jsonl'}")
    return "\n".join(lines)


def federate_world(
    world_dir: str | Path,
    out: str | Path,
    *,
    sources: Sequence[str] | None = None,
    size: int = 112,
    shard_size: int = 1000,
    workers: int = 1,
    audio_settings: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert every source of a written world with ``holistic federate``'s machinery.

    ``audio_settings`` (:class:`~holistic.data.audio.AudioSettings`; None: the defaults) apply to
    the runs that convert audio (their options name an ``audio`` folder: the Aff-Wild2 videos),
    so changing them rebuilds only those shards.

    Returns ``{source: {"samples": n, "rejects": {reason: n}}}`` over all runs of each source.
    """
    from holistic.data.adapters import ADAPTERS
    from holistic.data.shards import federate

    world_dir = Path(world_dir)
    world = json.loads((world_dir / "world.json").read_text())
    summary: dict[str, Any] = {}
    for name, entry in world["sources"].items():
        if sources is not None and name not in sources:
            continue
        totals: dict[str, Any] = {"samples": 0, "rejects": Counter()}
        for run in entry["federate"]:
            result = federate(
                ADAPTERS[run["source"]],
                world_dir / entry["root"],
                out,
                splits=[run["split"]] if run["split"] else None,
                options={
                    key: value.replace("{root}", str(world_dir / entry["root"]))
                    for key, value in run["options"].items()
                },
                align_boxes=run.get("align_boxes", True),
                size=size,
                shard_size=shard_size,
                workers=workers,
                audio_settings=audio_settings if "audio" in run["options"] else None,
                progress=progress,
            )
            for split_name, split in result.entry["splits"].items():
                if run["split"] in (None, split_name):
                    totals["samples"] += split["samples"]
                    totals["rejects"].update(split["rejects"])
        summary[name] = {"samples": totals["samples"], "rejects": dict(totals["rejects"])}
    return summary


def _synth(args: argparse.Namespace) -> int:
    from holistic.synth.world import write_world

    try:
        audio_settings = _audio_settings(args.audio_setting)
    except ValueError as error:
        return _fail("synth", error)
    world = write_world(
        args.out, args.preset, args.seed, sources=args.source, progress=not args.no_progress
    )
    print(f"synthetic world ({args.preset}, seed {args.seed}) written to {args.out}")
    if args.federate is None:
        for name, entry in world["sources"].items():
            for run in entry["federate"]:
                root = Path(args.out) / name
                options = " ".join(
                    f"--option {k}={v.replace('{root}', str(root))}"
                    for k, v in run["options"].items()
                )
                split = f" --split {run['split']}" if run["split"] else ""
                if "audio" in run["options"]:
                    options += "".join(f" --audio-setting {p}" for p in args.audio_setting or ())
                print(f"  holistic federate {name} {root} --out FED{split} {options}")
        return 0
    summary = federate_world(
        args.out,
        args.federate,
        workers=args.workers,
        audio_settings=audio_settings,
        progress=not args.no_progress,
    )
    for name, entry in summary.items():
        planted = world["sources"][name]["planted_rejects"]
        print(f"  {name}: {entry['samples']} samples, rejects {entry['rejects'] or 'none'}"
              f" (planted {planted or 'none'})")  # fmt: skip
    print(f"federation: {args.federate}")
    return 0


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message tells the user what to do: printed without a traceback."""
    from holistic.data.damage import ShardError
    from holistic.data.federation import SelectionError
    from holistic.data.manifest import ManifestError

    return FileNotFoundError, ManifestError, SelectionError, ShardError


def _fail(command: str, error: Exception) -> int:
    print(f"holistic {command}: {error}", file=sys.stderr)
    return 2


def _evaluate(args: argparse.Namespace) -> int:
    try:
        return _run_evaluation(args)
    except _user_errors() as error:
        return _fail("evaluate", error)


def _run_evaluation(args: argparse.Namespace) -> int:
    from holistic.data.federation import Federation
    from holistic.evaluation.run import check_selection, evaluate_model, write_evaluation
    from holistic.evaluation.tables import metrics_markdown
    from holistic.models import label_space_of, load_model

    model = load_model(args.checkpoint)
    space = label_space_of(model)
    federation = Federation(str(args.shards))
    splits = args.split.split(",")
    check_selection(federation, splits, args.dataset)
    predictions = evaluate_model(
        model,
        federation,
        space,
        split=splits,
        datasets=args.dataset,
        image_size=args.image_size,
        batch_size=args.batch_size,
        window=None if args.window == 0 else (args.window or "spec"),
        stride=args.stride,
        tolerate_damage=args.tolerate_damage,
    )
    if not len(predictions):
        print(f"holistic evaluate: no {args.split} sample in {args.shards}", file=sys.stderr)
        return 2
    out = args.out or Path(args.checkpoint).parent / f"eval-{args.split.replace(',', '-')}"
    summary = {"eval_frames_without_audio": predictions.frames_without_audio}
    metrics = write_evaluation(
        out,
        predictions,
        space,
        summary=summary if model.input_spec.audio else None,
        title=f"Evaluation of {args.checkpoint}",
    )
    print(metrics_markdown(metrics, space, per_class=False))
    if predictions.frames_without_audio:
        print(
            f"holistic evaluate: {predictions.frames_without_audio} frame(s) had no audio; the "
            "model was fed the stand-in its input spec records for them (AEG-CD-SZ: the "
            "training mean; A/V-MT-VGG-GRU: silence, masked)",
            file=sys.stderr,
        )
    if predictions.damaged_shards:
        print(
            f"holistic evaluate: {len(predictions.damaged_shards)} damaged shard(s), their "
            "damaged samples left out (--tolerate-damage); listed in the report",
            file=sys.stderr,
        )
    print(f"report: {Path(out) / 'report.md'}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from holistic.data.federation import Federation
    from holistic.data.verify import verify_federation, verify_table

    try:
        checks = verify_federation(
            Federation(args.federation),
            datasets=args.dataset,
            splits=args.split,
            progress=not args.no_progress,
        )
    except _user_errors() as error:
        return _fail("verify", error)
    if args.json:
        print(json.dumps([check.to_json() for check in checks], indent=1))
    else:
        print(verify_table(checks))
    return 1 if any(check.problems for check in checks) else 0


def build_parser() -> argparse.ArgumentParser:
    from holistic.data.adapters import ADAPTERS

    parser = argparse.ArgumentParser(
        prog="holistic", description="Multi-task facial affect analysis."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    federate = commands.add_parser(
        "federate",
        help="convert a dataset in its native layout into WebDataset shards + manifest",
        description="Convert a dataset in its native layout into WebDataset shards, "
        "OUT/manifest.json and OUT/rejects.jsonl. Re-running skips finished shards.",
    )
    federate.add_argument("source", choices=sorted(ADAPTERS), help="the source's native format")
    federate.add_argument("root", type=Path, help="the dataset's root folder")
    federate.add_argument("--out", type=Path, required=True, help="the federation folder")
    federate.add_argument("--split", action="append", help="convert only this split (repeatable)")
    federate.add_argument("--images", type=Path, help="image folder, if not the default")
    federate.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a source-specific option (repeatable; see docs/datasets/)",
    )
    federate.add_argument("--size", type=int, default=112, help="face crop size in pixels")
    federate.add_argument("--shard-size", type=int, default=1000, help="samples per shard")
    federate.add_argument("--quality", type=int, default=95, help="JPEG quality")
    federate.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="writer processes"
    )
    federate.add_argument(
        "--no-align-boxes",
        action="store_true",
        help="crop face boxes square instead of aligning them with dlib's 5-point model",
    )
    federate.add_argument(
        "--no-audio", action="store_true", help="do not store per-frame audio features"
    )
    federate.add_argument(
        "--audio-setting",
        action="append",
        metavar="KEY=VALUE",
        help="how to make the audio features (repeatable), e.g. mel_bands=128, sample_rate="
        "22050, mel_image_size=32 (also store the AViGaS audio image): holistic.data.audio."
        "AudioSettings; recorded in the manifest, and other settings rebuild the shards with "
        "audio",
    )
    federate.add_argument("--no-progress", action="store_true", help="no progress bar")
    federate.set_defaults(run=_federate)

    synth = commands.add_parser(
        "synth",
        help="write the synthetic affect world in the real datasets' native formats",
        description="Write the synthetic affect world: a synthetic counterpart of every "
        "supported dataset, in its native layout, with known ground truth. With --federate, "
        "also convert it into shards.",
    )
    synth.add_argument("out", type=Path, help="folder for the native trees and world.json")
    synth.add_argument(
        "--preset",
        choices=["tiny", "demo", "full", "temporal", "temporal-control", "audiovisual"],
        default="demo",
        help="tiny/demo/full: every source; temporal, temporal-control: long Aff-Wild2 and "
        "AFEW-VA videos whose VA lags the face, and their control (docs/synth_labels.md); "
        "audiovisual: Aff-Wild2 videos with their voice and AFEW-VA clips, VA read from the "
        "current face (docs/synth_world.md)",
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--source", action="append", help="write only this source (repeatable)")
    synth.add_argument("--federate", type=Path, help="also convert the world into this folder")
    synth.add_argument("--workers", type=int, default=1, help="writer processes for --federate")
    synth.add_argument(
        "--audio-setting",
        action="append",
        metavar="KEY=VALUE",
        help="with --federate: how to make the audio features (repeatable, as holistic federate's "
        "--audio-setting), e.g. mel_image_size=32 to store the AViGaS audio image",
    )
    synth.add_argument("--no-progress", action="store_true")
    synth.set_defaults(run=_synth)

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a checkpoint per dataset x task on a federation split",
        description="Per dataset x task metrics (Table VI style) of a saved model on the shards: "
        "metrics.json, report.md and plots.",
    )
    evaluate.add_argument("checkpoint", type=Path, help="a model saved by a recipe (model/)")
    evaluate.add_argument("shards", help="the federation (folder, URL prefix or pipe: template)")
    evaluate.add_argument(
        "--split",
        default="validation",
        help="the split, or splits in order of preference per dataset: validation,test",
    )
    evaluate.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    evaluate.add_argument(
        "--image-size", type=int, help="crop side fed to the model (default: its input spec)"
    )
    evaluate.add_argument("--batch-size", type=int, default=128)
    evaluate.add_argument(
        "--window",
        type=int,
        help="clip models: frames per evaluation window (default: the model's clip length; "
        "0: each video run whole, the recurrent state carried over the video)",
    )
    evaluate.add_argument(
        "--stride",
        type=int,
        help="clip models: frames between window starts (default: the window, no overlap); "
        "overlapping predictions are averaged per frame",
    )
    evaluate.add_argument("--out", type=Path, help="output folder (default: next to the model)")
    evaluate.add_argument(
        "--tolerate-damage",
        action="store_true",
        help="skip the damaged samples of shards that do not hold what the manifest says (cut "
        "short, members that do not parse), count them and list them in the report, instead "
        "of stopping with an error",
    )
    evaluate.set_defaults(run=_evaluate)

    from holistic.inference import command as predict

    predict.add_parser(commands)

    verify = commands.add_parser(
        "verify",
        help="check every shard of a federation against its manifest",
        description="Read every shard of a federation and check it against manifest.json: "
        "presence, byte size and SHA-256 (where recorded), sample counts, and that every JSON "
        "record parses and every JPEG decodes. Prints one line per shard; exits 1 when "
        "anything is wrong.",
    )
    verify.add_argument("federation", help="the federation (folder, URL prefix or pipe: template)")
    verify.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    verify.add_argument("--split", action="append", help="only this split (repeatable)")
    verify.add_argument("--json", action="store_true", help="print the rows as JSON")
    verify.add_argument("--no-progress", action="store_true", help="no progress bar")
    verify.set_defaults(run=_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
