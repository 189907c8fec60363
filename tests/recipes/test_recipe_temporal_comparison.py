"""recipes/temporal_comparison.py: every (setting, model, seed) run once with its own recipe,
members before their fusion, the same frames scored for all, and the temporal section of the
results page written without touching the rest of it."""

import json

import pytest
import yaml
from conftest import tiny_shards
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.evaluation.ablation import replace_section, sections
from holistic.training.config import ConfigError, load_config


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("temporal")
    return tiny_shards(out, 4, ["affwild2"], 32, shard_size=6)


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
        "output_dir": str(tmp_path / "runs"),
        "results": str(tmp_path / "docs" / "results.md"),
        "figures": str(tmp_path / "docs" / "images"),
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
        "output_dir": str(tmp_path / "runs"),
        "results": str(tmp_path / "docs" / "results.md"),
        "figures": str(tmp_path / "docs" / "images"),
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
