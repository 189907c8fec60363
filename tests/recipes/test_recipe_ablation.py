"""recipes/facebehaviornet_ablation.py: runs every (budget, seed, variant), reuses finished runs and
written label-budget subsets, restarts runs whose settings changed, and writes the results page
with its tables and plots."""

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import tiny_shards
from test_recipe_facebehaviornet import ROOT, _recipe

from holistic.data.federation import Federation
from holistic.evaluation.ablation import format_mean_sd
from holistic.training.config import ConfigError, load_config


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    sources = ["affwild2", "affectnet", "emotionet", "bp4d", "rafdb-compound"]
    return tiny_shards(out, 2, sources, 48)


def _config(tmp_path, shards, steps=2, **extra):
    config = {
        "base_config": str(ROOT / "recipes/configs/facebehaviornet/demo.yaml"),
        "federation": str(shards),
        "overrides": [f"train.steps={steps}", "data.batch_size=12", "data.image_size=48",
                      "model.name=test_facebehaviornet", "data.shuffle_buffer=20",
                      "data.datasets=[affwild2, affectnet, emotionet, bp4d]"],
        "seeds": [0, 1],
        "baseline": "fbn",
        "variants": [
            {"name": "single_au", "label": "single-task AU", "tasks": ["au"], "zeroshot": False,
             "overrides": ["data.batch_sizes={au: 12}",
                           "loss.weights={va: 0, expr: 0, au: 1, dm: 0, soft_coann: 0}"]},
            {"name": "fbn", "label": "FBN", "overrides": ["loss.weights={dm: 0, soft_coann: 0}"]},
        ],
        "columns": [
            {"dataset": "affwild2", "task": "va", "metric": "ccc_v", "header": "AW2 CCC-V"},
            {"dataset": "emotionet", "task": "au", "metric": "mean_f1", "header": "EN AU F1"},
        ],
        "zeroshot": [{"dataset": "rafdb-compound", "split": "test", "compounds": "rafdb11"}],
        "output_dir": str(tmp_path / "runs"),
        "results": str(tmp_path / "docs" / "results.md"),
        "figures": str(tmp_path / "docs" / "images"),
        **extra,
    }  # fmt: skip
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_runs_reuses_and_writes_the_results_page(shards, tmp_path):
    recipe = _recipe("facebehaviornet_ablation")
    claims = [{"text": "Multi-task helps AU", "better": "fbn", "than": "single_au",
               "columns": ["EN AU F1"]}]  # fmt: skip
    config = _config(tmp_path, shards, claims=claims)
    budgets = recipe.main(["--config", str(config)])
    assert list(budgets) == ["all labels"]  # the default budget: the whole federation
    results = budgets["all labels"]
    assert list(results) == ["single-task AU", "FBN"] and all(len(r) == 2 for r in results.values())
    single = results["single-task AU"][0]["metrics"]
    assert {task for per_task in single.values() for task in per_task} == {"au"}  # trained task
    assert results["FBN"][1]["zeroshot"]["rafdb-compound"]["n"] == 11
    page = (tmp_path / "docs" / "results.md").read_text()
    assert "| Model | AW2 CCC-V | EN AU F1 |" in page and "±" in page
    assert "](images/ablation.png)" in page and (tmp_path / "docs/images/zeroshot.png").is_file()
    assert "| single-task AU | – |" in page  # no VA result for a single-task AU network
    assert "Read against **FBN**" in page and "- single-task AU: " in page
    claim = next(line for line in page.splitlines() if line.startswith("- *Multi-task helps AU*"))
    assert claim.split(": ", 1)[1].startswith(("holds", "does not hold", "not shown", "mixed"))
    assert "Fewest positives of one AU in the evaluated split, per AU column: EN AU F1: " in page
    assert "Coupling per label budget" not in page and "| Budget |" not in page  # one budget
    assert "- Total training time: " in page  # no records: the runs were trained just now
    assert "/demo.yaml`, with `train.steps=2 data.batch_size=12 " in page  # shared overrides
    assert not (tmp_path / "runs" / "budgets").exists()  # the whole federation: no subset
    # Same command again: every run is reused (its model is not rewritten).
    model = tmp_path / "runs" / "fbn" / "seed0" / "model" / "model.safetensors"
    written = model.stat().st_mtime_ns
    recipe.main(["--config", str(config)])
    assert model.stat().st_mtime_ns == written
    # Other settings: the run starts again from scratch (no state of the old one resumed).
    recipe.main(["--config", str(_config(tmp_path, shards, steps=3)), "seeds=[0]"])
    metrics = tmp_path / "runs" / "fbn" / "seed0" / "metrics.json"
    assert json.loads(metrics.read_text())["steps"] == 3


