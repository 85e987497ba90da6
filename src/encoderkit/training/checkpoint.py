"""Resumable training checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint folder holds ``weights.safetensors`` (every trained parameter, shared tensors stored once,
via ``safetensors.torch.save_model``), ``optimizer.safetensors`` + ``optimizer.json`` (AdamW moments and
hyper-parameters), ``rng.safetensors`` (torch's CPU RNG state: dropout and ELECTRA's sampling) and
``trainer_state.json`` (step, logs, configuration). It is written to a temporary folder and swapped in
with renames, so an interrupted save never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

CHECKPOINT = "checkpoint"
STATE = "trainer_state.json"


def save_optimizer(optimizer, folder: Path) -> None:
    import torch
    from safetensors.torch import save_file

    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    (folder / "optimizer.json").write_text(json.dumps({"param_groups": sd["param_groups"], "scalars": scalars}))


def load_optimizer(optimizer, folder: Path) -> None:
    from safetensors.torch import load_file

    meta = json.loads((folder / "optimizer.json").read_text())
    state: dict[int, dict] = {}
    for name, value in load_file(str(folder / "optimizer.safetensors")).items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    groups = meta["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(out: Path, module, optimizer, state: dict) -> Path:
    """Write the checkpoint of ``out`` atomically (tmp folder, then renames)."""
    import torch
    from safetensors.torch import save_file, save_model

    final = out / CHECKPOINT
    tmp = out / (CHECKPOINT + ".tmp")
    old = out / (CHECKPOINT + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(module, str(tmp / "weights.safetensors"))
    save_optimizer(optimizer, tmp)
    save_file({"torch_cpu": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
    (tmp / STATE).write_text(json.dumps(state, indent=1))
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(out: Path) -> Path | None:
    """The latest complete checkpoint under ``out`` (the previous one if a swap was interrupted)."""
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        folder = out / name
        if (folder / STATE).is_file() and (folder / "weights.safetensors").is_file():
            return folder
    return None


def read_state(folder: Path) -> dict:
    return json.loads((folder / STATE).read_text())


def load_checkpoint(folder: Path, module, optimizer) -> dict:
    """Restore weights, optimizer and RNG from ``folder``; returns the trainer state."""
    import torch
    from safetensors.torch import load_file, load_model

    load_model(module, str(folder / "weights.safetensors"))
    load_optimizer(optimizer, folder)
    torch.set_rng_state(load_file(str(folder / "rng.safetensors"))["torch_cpu"])
    return read_state(folder)


def remove_checkpoint(out: Path) -> None:
    for name in (CHECKPOINT, CHECKPOINT + ".tmp", CHECKPOINT + ".old"):
        shutil.rmtree(out / name, ignore_errors=True)
