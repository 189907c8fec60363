"""Frame model vs sequence models on the synthetic temporal world, and under its control, over
seeds: the temporal table of docs/results.md.

Each (setting, model, seed) is one run of its recipe (``facebehaviornet.py``, ``cnn_rnn.py`` or
``decision_fusion.py``) in its own process, on the setting's federation; every model is scored
on the same validation frames (every frame of every held-out video once). A finished run with
the same command line is reused, an interrupted one resumes, a changed one starts again. The
summary (mean ± sd over seeds per setting, each model's difference to the frame model) replaces
the temporal section of the results page and leaves the rest of the page as it is.

With ``corruptions`` every entry's saved model is then scored again on the validation videos
with one modality corrupted in known segments (``holistic.data.corruption``), on the corrupted
and on the intact frames, and the gate of a gated fusion (AVi-GaS) is read on both
(``holistic.evaluation.gates``); each result is cached next to its run.

    python recipes/temporal_comparison.py \
        --config recipes/configs/temporal_comparison/synthetic.yaml    # (make results-temporal)
    python recipes/temporal_comparison.py \
        --config recipes/configs/temporal_comparison/audiovisual.yaml  # (make results-audiovisual)

Reads top to bottom: config -> run every (setting, model, seed) -> corrupt -> summarise ->
write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from holistic.data.atomic import write_atomic
from holistic.data.corruption import ModalityCorruption
from holistic.data.federation import Federation
from holistic.evaluation import to_jsonable
from holistic.evaluation.ablation import (
    Claim,
    Column,
    ablation_bars,
    check_claims,
    claim_reading,
    column_values,
    gate_shift_verdict,
    reading,
    replace_section,
    summary_table,
    training_time_line,
)
from holistic.evaluation.evaluate import ALL
from holistic.evaluation.gates import (
    corrupted_predictions,
    corruption_metrics,
    gate_summary,
    gate_timeline,
)
from holistic.models import label_space_of, load_model
from holistic.models.checkpoint import checkpoint_files
from holistic.training.config import ConfigError, PositiveFloat, Seed, load_config
from holistic.training.experiments import run_recipe
from holistic.training.latent import native_va_metrics

RECIPES = Path(__file__).resolve().parent
#: ``{model:<entry>}`` and ``{run:<entry>}`` in an entry's arguments.
REFERENCE = re.compile(r"\{(model|run):([^{}]*)\}")
#: The split the corruptions are scored on.
CORRUPTION_SPLIT = "validation"


@dataclass
class Setting:
    name: str  # folder name under output_dir
    label: str  # heading in the tables
    federation: str


@dataclass
class Entry:
    name: str  # folder name under output_dir/<setting>
    label: str  # row label
    recipe: str = ""  # a script in recipes/ (none with reuse)
    # The recipe's arguments; {federation}, {seed}, {out}, {model:<entry>} and {run:<entry>}
    # (the model folder, or the run folder, of an earlier entry's run of the same setting and
    # seed: {run:dilast}/stages/frame/model) are filled in.
    args: list[str] = field(default_factory=list)
    # Read another (earlier) entry's run instead of training: e.g. one stage of a curriculum.
    reuse: str | None = None
    # The results file in the run folder (stages/S-8/metrics.json); the model scored under the
    # corruptions is the model/ folder next to it.
    metrics: str = "metrics.json"


@dataclass
class Corruption:
    name: str  # file and figure names
    label: str  # heading in the tables
    # A holistic.data.corruption.ModalityCorruption: {modality: audio, kind: noise, ...}
    corruption: dict[str, Any] = field(default_factory=dict)


#: What the temporal section says it measures (the default of ComparisonConfig.intro).
TEMPORAL_INTRO = (
    "Does a sequence model beat a frame model where labels depend on time, and does the gain "
    "vanish where they do not? Settings (docs/synth_labels.md, temporal dynamics): {settings}. "
    "Every model is scored on the same frames: every frame of every validation video once."
)


@dataclass
class ComparisonConfig:
    settings: list[Setting] = field(default_factory=list)
    seeds: list[Seed] = field(default_factory=lambda: [0, 1, 2])
    entries: list[Entry] = field(default_factory=list)  # in order: members before their fusion
    baseline: str = "frame"  # the entry the others are compared with
    columns: list[Column] = field(default_factory=list)
    # The papers' claims, each read on every setting: better/than, best_of/expected name entries.
    claims: list[Claim] = field(default_factory=list)
    output_dir: str = "runs/temporal"
    results: str = "docs/results.md"
    section: str = "temporal"  # the marked section of the results page this writes
    figures: str = "docs/images/results"
    command: str = "make results-temporal"
    title: str = "Temporal models on the synthetic temporal world"  # the section's heading
    intro: str = TEMPORAL_INTRO  # what it measures; {settings} is filled in
    # Every entry's saved model scored again on each setting's validation videos under each
    # corruption (none: nothing is scored again); the results are cached next to the runs.
    corruptions: list[Corruption] = field(default_factory=list)
    corruption_datasets: list[str] | None = None  # None: every dataset with a validation split
    # The scales of the corrupted scores' native columns (as latent_adversarial.py's).
    native_scale: dict[str, PositiveFloat] = field(default_factory=lambda: {"afewva": 10.0})
    gate_timeline: str | None = None  # a corruption: a gated model's gate over one video


def parse_args(argv: list[str] | None) -> tuple[ComparisonConfig, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    config = load_config(ComparisonConfig, args.config, args.overrides)
    names = [entry.name for entry in config.entries]
    if not names or len(set(names)) != len(names) or config.baseline not in names:
        raise ConfigError(
            f"config keys entries, baseline: unique entry names including the baseline "
            f"{config.baseline!r}, got {names}"
        )
    if not config.settings:
        raise ConfigError("config key settings: name at least one federation to compare on")
    trained = [entry.name for entry in config.entries if entry.reuse is None]
    for index, entry in enumerate(config.entries):
        if entry.reuse is not None and (entry.reuse not in trained or entry.recipe or entry.args):
            raise ConfigError(
                f"config key entries[{index}] ({entry.name}): reuse names an entry that trains "
                f"({trained}) and then takes no recipe or args"
            )
        if entry.reuse is None and not entry.recipe:
            raise ConfigError(
                f"config key entries[{index}] ({entry.name}): give a recipe, or reuse an "
                "earlier entry's run"
            )
        earlier = [e.name for e in config.entries[:index] if e.reuse is None]
        for match in REFERENCE.finditer(" ".join(entry.args)):  # runs in the entries' order
            if match[2] not in earlier:
                raise ConfigError(
                    f"config key entries[{index}] ({entry.name}): {match[0]} must name an "
                    f"earlier entry that trains ({earlier or 'none'})"
                )
    headers = [column.header for column in config.columns]
    try:
        check_claims(config.claims, names, headers)
    except ValueError as error:
        raise ConfigError(f"config key {error}") from None
    corruptions = [corruption.name for corruption in config.corruptions]
    if len(set(corruptions)) != len(corruptions):
        raise ConfigError(f"config key corruptions: unique names, got {corruptions}")
    for index, corruption in enumerate(config.corruptions):
        try:
            ModalityCorruption.from_json(corruption.corruption, f"corruptions[{index}].corruption")
        except ValueError as error:
            raise ConfigError(f"config key {error}") from None
    if config.gate_timeline is not None and config.gate_timeline not in corruptions:
        raise ConfigError(
            f"config key gate_timeline: name a corruption ({corruptions}), got "
            f"{config.gate_timeline!r}"
        )
    return config, args.config


def run(config: ComparisonConfig, setting: Setting, entry: Entry, seed: int) -> Path:
    """Run (or reuse, or resume) one entry's recipe; return its output folder (for an entry
    that reuses another's run, that run's folder)."""
    root = Path(config.output_dir) / setting.name
    if entry.reuse is not None:
        return root / entry.reuse / f"seed{seed}"
    out = root / entry.name / f"seed{seed}"
    fields = {"federation": setting.federation, "seed": seed, "out": out}
    argv = [_fill(arg, fields, root, seed) for arg in entry.args]
    return run_recipe(RECIPES / entry.recipe, argv, out)


def _fill(arg: str, fields: dict, root: Path, seed: int) -> str:
    def folder(match: re.Match) -> str:  # another entry's run (or its model) of this seed
        run = root / match[2] / f"seed{seed}"
        return str(run / "model" if match[1] == "model" else run)

    arg = REFERENCE.sub(folder, arg)
    for key, value in fields.items():  # not str.format: YAML flow maps have braces too
        arg = arg.replace(f"{{{key}}}", str(value))
    return arg


def main(argv: list[str] | None = None) -> dict:
    config, config_path = parse_args(argv)
    results: dict[str, dict[str, list[dict]]] = {}
    trained = [entry for entry in config.entries if entry.reuse is None]
    runs = [(s, e, seed) for s in config.settings for seed in config.seeds for e in trained]
    start = time.perf_counter()
    for i, (setting, entry, seed) in enumerate(runs, 1):
        print(f"[{i}/{len(runs)}] {setting.name} {entry.name} seed {seed}", flush=True)
        run(config, setting, entry, seed)
    print(f"all runs ready in {time.perf_counter() - start:.0f} s", flush=True)
    for setting in config.settings:  # rows in the entries' order, reused runs read again
        for entry in config.entries:
            for seed in config.seeds:
                out = run(config, setting, entry, seed)  # finished: reused, not trained again
                document = json.loads((out / entry.metrics).read_text())
                document["seed"] = seed
                results.setdefault(setting.label, {}).setdefault(entry.label, []).append(document)
    # Every saved model again, under each corruption (scored once, then read from its cache).
    start = time.perf_counter()
    corrupted = {setting.label: corrupt(config, setting) for setting in config.settings
                 if config.corruptions}  # fmt: skip
    if corrupted:
        print(f"scored under the corruptions in {time.perf_counter() - start:.0f} s", flush=True)

    page = Path(config.results)
    section = results_markdown(config, config_path, results, page.parent, corrupted)
    page.parent.mkdir(parents=True, exist_ok=True)
    old = page.read_text() if page.is_file() else "# Results\n"
    page.write_text(replace_section(old, config.section, section))
    summary = Path(config.output_dir) / "results.json"
    summary.write_text(json.dumps(to_jsonable(results), indent=1, allow_nan=False))
    if corrupted:
        scores = Path(config.output_dir) / "corruptions.json"
        scores.write_text(json.dumps(to_jsonable(corrupted), indent=1, allow_nan=False))
    print(f"written the {config.section!r} section of {page} (and {summary})")
    return results


def corrupt(config: ComparisonConfig, setting: Setting) -> dict[str, dict]:
    """Every entry's saved model of every seed under each corruption: ``{corruption name:
    {"frames": {"all" | "intact" | "corrupted": {entry label: [document per seed]}}, "gates":
    {entry label: [gate summary per seed]}}}`` (gates: the entries whose model has them)."""
    out: dict[str, dict] = {}
    jobs = [
        (c, e, seed) for c in config.corruptions for e in config.entries for seed in config.seeds
    ]
    for i, (corruption, entry, seed) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {setting.name} {entry.name} seed {seed} under "
              f"{corruption.name}", flush=True)  # fmt: skip
        scored = corrupted_run(config, setting, entry, seed, corruption)
        per = out.setdefault(corruption.name, {"frames": {}, "gates": {}})
        for group, document in scored["frames"].items():
            per["frames"].setdefault(group, {}).setdefault(entry.label, []).append(document)
        if scored["gates"] is not None:
            per["gates"].setdefault(entry.label, []).append(scored["gates"])
    return out


def corrupted_run(
    config: ComparisonConfig, setting: Setting, entry: Entry, seed: int, corruption: Corruption
) -> dict[str, Any]:
    """One entry's saved model of one seed (the ``model/`` next to its ``metrics`` file) on the
    setting's validation videos under ``corruption``: ``{"key", "frames": {"all", "intact",
    "corrupted": {"metrics", "native_scale", "seed"}}, "gates"}``, gates the mean face gate on
    intact and corrupted frames and its shift (a model with gates; else None), and for such a
    model its per-frame gates in a CSV beside (:func:`_cache`). Read from the cache when the
    corruption, the datasets, the scales and the model's weights are those it was scored with.
    """
    out = run(config, setting, entry, seed)
    folder = out / Path(entry.metrics).parent / "model"
    spec = ModalityCorruption.from_json(corruption.corruption)
    weights = hashlib.sha256(checkpoint_files(folder)[0].read_bytes()).hexdigest()
    key = {"corruption": spec.to_json(), "split": CORRUPTION_SPLIT,
           "datasets": config.corruption_datasets, "native_scale": config.native_scale,
           "weights_sha256": weights}  # fmt: skip
    cache = _cache(out, entry, corruption)
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached
    model, federation = load_model(folder), Federation(setting.federation)
    space = label_space_of(model)
    where = {"split": CORRUPTION_SPLIT, "datasets": config.corruption_datasets}
    gated = getattr(model, "fusion", None) == "gate"  # AVi-GaS: its face gate, frame by frame
    result = corrupted_predictions(model, federation, space, spec, gates=gated, **where)
    groups = {"all": result.predictions, "intact": result.subset(False),
              "corrupted": result.subset(True)}  # fmt: skip
    metrics = corruption_metrics(result, space)
    frames = {
        group: {"metrics": metrics[group], "seed": seed,
                "native_scale": native_va_metrics(predictions, config.native_scale)}
        for group, predictions in groups.items()
    }  # fmt: skip
    gates = None
    if gated:  # the same pass's gates
        summary = gate_summary(result.gates).gates.loc[ALL]
        gates = {"metrics": {ALL: {"gate": summary.to_dict()}}, "seed": seed}
        write_atomic(cache.with_suffix(".gates.csv"), result.gates.to_csv(index=False))
    scored = to_jsonable({"key": key, "frames": frames, "gates": gates})
    write_atomic(cache, json.dumps(scored, indent=1, allow_nan=False))
    return scored


def _cache(out: Path, entry: Entry, corruption: Corruption) -> Path:
    """Where one entry's scores under one corruption are kept: in its run folder ``out``
    (entries that read one run's stages share it)."""
    return out / "corruptions" / f"{entry.name}-{corruption.name}.json"


def results_markdown(
    config: ComparisonConfig,
    config_path: Path | None,
    results: dict[str, dict[str, list[dict]]],
    page_dir: Path,
    corrupted: dict[str, dict[str, dict]] | None = None,
) -> str:
    import os

    baseline = next(e.label for e in config.entries if e.name == config.baseline)
    seconds = sum(
        d.get("train_seconds", 0.0) for rows in results.values() for docs in rows.values()
        for d in docs
    )  # fmt: skip
    settings = "; ".join(f"**{s.label}**: `{s.federation}`" for s in config.settings)
    labels = {e.name: e.label for e in config.entries}
    lines = [
        f"## {config.title}",
        "",
        f"<!-- Generated by `{config.command}` (= `python recipes/temporal_comparison.py "
        f"--config {config_path}`); edits by hand are overwritten. -->",
        "",
        config.intro.replace("{settings}", settings)
        + " Cells are mean ± sample standard deviation over seeds "
        f"{', '.join(map(str, config.seeds))}.",
        "",
        "- Models (recipe and arguments of each):",
        *[
            f"  - **{e.label}**: `{e.recipe} {' '.join(e.args)}`"
            if e.reuse is None
            else f"  - **{e.label}**: `{e.metrics}` of the **{labels[e.reuse]}** run"
            for e in config.entries
        ],
        training_time_line(seconds, torch.get_num_threads()),
        "",
    ]
    for setting in config.settings:
        rows = results[setting.label]
        slug = f"{config.section}-{setting.name}"
        plot = ablation_bars(rows, config.columns, Path(config.figures) / f"{slug}.png",
                             title=f"{setting.label} (mean ± sd over seeds)")  # fmt: skip
        lines += [
            f"### {setting.label}",
            "",
            summary_table(rows, config.columns),
            "",
            f"![{setting.label}]({Path(os.path.relpath(plot, page_dir)).as_posix()})",
            "",
            f"Difference to **{baseline}** (difference of the means; **bold** beyond two "
            "standard errors, Welch):",
            "",
            summary_table(rows, config.columns, baseline=baseline),
            "",
            *reading(rows, config.columns, baseline),
        ]
        if config.claims:
            lines += claim_reading(
                rows, config.columns, [c.relabelled(labels) for c in config.claims]
            )
        if corrupted:
            lines += corruption_markdown(config, setting, corrupted[setting.label], page_dir)
    return "\n".join(lines)


#: The columns of a gate table: the mean face gate of each seed's summary (:func:`corrupt`).
GATE_COLUMNS = [
    Column(ALL, "gate", "gate_video_intact", "Face gate, intact frames"),
    Column(ALL, "gate", "gate_video_corrupted", "Face gate, corrupted frames"),
    Column(ALL, "gate", "gate_shift", "Shift (corrupted − intact)"),
]


def corruption_markdown(
    config: ComparisonConfig, setting: Setting, corrupted: dict[str, dict], page_dir: Path
) -> list[str]:
    """Markdown lines of one setting's corruptions (:func:`corrupt`): per corruption the
    columns on the corrupted and on the intact frames and the claims read on the corrupted
    ones; per model with gates, its mean face gate under each corruption, whether it moves
    toward the intact modality, and its gate over one video (``gate_timeline``)."""
    import os

    import pandas as pd

    labels = {e.name: e.label for e in config.entries}
    claims = [c.relabelled(labels) for c in config.claims]
    datasets = ", ".join(config.corruption_datasets or ["every dataset"])
    lines = [
        "#### Under a corrupted modality",
        "",
        f"Every model's saved weights scored again on the {CORRUPTION_SPLIT} videos "
        f"({datasets}) with one modality corrupted in known segments "
        "(`holistic.data.corruption`): the same frames and the same noise for every model; a "
        "model that does not read the corrupted modality is unchanged, and scored on the same "
        "frames. Each corruption's tables give the columns above on its corrupted frames and on "
        "the intact frames of the same videos (mean ± sd over seeds). Compare models within a "
        "table: the corrupted and the intact frames are other frames, with other labels, so a "
        "model the corruption leaves unchanged scores differently on them too.",
        "",
    ]
    for corruption in config.corruptions:
        frames = corrupted[corruption.name]["frames"]
        what = ", ".join(f"{key}={value}" for key, value in corruption.corruption.items())
        lines += [
            f"##### {corruption.label}",
            "",
            f"`{what}`. On the corrupted frames:",
            "",
            summary_table(frames["corrupted"], config.columns),
            "",
        ]
        if claims:
            lines += claim_reading(frames["corrupted"], config.columns, claims)
        lines += ["On the intact frames:", "", summary_table(frames["intact"], config.columns), ""]
    gated = [e for e in config.entries
             if any(e.label in c["gates"] for c in corrupted.values())]  # fmt: skip
    for entry in gated:
        rows = {c.label: corrupted[c.name]["gates"][entry.label] for c in config.corruptions}
        lines += [
            f"##### The gate of {entry.label}",
            "",
            "The mean face gate ZG over the frames (the audio gets 1 − ZG; docs/evaluation.md, "
            '"Modality corruption and gate analyses"), mean ± sd over seeds:',
            "",
            summary_table(rows, GATE_COLUMNS, first_header="Corruption"),
            "",
            "Does it move toward the intact modality (a corrupted face should lower it, "
            "corrupted audio raise it; the standard error is the sd over seeds / √n)?",
            "",
        ]
        for corruption in config.corruptions:
            modality = ModalityCorruption.from_json(corruption.corruption).modality
            shifts = column_values(rows[corruption.label], GATE_COLUMNS[2])
            corrupted_part = "face" if modality == "video" else "audio"
            lines.append(
                f"- *{corruption.label}* ({corrupted_part} corrupted): "
                f"{gate_shift_verdict(shifts, modality)}."
            )
        lines.append("")
        if config.gate_timeline is not None:
            corruption = next(c for c in config.corruptions if c.name == config.gate_timeline)
            seed = config.seeds[0]
            out = run(config, setting, entry, seed)  # finished: reused
            table = _cache(out, entry, corruption).with_suffix(".gates.csv")
            name = f"{config.section}-{setting.name}-{entry.name}-{corruption.name}.png"
            title = (
                f"{entry.label}, seed {seed}, under {corruption.label} (corrupted frames shaded)"
            )
            plot = gate_timeline(pd.read_csv(table), Path(config.figures) / name, title=title)
            lines += [
                f"![{entry.label}'s face gate over one video under {corruption.label}, seed "
                f"{seed}]({Path(os.path.relpath(plot, page_dir)).as_posix()})",
                "",
            ]
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