def test_shipped_config_loads_and_names_its_command():
    path = ROOT / "recipes/configs/facebehaviornet_ablation/synthetic.yaml"
    lines = path.read_text().splitlines()
    assert f"recipes/facebehaviornet_ablation.py --config {path.relative_to(ROOT)}" in lines[1]
    config, _ = _recipe("facebehaviornet_ablation").parse_args(["--config", str(path)])
    assert config.seeds == [0, 1, 2] and config.baseline in {v.name for v in config.variants}
    assert config.command == "make results" and config.section is None  # the whole page
    assert config.records == "docs/results/ablation"  # committed: the sweep spans sittings
    # The sweep: 1 %, 10 % and 100 % of the AU and EXPR labels; the base config (not the demo's,
    # which may change) with its stopping rule.
    assert [b.fraction for b in config.budgets] == [0.01, 0.1, 1.0]
    assert all(set(b.fractions) <= {"au", "expr"} for b in config.budgets)
    assert config.base_config.endswith("facebehaviornet/ablation_base.yaml")
    recipe = _recipe("facebehaviornet_ablation")  # no shared overrides: none named
    assert recipe.base_config_line(config) == f"- Base recipe config: `{config.base_config}`."
    base = load_config(_recipe("facebehaviornet").RunConfig, ROOT / config.base_config)
    assert base.train.eval_every > 0 and base.train.patience > 0
    # The paper's claims: each coupled variant against the uncoupled one, on the tasks and on
    # the zero-shot compounds, and the uncoupled one against each single-task network.
    pairs = {(claim.better, claim.than) for claim in config.claims}
    coupled = {v.name for v in config.variants if v.name.startswith("fbn_")}
    single = {v.name for v in config.variants if v.name.startswith("single_")}
    assert {(name, "fbn") for name in coupled} | {("fbn", name) for name in single} == pairs
    zeroshot = [c for c in config.claims if all("compound" in h for h in c.columns)]
    assert {claim.better for claim in zeroshot} == coupled
    makefile = (ROOT / "Makefile").read_text()
    assert "results-1 results-10 results-100: results-%" in makefile


BUDGETS = [
    {"name": "quarter", "label": "25 %", "fractions": {"au": 0.25, "expr": 0.25}},
    {"name": "all", "label": "100 %"},
]


