"""recipes/temporal_comparison.py: every (setting, model, seed) run once with its own recipe,
members before their fusion, the same frames scored for all, and the temporal section of the
results page written without touching the rest of it."""

import json

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_shards
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.data.audio import AudioSettings
from holistic.data.corruption import ModalityCorruption
from holistic.data.federation import Federation
from holistic.evaluation.ablation import (
    gate_shift_verdict,
    replace_section,
    sections,
    training_time_line,
)
from holistic.evaluation.gates import (
    corrupted_predictions,
    corruption_metrics,
    gate_analysis,
    gate_summary,
)
from holistic.models import label_space_of, load_model
from holistic.training.config import ConfigError, load_config


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("temporal")
    return tiny_shards(out, 4, ["affwild2"], 32, shard_size=6)


def _outputs(tmp_path):
    """Where a comparison in ``tmp_path`` writes: its runs, the results page, the figures."""
    return {"output_dir": str(tmp_path / "runs"), "results": str(tmp_path / "docs/results.md"),
            "figures": str(tmp_path / "docs/images")}  # fmt: skip


def _config(tmp_path, shards):
    clip = ["--config", str(ROOT / "recipes/configs/cnn_rnn/synthetic.yaml"),
            "data.federation={federation}", "data.datasets=[affwild2]", "data.clip_length=4",
            "data.batch_size=2", "data.image_size=32", "data.num_workers=0", "train.steps=3",
            "train.seed={seed}", "train.output_dir={out}"]  # fmt: skip
    config = {
        "settings": [{"name": "a", "label": "Setting A", "federation": str(shards)}],
        "seeds": [0, 1],
        "baseline": "frame",
        "entries": [
            {"name": "frame", "label": "Frame", "recipe": "facebehaviornet.py", "args": [
                "--config", str(ROOT / "recipes/configs/facebehaviornet/demo.yaml"),
                "data.federation={federation}", "data.datasets=[affwild2]", "data.batch_size=12",
                "data.image_size=32", "model.name=test_facebehaviornet", "data.num_workers=0",
                "data.eval_split=validation", "loss.weights={dm: 0, soft_coann: 0}",
                "train.steps=3", "train.seed={seed}", "train.output_dir={out}"]},
            {"name": "one", "label": "CNN-1RNN", "recipe": "cnn_rnn.py",
             "args": [*clip, "model.name=test_cnn1rnn"]},
            {"name": "three", "label": "CNN-3RNN", "recipe": "cnn_rnn.py",
             "args": [*clip, "model.name=test_cnn3rnn"]},
            {"name": "fused", "label": "Fused", "recipe": "decision_fusion.py", "args": [
                "--config", str(ROOT / "recipes/configs/decision_fusion/synthetic.yaml"),
                "federation={federation}", "datasets=[affwild2]", "name=test_decisionfusion",
                "members=[{model:one},{model:three}]", "output_dir={out}"]},
        ],
        "columns": [{"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "CCC-V"},
                    {"dataset": "affwild2", "task": "va", "metric": "ccc_a", "header": "CCC-A"}],
        **_outputs(tmp_path),
    }  # fmt: skip
    path = tmp_path / "temporal.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_runs_every_model_and_writes_its_section_only(shards, tmp_path):
    page = tmp_path / "docs" / "results.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Results\n\nThe ablation, written by another generator.\n")
    results = _recipe("temporal_comparison").main(["--config", str(_config(tmp_path, shards))])
    assert list(results) == ["Setting A"]
    rows = results["Setting A"]
    assert list(rows) == ["Frame", "CNN-1RNN", "CNN-3RNN", "Fused"]
    assert all(len(documents) == 2 for documents in rows.values())  # two seeds each
    # The frame model and the sequence models were scored on the same validation frames.
    counts = {label: docs[0]["metrics"]["affwild2"]["va"]["n"] for label, docs in rows.items()}
    assert len(set(counts.values())) == 1, counts
    # The fusion used the members of its own seed.
    fused = json.loads((tmp_path / "runs/a/fused/seed1/weights.json").read_text())
    assert fused["members"] == [str(tmp_path / f"runs/a/{m}/seed1/model") for m in ("one", "three")]
    text = page.read_text()
    assert text.startswith("# Results\n\nThe ablation, written by another generator.\n")
    section = sections(text)["temporal"]
    assert "### Setting A" in section
    assert "| Model | CCC-V | CCC-A |" in section and "±" in section
    assert "Difference to **Frame**" in section
    assert (tmp_path / "docs/images/temporal-a.png").is_file()


