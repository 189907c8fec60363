"""Checks at start that need the federation: what a config asks of the shards must be there, so
a run stops before training, naming the key, instead of training or evaluating on nothing.

Ranges of single values are checked earlier, when the config loads (``Range`` in
:mod:`holistic.training.config`); these checks relate a config to the shards' manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from holistic.schema import LabelSpace, resolve_aus, resolve_compounds, resolve_expressions
from holistic.training.config import ConfigError

__all__ = [
    "check_audio_sources",
    "check_compound_targets",
    "check_eval_split",
    "check_served",
    "check_target_served",
]


def _chosen(federation: Any, datasets: Sequence[str] | None) -> dict[str, Any]:
    entries = federation.manifest["datasets"]
    return {name: entry for name, entry in entries.items() if datasets is None or name in datasets}


def check_served(
    federation: Any, space: LabelSpace, datasets: Sequence[str] | None, split: str = "train"
) -> list[int]:
    """The run's vocabularies must be labelled by the datasets it trains on, not merely by other
    datasets of the federation (the run would train that head on nothing: loss 0 throughout).

    Returns:
        The AUs of the vocabulary none of these datasets labels (they learn only through the
        coupling losses).

    Raises:
        ConfigError: naming model.expressions or model.aus and data.datasets.
    """
    try:
        return federation.check_serves(space, split, datasets=datasets)
    except ValueError as error:
        chosen = "every dataset" if datasets is None else f"data.datasets={list(datasets)}"
        raise ConfigError(
            f"config keys model.expressions / model.aus with {chosen}: {error}. Choose "
            "vocabularies these datasets label, or add datasets that label them"
        ) from None


_RESOLVERS = {"expr": resolve_expressions, "compound": resolve_compounds, "au": resolve_aus}


def check_target_served(
    federation: Any,
    task: str,
    vocabulary: Any,
    datasets: Sequence[str],
    split: str = "train",
    key: str = "target.vocabulary",
) -> None:
    """A fine-tuning target's classes (or AUs) must be labelled in the ``split`` of the datasets
    the run trains on; otherwise the new head would train on nothing (loss 0 throughout).

    Raises:
        ConfigError: naming ``key`` (or data.datasets), with what the datasets label.
    """
    try:
        resolved = _RESOLVERS[task](vocabulary)
    except ValueError as error:
        raise ConfigError(f"config key {key}: {error}") from None
    chosen = _chosen(federation, datasets)
    contents = [entry["splits"].get(split, {}) for entry in chosen.values()]
    if not any(content.get("tasks", {}).get(task) for content in contents):
        raise ConfigError(
            f"config key data.datasets: none of {sorted(chosen) or list(datasets)} has {task} "
            f"labels in its {split} split; name datasets that label the target"
        )
    if task == "au":
        labelled = {int(au) for content in contents for au in content.get("aus", {})}
    else:
        labelled = {
            name for content in contents for name in content.get("classes", {}).get(task, {})
        }
    if labelled and not labelled & set(resolved):
        raise ConfigError(
            f"config key {key}: none of {list(resolved)} is labelled in the {split} split of "
            f"{sorted(chosen)} (they label {sorted(labelled)}); choose a vocabulary they label"
        )


def check_eval_split(
    federation: Any,
    split: str | Sequence[str],
    datasets: Sequence[str] | None,
    key: str = "data.eval_split",
) -> None:
    """At least one of the run's datasets must have the evaluation split (or one of the splits
    in order of preference), or the report would be empty.

    Raises:
        ConfigError: naming ``key``, with the splits each dataset has.
    """
    preferences = [split] if isinstance(split, str) else list(split)
    chosen = _chosen(federation, datasets)
    if any(name in entry["splits"] for entry in chosen.values() for name in preferences):
        return
    have = {name: sorted(entry["splits"]) for name, entry in chosen.items()}
    raise ConfigError(
        f"config key {key}: no dataset of the run has a split {' or '.join(preferences)} "
        f"(their splits: {have}); name one they have, or preferences such as [validation, test]"
    )


def check_compound_targets(federation: Any, targets: Sequence[Any], key: str = "targets") -> None:
    """Each zero-shot target (``dataset``, ``split``, ``compounds``) must name a dataset of the
    federation, a split it has, with compound labels of the target's vocabulary.

    Raises:
        ConfigError: naming ``key[i]`` and its field, with what the federation offers.
    """
    entries = federation.manifest["datasets"]
    offered = sorted(
        f"{name}/{split}"
        for name, entry in entries.items()
        for split, content in entry["splits"].items()
        if content.get("tasks", {}).get("compound")
    )
    for index, target in enumerate(targets):
        where = f"{key}[{index}]"
        entry = entries.get(target.dataset)
        if entry is None:
            raise ConfigError(
                f"config key {where}.dataset: {target.dataset!r} is not in the federation "
                f"{federation.location}; compound labels are in {offered or 'none of its datasets'}"
            )
        content = entry["splits"].get(target.split)
        if content is None:
            raise ConfigError(
                f"config key {where}.split: {target.dataset} has no {target.split!r} split "
                f"(it has {sorted(entry['splits'])})"
            )
        try:
            vocabulary = resolve_compounds(target.compounds)
        except ValueError as error:
            raise ConfigError(f"config key {where}.compounds: {error}") from None
        labelled = set(content.get("classes", {}).get("compound", {}))  # empty: not recorded
        if not content.get("tasks", {}).get("compound"):
            raise ConfigError(
                f"config key {where}: {target.dataset}/{target.split} has no compound labels; "
                f"they are in {offered or 'none of the datasets'}"
            )
        if labelled and not labelled & set(vocabulary):
            raise ConfigError(
                f"config key {where}.compounds: none of the classes {list(vocabulary)} is "
                f"labelled in {target.dataset}/{target.split} (it labels {sorted(labelled)})"
            )


def check_audio_sources(
    federation: Any,
    datasets: Sequence[str] | None,
    split: str = "train",
    features: Sequence[str] = ("egemaps",),
    image_size: int | None = None,
) -> None:
    """Every dataset the run trains on must have per-frame audio features, for a model that
    takes them (AEG-CD-SZ, A/V-MT-VGG-GRU, DiLaST on audio, AViGaS-Net).

    Args:
        federation: The run's federation.
        datasets: The datasets it trains on (None: all).
        split: The split they train on.
        features: The audio features the model reads (its ``input_spec.audio`` names), for the
            message (default: AEG-CD-SZ's).
        image_size: For a model that reads audio images (``mel_image``): their side, which each
            dataset's audio must have been converted with (``AudioSettings.mel_image_size``;
            None: not checked).

    Raises:
        ConfigError: naming the datasets whose ``split`` has no audio (manifest ``tasks.audio``)
            and those that have it; or those whose audio has no audio images of ``image_size``,
            with the conversion setting that stores them.
    """
    entries = federation.manifest["datasets"]
    federation.check_datasets(datasets)
    chosen = [
        name
        for name, entry in entries.items()
        if (datasets is None or name in datasets) and split in entry["splits"]
    ]
    lacking = [
        name for name in chosen if not entries[name]["splits"][split].get("tasks", {}).get("audio")
    ]
    if lacking:
        having = sorted(set(chosen) - set(lacking))
        raise ConfigError(
            f"config key model.name: the model takes audio ({', '.join(features)}), but the "
            f"{split} split of {sorted(lacking)} has no audio features (the manifest's "
            f"tasks.audio); train it on datasets with audio ({having or 'none in data.datasets'}) "
            "via data.datasets, convert the videos with their audio tracks (holistic federate "
            "affwild2 --option audio=DIR, without --no-audio), or use a model without audio"
        )
    if image_size is None:
        return
    made = {name: federation.audio_settings([name]).mel_image_size for name in chosen}
    other = {name: size for name, size in made.items() if size != image_size}
    if other:
        stored = ", ".join(
            f"{name}: {f'{size} px' if size else 'none'}" for name, size in sorted(other.items())
        )
        raise ConfigError(
            f"config key model.name: the model reads {image_size}x{image_size} audio images "
            f"(mel_image), but the audio of {sorted(other)} stores other ones or none ({stored}): "
            f"rebuild their shards with the audio setting mel_image_size={image_size} (holistic "
            f"federate ... --audio-setting mel_image_size={image_size}, or holistic synth ... "
            f"--federate ... --audio-setting mel_image_size={image_size}), or build the model "
            "for the images they store (model.kwargs.audio_image_size)"
        )