def test_label_budgets_write_each_subset_once_and_a_section_per_budget(shards, tmp_path):
    recipe = _recipe("facebehaviornet_ablation")
    claims = [{"text": "Multi-task helps AU", "better": "fbn", "than": "single_au",
               "columns": ["EN AU F1"]}]  # fmt: skip
    config = _config(tmp_path, shards, seeds=[0], budgets=BUDGETS, headline=["EN AU F1"],
                     claims=claims)  # fmt: skip
    results = recipe.main(["--config", str(config)])
    assert list(results) == ["25 %", "100 %"]
    assert all(list(rows) == ["single-task AU", "FBN"] for rows in results.values())
    subset = tmp_path / "runs" / "budgets" / "quarter" / "seed0" / "shards"
    assert not (tmp_path / "runs" / "budgets" / "all").exists()  # every label: the source
    written = json.loads((subset / "subset.json").read_text())
    assert written["seed"] == 0 and written["fractions"] == {"au": 0.25, "expr": 0.25}
    # The budget's runs trained on the subset, the others on the source; the zero-shot scores
    # come from the source (the subset is never read for them).
    stamp = tmp_path / "runs" / "quarter" / "fbn" / "seed0" / "experiment.json"
    assert f"data.federation={subset}" in json.loads(stamp.read_text())["argv"]
    stamp = tmp_path / "runs" / "all" / "fbn" / "seed0" / "experiment.json"
    assert f"data.federation={shards}" in json.loads(stamp.read_text())["argv"]
    assert results["25 %"]["FBN"][0]["zeroshot"]["rafdb-compound"]["n"] == 11

    page = (tmp_path / "docs" / "results.md").read_text()
    # Setup: the labels kept, ceil(25 % of each dataset's) from the source manifest's counts.
    train = [e["splits"]["train"]["tasks"] for e in Federation(str(shards)).manifest["datasets"]
             .values() if "train" in e["splits"]]  # fmt: skip
    kept = {t: sum(math.ceil(0.25 * c[t]) for c in train if t in c) for t in ("au", "expr")}
    total = {t: sum(c.get(t, 0) for c in train) for t in ("au", "expr")}
    assert (
        f"  - **25 %** (`quarter`): 25 % of au, 25 % of expr labels; kept au {kept['au']} of "
        f"{total['au']}, expr {kept['expr']} of {total['expr']}" in page
    )
    assert kept["au"] < total["au"] and "  - **100 %** (`all`): every label" in page
    # The summary first, then one section per budget with the tables of the single ablation.
    order = ["## Coupling per label budget", "## Label budget: 25 %", "## Label budget: 100 %"]
    assert [page.index(h) for h in order] == sorted(page.index(h) for h in order)
    summary = page[page.index(order[0]) : page.index(order[1])]
    assert "**EN AU F1**\n\n| Model | 25 % | 100 % |" in summary
    assert "**AW2 CCC-V**" not in summary  # only the headline column
    assert "](images/budgets.png)" in summary and (tmp_path / "docs/images/budgets.png").is_file()
    assert "- single-task AU: EN AU F1 no difference to screen at any budget" in summary  # 1 seed
    assert "- *Multi-task helps AU*: no difference to screen at any budget. 25 %: " in summary
    assert "*Multi-task helps AU*" not in page[page.index(order[1]) :]  # read once, over budgets
    for name, label in (("quarter", "25 %"), ("all", "100 %")):
        section = page[page.index(f"## Label budget: {label}") :]
        assert section.index("### Table VI") < section.index("#### Differences to FBN")
        assert section.index("#### Differences to FBN") < section.index("### Zero-shot")
        assert f"](images/{name}/ablation.png)" in section
        table = section[: section.index("#### Differences to FBN")]
        assert table.count("| chance (trivial predictors) | 0.000 |") == 1  # VA constant: CCC 0
        assert "no better than calling every AU present" in table
        assert (tmp_path / "docs" / "images" / name / "zeroshot.png").is_file()
    assert "| Budget | Model | Seed | Steps | AW2 CCC-V | EN AU F1 |" in page
    assert "| 25 % | FBN | 0 | 2, limit |" in page  # 2 steps: no evaluation to plateau at
    assert (
        "0 of 2 runs stopped at a validation plateau; the others reached the step limit (2) "
        "first, so their numbers may still have been rising: single-task AU (seed 0); FBN (seed 0)."
    ) in page

    # Again: the subset is not written again and no run is retrained.
    model = tmp_path / "runs" / "quarter" / "fbn" / "seed0" / "model" / "model.safetensors"
    before = [(p, p.stat().st_mtime_ns) for p in (subset / "subset.json", subset / "manifest.json",
                                                  model)]  # fmt: skip
    again = recipe.main(["--config", str(config), "section=budgets", "title=Budgets"])
    assert [(p, p.stat().st_mtime_ns) for p, _ in before] == before
    assert again["25 %"]["FBN"][0]["metrics"] == results["25 %"]["FBN"][0]["metrics"]
    # As a section: the rest of the page stays, the section's headings sit a level lower.
    rewritten = (tmp_path / "docs" / "results.md").read_text()
    assert rewritten.startswith(page.rstrip("\n") + "\n\n<!-- section:budgets -->\n## Budgets\n")
    assert "\n### Coupling per label budget\n" in rewritten.split("section:budgets")[1]
    # One budget's runs (a make target per budget): reused here, and no page is written.
    page_written = (tmp_path / "docs" / "results.md").stat().st_mtime_ns
    only = recipe.main(["--config", str(config), "only=quarter"])
    assert (
        list(only) == ["25 %"]
        and only["25 %"]["FBN"][0]["metrics"] == again["25 %"]["FBN"][0]["metrics"]
    )
    assert (tmp_path / "docs" / "results.md").stat().st_mtime_ns == page_written


