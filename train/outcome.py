"""What a training run decided and produced, typed: returned by train(), written to model.json.

    from train.trainer import train
    result = train(cfg)              # TrainResult
    result.out, result.results["test_accuracy"], result.selection.features
    result.selected_weights          # --refit: the weights validation selected, before the refit

Selection is model.json's "selection": each step sets its own fields (the head phase the
features and table, fine-tuning its layer and schedule, the refit why it was skipped), and
only the fields that apply are written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Selection:
    features: str  # what the head reads
    requested: str  # --features as given (auto, a choice) or "search"
    table: list[dict] | None = None  # a row per head candidate, the chosen one first
    search: list[dict] | None = None  # --search: every candidate measured
    finetune_from: str | None = None  # the first fine-tuned layer
    finetune_decay_epochs: int | None = None  # the cosine's length (the budget's epochs)
    finetune_skipped: str | None = None  # why fine-tuning did not run
    refit_skipped: str | None = None  # why --refit did not run

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict) -> Selection:
        return cls(**data)


@dataclass
class TrainResult:
    out: Path  # the model folder written
    results: dict  # model.json's "results": accuracies, times, what fine-tuning reached
    selection: Selection
    # --refit: the weights fine-tuning selected on validation, which the refit then replaced
    # (tools/experiments/refit_nested.py judges both); None without a refit.
    selected_weights: list | None = field(default=None, repr=False)
