# The README's two commands. Each builds .venv on first use, so either works on a fresh clone.
#
#   make test   lint + the test suite
#   make demo   the synthetic world -> shards -> FaceBehaviorNet -> evaluation -> zero-shot compounds
#               -> few-shot fine-tuning to compound classes -> holistic predict on a video
#   make results  the ablation of docs/results.md per label budget (does coupling help, and when
#               labels are scarce?): 57 runs, 15 to 20 hours on 2 CPU cores; make results-1 / -10
#               / -100 train one budget's runs, make results-1 SEED=0 one budget's runs of one
#               seed (1.5 to 2 hours each); make results reuses every finished run, and every
#               run recorded in docs/results/ablation (commit the records: they outlive runs/);
#               make results-progress trains nothing and prints which runs are recorded and
#               their means so far
#   make results-temporal  the temporal section of docs/results.md (frame vs sequence models on the
#               synthetic temporal world and its control)
#   make results-latent  the latent section of docs/results.md (discriminator alone vs AEG-CD vs
#               AEG-CD-SZ, ANCLaF vs S-n vs SA-n; 83 min of training measured, 3 seeds)
#   make results-audiovisual  the audiovisual section of docs/results.md (video vs audio vs
#               concatenation vs GMU, MT-VGG-GRU vs A/V-MT-VGG-GRU, every model under a corrupted
#               modality and AVi-GaS's gate; 64 min measured, 3 seeds)
#
# TORCH pins the PyTorch pair installed before the project. The default is the pair that lies on
# the project's CPU machines' local disk; elsewhere pick the build you need, e.g.
#   make test TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cu128"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo results results-1 results-10 results-100 results-progress results-temporal results-latent results-audiovisual world temporal-worlds av-world lint clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q

DEMO ?= data/demo

LAUNCH := $(BIN)/accelerate launch --num_processes 1 --num_machines 1 --cpu --mixed_precision no \
	--dynamo_backend no

world: $(STAMP)
	$(BIN)/holistic synth $(DEMO)/world --preset demo --seed 0 --federate $(DEMO)/shards --workers 2 --no-progress

demo: world
	$(LAUNCH) recipes/facebehaviornet.py \
		--config recipes/configs/facebehaviornet/demo.yaml data.federation=$(DEMO)/shards
	$(BIN)/python recipes/zeroshot_compound.py \
		--config recipes/configs/zeroshot_compound/demo.yaml federation=$(DEMO)/shards
	$(LAUNCH) recipes/finetune.py \
		--config recipes/configs/finetune/demo_compound.yaml data.federation=$(DEMO)/shards
	$(BIN)/python recipes/predict_video.py \
		--config recipes/configs/predict_video/demo.yaml world=$(DEMO)/world
	@echo "demo done: runs/demo/report.md (tables and plots), runs/demo/metrics.json,"
	@echo "runs/demo/zeroshot.json, runs/demo/model (checkpoint), runs/demo/logs (TensorBoard:"
	@echo "  $(BIN)/tensorboard --logdir runs/demo/logs); few-shot fine-tuning to compound"
	@echo "classes: runs/demo-finetune/report.md; holistic predict on a synthetic video:"
	@echo "  runs/demo-predict (predictions.csv, annotated/, plots/, abaw/, scores.json)"

ABLATION := $(BIN)/python recipes/facebehaviornet_ablation.py \
	--config recipes/configs/facebehaviornet_ablation/synthetic.yaml federation=$(DEMO)/shards

results: world
	$(ABLATION)

results-1 results-10 results-100: results-%: world
	$(ABLATION) only=labels$(if $(filter 1,$*),01,$*) $(if $(SEED),seeds=[$(SEED)])

results-progress: world
	$(ABLATION) progress=true

TEMPORAL ?= data

temporal-worlds: $(STAMP)
	$(BIN)/holistic synth $(TEMPORAL)/temporal/world --preset temporal --seed 0 \
		--federate $(TEMPORAL)/temporal/shards --workers 2 --no-progress
	$(BIN)/holistic synth $(TEMPORAL)/temporal-control/world --preset temporal-control --seed 0 \
		--federate $(TEMPORAL)/temporal-control/shards --workers 2 --no-progress

results-temporal: temporal-worlds
	$(BIN)/python recipes/temporal_comparison.py \
		--config recipes/configs/temporal_comparison/synthetic.yaml

# The audio-visual world: Aff-Wild2 videos with their voice (and the AViGaS audio image) and
# AFEW-VA clips, VA a function of the current face (docs/synth_world.md).
av-world: $(STAMP)
	$(BIN)/holistic synth $(TEMPORAL)/audiovisual/world --preset audiovisual --seed 0 \
		--federate $(TEMPORAL)/audiovisual/shards --workers 2 --no-progress \
		--audio-setting mel_image_size=32

results-latent: av-world
	$(BIN)/python recipes/temporal_comparison.py \
		--config recipes/configs/temporal_comparison/latent.yaml

results-audiovisual: av-world
	$(BIN)/python recipes/temporal_comparison.py \
		--config recipes/configs/temporal_comparison/audiovisual.yaml

clean-venv:
	rm -rf $(VENV)