def test_records_stand_for_their_runs_until_the_setting_changes(
    shards, tmp_path, monkeypatch, capsys
):
    """Run folders do not outlive a machine; the records (kept in the repository) let a sweep be
    finished a part at a time and its page rebuilt from them alone."""
    recipe = _recipe("facebehaviornet_ablation")
    records = tmp_path / "records"
    config = _config(tmp_path, shards, seeds=[0], budgets=BUDGETS, records=str(records))
    results = recipe.main(["--config", str(config)])
    written = sorted(p.relative_to(records).as_posix() for p in records.rglob("*.json"))
    assert written == [f"{b}/{v}/seed0.json" for b in ("all", "quarter")
                       for v in ("fbn", "single_au")]  # fmt: skip
    record = json.loads((records / "quarter" / "fbn" / "seed0.json").read_text())
    assert record["results"]["document"]["metrics"] == results["25 %"]["FBN"][0]["metrics"]
    assert record["results"]["subset"]["fractions"] == {"au": 0.25, "expr": 0.25}
    assert len(record["setting"]["federation_sha256"]) == 64 and record["commit"] != ""
    page = (tmp_path / "docs" / "results.md").read_text()

    # The run folders gone (another machine): the page is rebuilt from the records, no training.
    import shutil

    shutil.rmtree(tmp_path / "runs")
    trained = []
    monkeypatch.setattr(recipe, "run_recipe", lambda *args: trained.append(args))
    again = recipe.main(["--config", str(config)])
    assert trained == [] and again == results
    assert (tmp_path / "docs" / "results.md").read_text() == page
    assert f"recorded in `{records}/`" in page
    assert "- Training time: " in page and "the runs' wall-clock times summed" in page

    # Halfway through a sweep (one record gone): progress counts and names what is left and
    # averages what is recorded, training nothing and leaving the page as it is.
    (records / "quarter" / "single_au" / "seed0.json").unlink()
    capsys.readouterr()
    interim = recipe.main(["--config", str(config), "progress=true"])
    printed = capsys.readouterr().out
    assert trained == []
    assert "25 %: 1 of 2 runs recorded; to train (seeds): single_au (0)" in printed
    assert "100 %: 2 of 2 runs recorded\n" in printed
    assert interim["25 %"] == {"FBN": results["25 %"]["FBN"]}
    ccc = results["25 %"]["FBN"][0]["metrics"]["affwild2"]["va"]["ccc_v"]
    assert f"| FBN (1) | {format_mean_sd([ccc])} |" in printed
    assert printed.count("| single-task AU (1) |") == 1  # at 100 % only
    assert (tmp_path / "docs" / "results.md").read_text() == page

    # Another setting (steps): its records do not count, every run trains again.
    monkeypatch.undo()
    changed = _config(tmp_path, shards, steps=3, seeds=[0], budgets=BUDGETS, records=str(records))
    rerun = recipe.main(["--config", str(changed), "only=all"])
    assert rerun["100 %"]["FBN"][0]["steps"] == 3
    record = json.loads((records / "all" / "fbn" / "seed0.json").read_text())
    assert "train.steps=3" in record["setting"]["argv"]