def test_the_ablation_keeps_the_temporal_section():
    page = replace_section("# Results\n\nold ablation\n", "temporal", "## Temporal\n\nrows")
    new = "# Results\n\nnew ablation\n"
    for name, body in sections(page).items():
        new = replace_section(new, name, body)
    assert "new ablation" in new and "old ablation" not in new
    assert sections(new) == {"temporal": "## Temporal\n\nrows"}


def test_shipped_config_loads_and_names_its_command():
    path = ROOT / "recipes/configs/temporal_comparison/synthetic.yaml"
    config = load_config(_recipe("temporal_comparison").ComparisonConfig, path)
    assert config.command == "make results-temporal" and config.seeds == [0, 1, 2]
    assert [e.name for e in config.entries][0] == config.baseline == "frame"
    assert "make results-temporal" in (ROOT / "Makefile").read_text()
    path = ROOT / "recipes/configs/temporal_comparison/latent.yaml"  # claims name its entries
    config, _ = _recipe("temporal_comparison").parse_args(["--config", str(path)])
    assert config.command == "make results-latent" and len(config.claims) == 10
    assert [c.header for c in config.columns if not c.higher_is_better] == [
        "AFEW-VA RMSE-V (±10)", "AFEW-VA RMSE-A (±10)"
    ]  # fmt: skip


def test_entries_can_read_the_stages_of_one_curriculum_run(tmp_path):
    """ANCLaF's stages (frame, S-2, SA-2) are rows read from one run per seed; native-scale
    columns (AFEW-VA's RMSE on its [-10, 10] scale) come from the runs' native_scale tables."""
    shards = tiny_shards(tmp_path / "w", 2, ["affwild2"], 32, shard_size=6)
    latent = ROOT / "recipes/configs/latent_adversarial/anclaf.yaml"
    config = {
        "settings": [{"name": "a", "label": "Setting A", "federation": str(shards)}],
        "seeds": [0],
        "baseline": "frame",
        "entries": [
            {"name": "frame", "label": "ANCLaF", "reuse": "curriculum",
             "metrics": "stages/frame/metrics.json"},
            {"name": "s2", "label": "ANCLaF-S-2", "reuse": "curriculum",
             "metrics": "stages/S-2/metrics.json"},
            {"name": "curriculum", "label": "ANCLaF-SA-2", "recipe": "latent_adversarial.py",
             "args": ["--config", str(latent), "data.federation={federation}",
                      "data.datasets=[affwild2]", "data.batch_size=6", "data.clip_batch_size=2",
                      "data.image_size=32", "data.num_workers=0", "model.name=test_anclaf",
                      "model.sequence=test_anclaf_s", "train.n_critic=1", "train.eval_stages=true",
                      "stages=[{name: frame, steps: 2}, {name: S-2, kind: sequence, length: 2,"
                      " steps: 2}, {name: SA-2, kind: sequence, length: 2, steps: 2,"
                      " attention: true, start_from: S-2}]",
                      "train.seed={seed}", "train.output_dir={out}"]},
        ],
        "columns": [{"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "CCC-V"},
                    {"dataset": "affwild2", "task": "native", "metric": "rmse_v",
                     "header": "RMSE-V", "higher_is_better": False}],
        "claims": [{"text": "the sequence helps", "better": "s2", "than": "frame"},
                   {"text": "n = 2 is best", "best_of": ["s2", "curriculum"], "expected": "s2"}],
        **_outputs(tmp_path),
        "section": "latent",
        "title": "Latent adversarial models",
        "intro": "Do the latent features help? Settings: {settings}.",
        "command": "make results-latent",
    }  # fmt: skip
    path = tmp_path / "latent.yaml"
    path.write_text(yaml.safe_dump(config))
    rows = _recipe("temporal_comparison").main(["--config", str(path)])["Setting A"]
    assert list(rows) == ["ANCLaF", "ANCLaF-S-2", "ANCLaF-SA-2"]  # the entries' order
    run = tmp_path / "runs/a/curriculum/seed0"
    assert not (tmp_path / "runs/a/frame").exists()  # read, not trained again
    assert rows["ANCLaF"][0]["stage"] == "frame" and rows["ANCLaF-S-2"][0]["stage"] == "S-2"
    assert rows["ANCLaF-SA-2"][0] == {**json.loads((run / "metrics.json").read_text()), "seed": 0}
    section = sections((tmp_path / "docs/results.md").read_text())["latent"]
    assert section.startswith("## Latent adversarial models")
    assert "| Model | CCC-V | RMSE-V |" in section
    assert "`stages/S-2/metrics.json` of the **ANCLaF-SA-2** run" in section
    assert (tmp_path / "docs/images/latent-a.png").is_file()
    native = rows["ANCLaF"][0]["native_scale"]["affwild2"]["rmse_v"]
    assert f"{native:.3f}" in section  # one seed: the mean is the value
    # The claims are read with the entries' labels; one seed leaves no difference to screen.
    assert "(lower is better in RMSE-V, higher in the others)" in section
    assert "- *the sequence helps*: no difference to screen" in section
    assert "- *n = 2 is best*: " in section and "Best per column: CCC-V: ANCLaF-S" in section
    # A claim naming no entry is refused before anything runs.
    config["claims"] = [{"text": "x", "better": "nope", "than": "frame"}]
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"claims\[0\].*no entries \['nope'\]"):
        _recipe("temporal_comparison").main(["--config", str(path)])


