"""Fitting the fusion weights and the in-scope rule on labelled dev texts."""
from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .evaluation import load_labelled, signals_for
from .fusion import FusionModel


def calibrate(matcher, path, split: str = "dev", output: str | Path | None = None) -> FusionModel:
    """Fit :class:`FusionModel` on ``split`` and save it (default: the matcher's fusion path)."""
    if split == "test":
        raise InputError("refusing to fit on the test split: it is for reporting only; use dev", "split")
    df = load_labelled(path, split)
    texts = [matcher.check_text(t) for t in df["text"]]
    labels = [list(map(int, l)) for l in df["labels"]]
    signals, _ = signals_for(matcher, texts)
    fusion = FusionModel.fit(
        signals,
        labels,
        [d.id for d in matcher.directions],
        model=matcher.encoder.model_dir.name,
        fitted_on=f"{Path(path).name}:{split} ({len(texts)} texts)",
    )
    fusion.save(Path(output) if output else matcher.config.fusion_path)
    return fusion
