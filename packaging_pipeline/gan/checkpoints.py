"""The GAN's training state in the lake after every epoch, so a killed night resumes where it stopped."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from packaging_pipeline.core.errors import PipelineError
from packaging_pipeline.core.keys import gan_checkpoint_prefix
from packaging_pipeline.gan.model import PatternGAN

if TYPE_CHECKING:
    from packaging_pipeline.core.storage import Lake

log = logging.getLogger(__name__)


def save_checkpoint(lake: Lake, ds: str, gan: PatternGAN, state: dict[str, Any]) -> None:
    """Weights and both optimizers' state; ``state.json`` is written last and marks the checkpoint complete."""
    prefix = gan_checkpoint_prefix(ds)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "gan.weights.h5"
        gan.save_weights(weights)
        lake.upload_file(weights, prefix + "gan.weights.h5")
    buf = io.BytesIO()
    np.savez(
        buf,
        **{f"d{i}": v.numpy() for i, v in enumerate(gan.d_optimizer.variables)},
        **{f"g{i}": v.numpy() for i, v in enumerate(gan.g_optimizer.variables)},
    )
    lake.write_bytes(prefix + "optimizers.npz", buf.getvalue())
    lake.write_bytes(prefix + "state.json", json.dumps(state, sort_keys=True).encode())


def load_checkpoint(lake: Lake, ds: str, gan: PatternGAN) -> dict[str, Any] | None:
    """Restore a complete checkpoint of night ``ds`` into ``gan``; None when there is none."""
    prefix = gan_checkpoint_prefix(ds)
    if not lake.exists(prefix + "state.json"):
        return None
    try:
        state = json.loads(lake.read_bytes(prefix + "state.json"))
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "gan.weights.h5"
            weights.write_bytes(lake.read_bytes(prefix + "gan.weights.h5"))
            gan.load_weights(weights)
        arrays = np.load(io.BytesIO(lake.read_bytes(prefix + "optimizers.npz")))
        for tag, opt in (("d", gan.d_optimizer), ("g", gan.g_optimizer)):
            for i, var in enumerate(opt.variables):
                var.assign(arrays[f"{tag}{i}"])
    except Exception as exc:  # any unreadable part makes the checkpoint unusable
        raise PipelineError(
            f"the checkpoint under {lake.uri_of(prefix)} is corrupt or from another model shape ({exc}); "
            f"delete that prefix or train with --restart to start the night over"
        ) from exc
    return state