def test_an_entry_reusing_an_unknown_or_reused_entry_is_refused(tmp_path, shards):
    config = yaml.safe_load(_config(tmp_path, shards).read_text())
    config["entries"] += [{"name": "a", "label": "A", "reuse": "frame"},
                          {"name": "b", "label": "B", "reuse": "a"}]  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"entries\[5\] \(b\): reuse names an entry that"):
        _recipe("temporal_comparison").main(["--config", str(path)])


# --- corruptions, gates and the audio-visual comparison ---------------------------------------

LATENT = ROOT / "recipes/configs/latent_adversarial"
CORRUPTIONS = [  # 3-frame segments: the tiny videos have a few dozen frames
    {"name": "audio-noise", "label": "Audio noise",
     "corruption": {"modality": "audio", "kind": "noise", "strength": 0.5, "segment": 3,
                    "unit": "frames"}},
    {"name": "video-noise", "label": "Video noise",
     "corruption": {"modality": "video", "kind": "noise", "strength": 0.3, "segment": 3,
                    "unit": "frames"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def one_thread():
    """The tiny models run fastest on one intra-op thread on a busy machine (the recipes'
    processes too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def av_shards(tmp_path_factory):
    """Tiny Aff-Wild2 videos with their voice and 32 px audio images (train + validation)."""
    out = tmp_path_factory.mktemp("av")
    return tiny_shards(out, 2, ["affwild2"], 32, shard_size=6,
                       audio_settings=AudioSettings(mel_image_size=32))  # fmt: skip


def _latent(config, *extra):
    return ["--config", str(LATENT / config), "data.federation={federation}",
            "data.datasets=[affwild2]", "data.batch_size=6", "data.clip_batch_size=2",
            "data.image_size=32", "data.num_workers=0", "train.eval_stages=true",
            *extra, "train.seed={seed}", "train.output_dir={out}"]  # fmt: skip


def _av_config(tmp_path, shards, **changes):
    """A tiny audio-visual comparison: DiLaST on faces and on audio (frame, then SA-2), the
    face model's frame stage as a row of its own, and AVi-GaS on the two frame stages."""
    sa2 = "{name: SA-2, kind: sequence, length: 2, steps: 2, attention: true}"
    config = {
        "settings": [{"name": "av", "label": "Audio-visual", "federation": str(shards)}],
        "seeds": [0, 1],
        "baseline": "vides",
        "entries": [
            {"name": "vide", "label": "Vi-De", "reuse": "vides",
             "metrics": "stages/frame/metrics.json"},
            {"name": "vides", "label": "Vi-DeS", "recipe": "latent_adversarial.py",
             "args": _latent("dilast_video.yaml", "model.name=test_dilast",
                             "model.sequence=test_dilast_sa", "train.n_critic=1",
                             f"stages=[{{name: frame, steps: 2}}, {sa2}]")},
            {"name": "audes", "label": "Au-DeS", "recipe": "latent_adversarial.py",
             "args": _latent("dilast_audio.yaml", "model.name=test_dilast",
                             "model.sequence=test_dilast_sa",
                             "model.kwargs={modality: audio, audio_image_size: 32}",
                             "train.n_critic=1", f"stages=[{{name: frame, steps: 2}}, {sa2}]")},
            {"name": "gas", "label": "AVi-GaS", "recipe": "latent_adversarial.py",
             "args": _latent("avigas.yaml", "model.name=test_avigas",
                             "model.video_frame={run:vides}/stages/frame/model",
                             "model.audio_frame={run:audes}/stages/frame/model",
                             f"stages=[{sa2}]")},
        ],
        "columns": [{"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "CCC-V"},
                    {"dataset": "affwild2", "task": "va", "metric": "ccc_a", "header": "CCC-A"},
                    {"dataset": "affwild2", "task": "native", "metric": "icc_a",
                     "header": "ICC-A"}],
        "claims": [{"text": "Audio helps arousal", "better": "gas", "than": "vides",
                    "columns": ["CCC-A"]}],
        "corruptions": CORRUPTIONS,
        "corruption_datasets": ["affwild2"],
        "gate_timeline": "audio-noise",
        **_outputs(tmp_path),
        "section": "audiovisual",
        "title": "Audio-visual models",
        "intro": "Does the audio help? Setting: {settings}.",
        "command": "make results-audiovisual",
        **changes,
    }  # fmt: skip
    path = tmp_path / "audiovisual.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def av_comparison(av_shards, tmp_path_factory, one_thread):
    """The tiny audio-visual comparison, run once: ``(folder, config path, page text)``."""
    tmp = tmp_path_factory.mktemp("avcomparison")
    path = _av_config(tmp, av_shards)
    _recipe("temporal_comparison").main(["--config", str(path)])
    return tmp, path, (tmp / "docs/results.md").read_text()


def test_a_run_fill_gives_each_seed_the_run_folders_of_its_own_seed(av_comparison):
    tmp, _, _ = av_comparison
    for seed in (0, 1):
        run = tmp / f"runs/av/gas/seed{seed}"
        used = yaml.safe_load((run / "config.yaml").read_text())["model"]
        assert used["video_frame"] == str(tmp / f"runs/av/vides/seed{seed}/stages/frame/model")
        assert used["audio_frame"] == str(tmp / f"runs/av/audes/seed{seed}/stages/frame/model")
        recorded = json.loads((run / "stages/frame_models.json").read_text())
        assert recorded["video"]["path"] == used["video_frame"]


def test_every_model_is_scored_under_each_corruption_on_the_same_frames(av_comparison, av_shards):
    tmp, _, page = av_comparison
    scores = json.loads((tmp / "runs/corruptions.json").read_text())["Audio-visual"]
    assert list(scores) == ["audio-noise", "video-noise"]
    for corruption in scores.values():
        frames = corruption["frames"]
        assert list(frames) == ["all", "intact", "corrupted"]
        assert list(frames["corrupted"]) == ["Vi-De", "Vi-DeS", "Au-DeS", "AVi-GaS"]
        counts = {group: {label: [d["metrics"]["affwild2"]["va"]["n"] for d in docs]
                          for label, docs in rows.items()} for group, rows in frames.items()}  # fmt: skip
        for group in counts.values():  # every model, every seed: the same frames
            assert len({n for ns in group.values() for n in ns}) == 1, counts
        assert (
            counts["intact"]["Vi-De"][0] + counts["corrupted"]["Vi-De"][0]
            == (counts["all"]["Vi-De"][0])
        )
        assert counts["corrupted"]["Vi-De"][0] > 0 and counts["intact"]["Vi-De"][0] > 0
    # The face-only frame stage is not touched by the audio noise: on all frames it scores what
    # its run's own evaluation scored (its stages/frame/model, not the run's final model).
    seed0 = scores["audio-noise"]["frames"]["all"]["Vi-De"][0]
    stage = json.loads((tmp / "runs/av/vides/seed0/stages/frame/metrics.json").read_text())
    for metric in ("ccc_v", "ccc_a", "rmse_v"):
        assert seed0["metrics"]["affwild2"]["va"][metric] == pytest.approx(
            stage["metrics"]["affwild2"]["va"][metric], abs=1e-5
        )
    assert seed0["native_scale"]["affwild2"]["icc_a"] == pytest.approx(
        stage["native_scale"]["affwild2"]["icc_a"], abs=1e-5
    )
    # AVi-GaS under the video noise: the cached numbers are those of its saved model.
    model = load_model(tmp / "runs/av/gas/seed1/model")
    space = label_space_of(model)
    noise = ModalityCorruption.from_json(CORRUPTIONS[1]["corruption"])
    result = corrupted_predictions(model, Federation(av_shards), space, noise,
                                   datasets=["affwild2"])  # fmt: skip
    expected = corruption_metrics(result, space)["corrupted"]["affwild2"]["va"]["ccc_a"]
    cached = scores["video-noise"]["frames"]["corrupted"]["AVi-GaS"][1]
    assert cached["metrics"]["affwild2"]["va"]["ccc_a"] == pytest.approx(expected, abs=1e-6)
    # The tables: per corruption, the corrupted then the intact frames, a row per model.
    section = sections(page)["audiovisual"]
    assert "#### Under a corrupted modality" in section
    for label in ("Audio noise", "Video noise"):
        part = section.split(f"##### {label}\n", 1)[1].split("#####", 1)[0]
        assert part.count("| Model | CCC-V | CCC-A | ICC-A |") == 2
        assert part.count("| AVi-GaS | ") == 2
        # The claims are read on the corrupted frames' table, which comes first.
        claims = part.index("- *Audio helps arousal*: ")
        assert part.index("On the corrupted frames:") < claims < part.index("On the intact frames:")
    assert "`modality=audio, kind=noise, strength=0.5, segment=3, unit=frames`" in section


def test_the_gate_table_and_its_sentences(av_comparison, av_shards):
    tmp, _, page = av_comparison
    scores = json.loads((tmp / "runs/corruptions.json").read_text())["Audio-visual"]
    assert list(scores["audio-noise"]["gates"]) == ["AVi-GaS"]  # the only model with gates
    # Seed 0's gate under the audio noise is its saved model's.
    model = load_model(tmp / "runs/av/gas/seed0/model")
    noise = ModalityCorruption.from_json(CORRUPTIONS[0]["corruption"])
    table = gate_analysis(model, Federation(av_shards), label_space_of(model), noise,
                          datasets=["affwild2"])  # fmt: skip
    summary = gate_summary(table).gates.loc["all"]
    cached = scores["audio-noise"]["gates"]["AVi-GaS"][0]["metrics"]["all"]["gate"]
    assert cached["gate_shift"] == pytest.approx(summary["gate_shift"], abs=1e-6)
    assert cached["gate_video_intact"] == pytest.approx(summary["gate_video_intact"], abs=1e-6)
    section = sections(page)["audiovisual"]
    part = section.split("##### The gate of AVi-GaS\n", 1)[1]
    assert ("| Corruption | Face gate, intact frames | Face gate, corrupted frames | "
            "Shift (corrupted − intact) |") in part  # fmt: skip
    for name, label, modality in (("audio-noise", "Audio noise", "audio"),
                                  ("video-noise", "Video noise", "video")):  # fmt: skip
        shifts = [
            d["metrics"]["all"]["gate"]["gate_shift"] for d in scores[name]["gates"]["AVi-GaS"]
        ]
        row = next(line for line in part.splitlines() if line.startswith(f"| {label} |"))
        mean, sd = np.mean(shifts), np.std(shifts, ddof=1)
        assert row.endswith(f"| {mean:.3f} ± {sd:.3f} |")
        part_of = "face" if modality == "video" else "audio"
        assert f"- *{label}* ({part_of} corrupted): {gate_shift_verdict(shifts, modality)}." in part
    figure = tmp / "docs/images/audiovisual-av-gas-audio-noise.png"
    assert figure.is_file() and "(images/audiovisual-av-gas-audio-noise.png)" in part


def test_a_second_call_reads_the_corruptions_from_their_cache(av_comparison, monkeypatch):
    tmp, path, page = av_comparison
    recipe = _recipe("temporal_comparison")

    def refuse(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(recipe, "corrupted_predictions", refuse)  # AVi-GaS's gates included
    recipe.main(["--config", str(path)])
    assert (tmp / "docs/results.md").read_text() == page
    # Another corruption (a stronger noise) under the same name is scored again.
    config = yaml.safe_load(path.read_text())
    config["corruptions"][1]["corruption"]["strength"] = 0.6
    config["seeds"] = [0]
    changed = tmp / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    with pytest.raises(AssertionError, match="scored again"):
        recipe.main(["--config", str(changed)])


def _finished(run, argv, document):
    """A finished run of a recipe: its stamp and its metrics."""
    run.mkdir(parents=True)
    stamp = {"argv": argv, "config_sha256": None, "finished": True}
    (run / "experiment.json").write_text(json.dumps(stamp))
    (run / "metrics.json").write_text(json.dumps(document))


def test_a_config_without_corruptions_writes_what_it_wrote_before(tmp_path, monkeypatch):
    """Without corruptions nothing is scored again and the section is, line for line, what
    the runner wrote before corruptions existed (generated then from these finished runs)."""
    values = {"base": [(0.20, 0.30), (0.22, 0.34)], "other": [(0.21, 0.50), (0.25, 0.52)]}
    for name, seeds in values.items():
        for seed, (v, a) in enumerate(seeds):
            document = {"metrics": {"affwild2": {"va": {"ccc_v": v, "ccc_a": a}}},
                        "train_seconds": 90.0}  # fmt: skip
            _finished(tmp_path / "runs/a" / name / f"seed{seed}", [f"seed={seed}"], document)
    config = {
        "settings": [{"name": "a", "label": "Setting A", "federation": "unused"}],
        "seeds": [0, 1], "baseline": "base",
        "entries": [{"name": n, "label": n.title(), "recipe": "none.py", "args": ["seed={seed}"]}
                    for n in values],
        "columns": [{"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "CCC-V"},
                    {"dataset": "affwild2", "task": "va", "metric": "ccc_a", "header": "CCC-A"}],
        "claims": [{"text": "Other beats base on arousal", "better": "other", "than": "base",
                    "columns": ["CCC-A"]}],
        **_outputs(tmp_path),
    }  # fmt: skip
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    recipe = _recipe("temporal_comparison")
    monkeypatch.setattr(recipe, "corrupted_predictions", None)  # never called
    recipe.main(["--config", str(path)])
    expected = f"""## Temporal models on the synthetic temporal world

<!-- Generated by `make results-temporal` (= `python recipes/temporal_comparison.py --config {path}`); edits by hand are overwritten. -->

Does a sequence model beat a frame model where labels depend on time, and does the gain vanish where they do not? Settings (docs/synth_labels.md, temporal dynamics): **Setting A**: `unused`. Every model is scored on the same frames: every frame of every validation video once. Cells are mean ± sample standard deviation over seeds 0, 1.

- Models (recipe and arguments of each):
  - **Base**: `none.py seed={{seed}}`
  - **Other**: `none.py seed={{seed}}`
{training_time_line(360, torch.get_num_threads())}

### Setting A

| Model | CCC-V | CCC-A |
|---|---|---|
| Base | 0.210 ± 0.014 | 0.320 ± 0.028 |
| Other | 0.230 ± 0.028 | 0.510 ± 0.014 |

![Setting A](images/temporal-a.png)

Difference to **Base** (difference of the means; **bold** beyond two standard errors, Welch):

| Model | CCC-V | CCC-A |
|---|---|---|
| Other | +0.020 | **+0.190** |

Read against **Base** (higher is better in every column):

- Other: better in CCC-A; within two standard errors in 1 of 2 columns.

The papers' claims, read on these numbers (higher is better in every column):

- *Other beats base on arousal*: holds in every column."""  # noqa: E501
    assert sections((tmp_path / "docs/results.md").read_text())["temporal"] == expected
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in written if "corrupt" in p or p.endswith(".csv")] == []
    assert [p for p in written if p.startswith("docs/images")] == ["docs/images/temporal-a.png"]


def test_references_to_later_entries_and_bad_corruptions_are_refused(tmp_path, av_shards):
    recipe = _recipe("temporal_comparison")
    good = yaml.safe_load(_av_config(tmp_path, av_shards).read_text())
    cases = [
        (lambda c: c["entries"].insert(1, c["entries"].pop(3)),  # AVi-GaS before the DiLaSTs
         r"entries\[1\] \(gas\): \{run:vides\} must name an earlier entry that trains \(none\)"),
        (lambda c: c["entries"][3]["args"].append("x={model:vide}"),  # reads, trains nothing
         r"entries\[3\] \(gas\): \{model:vide\} must name an earlier entry that trains"),
        (lambda c: c["corruptions"][0]["corruption"].update(kind="blur"),
         r"config key corruptions\[0\]\.corruption: .*kind for audio must be one of"),
        (lambda c: c["corruptions"].append(dict(c["corruptions"][0])),
         r"corruptions: unique names"),
        (lambda c: c.update(gate_timeline="nope"), r"gate_timeline: name a corruption"),
        (lambda c: c["claims"][0].update(columns=["CCC-X"]), r"claims\[0\].*no columns \['CCC-X'\]"),
    ]  # fmt: skip
    for change, message in cases:
        config = json.loads(json.dumps(good))
        change(config)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(config))
        with pytest.raises(ConfigError, match=message):
            recipe.main(["--config", str(path)])
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_the_shipped_audiovisual_config_names_its_entries_claims_and_corruptions():
    path = ROOT / "recipes/configs/temporal_comparison/audiovisual.yaml"
    config, _ = _recipe("temporal_comparison").parse_args(["--config", str(path)])
    assert config.command == "make results-audiovisual" and config.seeds == [0, 1, 2]
    assert config.settings[0].federation == "data/audiovisual/shards"
    labels = {e.name: e.label for e in config.entries}
    assert sorted(labels.values()) == sorted(["Vi-De", "Vi-DeS", "Au-De", "Au-DeS", "AVi-CaS",
                                              "AVi-GaS", "MT-VGG-GRU", "A/V-MT-VGG-GRU"])  # fmt: skip
    claimed = {(labels[c.better], labels[c.than], tuple(c.columns)) for c in config.claims}
    assert claimed == {
        ("AVi-GaS", "Vi-DeS", ("Aff-Wild2 CCC-A",)),
        ("A/V-MT-VGG-GRU", "MT-VGG-GRU", ("Aff-Wild2 CCC-A",)),
        ("AVi-GaS", "AVi-CaS", ()),
        ("AVi-GaS", "Au-DeS", ()),
    }
    fused = [e for e in config.entries if labels[e.name] in ("AVi-CaS", "AVi-GaS")]
    assert all(any("{run:" in arg for arg in e.args) for e in fused)
    modalities = {c.name: c.corruption["modality"] for c in config.corruptions}
    assert modalities == {"audio-noise": "audio", "video-noise": "video"}
    assert config.gate_timeline == "audio-noise" and config.corruption_datasets == ["affwild2"]
    makefile = (ROOT / "Makefile").read_text()
    assert "results-audiovisual: av-world" in makefile
    assert "--config recipes/configs/temporal_comparison/audiovisual.yaml" in makefile