def test_a_changed_budget_rewrites_its_subset_and_drops_the_runs_trained_on_the_old(
    shards, tmp_path
):
    recipe = _recipe("facebehaviornet_ablation")
    path = _config(tmp_path, shards, seeds=[0], budgets=BUDGETS)
    config, _ = recipe.parse_args(["--config", str(path)])
    source = Federation(str(shards))
    quarter = config.budgets[0]
    where = recipe.label_budget(config, source, quarter, 0)
    assert where == str(tmp_path / "runs" / "budgets" / "quarter" / "seed0" / "shards")
    assert recipe.label_budget(config, source, config.budgets[1], 0) == str(shards)
    subset = Path(where) / "subset.json"
    written = subset.stat().st_mtime_ns
    run = recipe.run_folder(config, quarter, config.variants[1], 0)
    run.mkdir(parents=True)  # as if trained on it
    assert recipe.label_budget(config, source, quarter, 0) == where  # the same: reused
    assert subset.stat().st_mtime_ns == written and run.is_dir()
    assert recipe.label_budget(config, source, quarter, 1) != where  # each seed its own
    quarter.fractions = {"au": 0.5, "expr": 0.25}
    assert recipe.label_budget(config, source, quarter, 0) == where
    assert json.loads(subset.read_text())["fractions"] == {"au": 0.5, "expr": 0.25}
    assert not run.exists()  # trained on the old subset: its command line would not tell


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["budgets=[{name: a, label: A}, {name: a, label: B}]"], "unique names and labels"),
        (["budgets=[{name: a, label: A, fractions: {au: 0}}]"], r"fractions.au: .* > 0"),
        (["budgets=[{name: a, label: A, fractions: {au: 1.5}}]"], r"fractions.au: .* <= 1"),
        (["budgets=[{name: a, label: A, fractions: {compound: 0.1}}]"], "not \\['compound'\\]"),
        (["budgets=[{name: budgets, label: A}]"], "subsets' folder"),
        (["headline=[AW2 CCC-X]"], "not column headers"),
        (["budgets=[{name: a, label: A}]", "only=b"], "only: 'b' is not a budget"),
        (
            ["claims=[{text: x, better: fbn, than: nope}]"],
            r"claims\[0\] \('x'\): no variants \['nope'\]",
        ),
        (
            ["claims=[{text: x, better: fbn, than: single_au, columns: [nope]}]"],
            r"no columns \['nope'\]",
        ),
        (["claims=[{text: x, best_of: [fbn, single_au], expected: fbn}]"], "compares two variants"),
        (["progress=true"], "progress: it reads the run records: set records"),
        (
            ["budgets=[{name: a, label: A}]", "variants=[{name: fbn, label: F, budgets: [b]}]"],
            "are not budgets",
        ),
    ],
)
def test_bad_budgets_stop_at_start(shards, tmp_path, overrides, message):
    recipe = _recipe("facebehaviornet_ablation")
    with pytest.raises(ConfigError, match=message):
        recipe.parse_args(["--config", str(_config(tmp_path, shards)), *overrides])


def test_the_per_seed_table_gives_the_steps_and_why_each_run_stopped():
    recipe = _recipe("facebehaviornet_ablation")
    results = {
        "single-task AU": [{"seed": 1, "steps": 1000, "stopped": "stopped at step 1000: ..."}],
        "FBN": [{"seed": 1, "steps": 2400}],
    }
    table = recipe.per_seed_table({"25 %": results}, [])
    assert "| single-task AU | 1 | 1000, plateau |" in table  # one budget: no Budget column
    assert "| FBN | 1 | 2400, limit |" in table
