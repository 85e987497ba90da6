"""Issue 32, the CPU part: one device choice for every command that runs a model, ``auto`` is the CPU
where torch sees no GPU, a GPU asked for where there is none is one line, and nothing CUDA-only is
imported on a CPU machine."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import run_cli
from encoderkit.errors import EncoderkitError
from encoderkit.runtime import devices


def test_auto_is_the_cpu_without_a_gpu_and_a_named_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(devices, "cuda_count", lambda: 0)
    assert devices.resolve_device("auto") == "cpu" and devices.resolve_device("cpu") == "cpu"
    with pytest.raises(EncoderkitError, match="torch sees no CUDA GPU"):
        devices.resolve_device("cuda")
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    assert devices.resolve_device("auto") == "cuda:0" and devices.resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(EncoderkitError, match="torch sees 2 GPU"):
        devices.resolve_device("cuda:2")
    # an ONNX runtime stays on the CPU unless a GPU is named: 'auto' never moves it
    assert devices.runtime_device(True, "auto") == "cpu" and devices.runtime_device(False, "auto") == "cuda:0"


def test_the_process_default_follows_use_device_and_the_environment(monkeypatch):
    monkeypatch.delenv(devices.DEVICE_ENV, raising=False)
    assert devices.default_device() == "auto"
    assert devices.use_device("cpu") == "cpu" and devices.default_device() == "cpu"
    monkeypatch.setenv(devices.DEVICE_ENV, "nonsense")
    with pytest.raises(EncoderkitError, match="unknown device 'nonsense'"):
        devices.default_device()


def _commands(app, prefix=""):
    for info in app.registered_commands:
        yield prefix + (info.name or info.callback.__name__), info.callback
    for group in app.registered_groups:
        yield from _commands(group.typer_instance, prefix + group.name + " ")


def test_every_command_that_runs_a_model_takes_device():
    import inspect

    from encoderkit.cli import app
    from encoderkit.cli.common import NO_MODEL_COMMANDS

    commands = dict(_commands(app))
    assert {"index", "search", "serve", "train ner", "pretrain mlm", "compress", "eval retrieval", "classify"} <= set(commands)
    for name, callback in commands.items():
        takes = "device" in inspect.signature(callback).parameters
        assert takes == (name not in NO_MODEL_COMMANDS), name


@pytest.mark.parametrize("device, needle", [("cuda", "torch sees no CUDA GPU"), ("tpu", "unknown device 'tpu'")])
def test_a_device_that_is_not_here_is_one_line_before_any_work(tmp_path, capsys, device, needle):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    code, out, err = run_cli(capsys, "search", "q", "--index", tmp_path / "missing", "--device", device)
    assert code == 2 and needle in err and err.count("\n") == 1 and "does not exist" not in err


def test_device_cpu_answers_as_the_default(tiny_model_dir, tmp_path, capsys):
    src = tmp_path / "docs"
    src.mkdir()
    for i, text in enumerate(["storms bring rain and wind", "the cat sleeps all day", "rain falls on the hills"]):
        (src / f"d{i}.txt").write_text(text)
    ix = tmp_path / "ix"
    code, out, err = run_cli(
        capsys,
        "index",
        src,
        "--index",
        ix,
        "--model",
        tiny_model_dir,
        "--no-onnx",
        "--encode-precision",
        "fp32",
        "--device",
        "cpu",
    )
    assert code == 0, err
    update = json.loads((ix / "manifest.json").read_text())["build"]["last_update"]
    assert update["encoded_on"] == "cpu fp32"
    hits = [
        json.loads(run_cli(capsys, "search", "rain", "--index", ix, "--json", *extra)[1])["hits"]
        for extra in ((), ("--device", "cpu"))
    ]
    assert [(h["doc_id"], h["score"]) for h in hits[0]] == [(h["doc_id"], h["score"]) for h in hits[1]]


def test_training_records_its_device_and_resumes_on_another_setting(tiny_cross_encoder_dir, tmp_path):
    """The device is not part of what a resume must repeat (a run started on a GPU resumes on a CPU):
    here both are the CPU, named two ways."""
    from transformers import AutoModelForSequenceClassification

    from encoderkit.training.loop import TrainConfig, Trainer, split_by_name

    class LogitObjective:  # the mean squared logit of one-token inputs (tests/training/test_train.py)
        name, metric = "toy", "score"

        def __init__(self, model, n):
            self.module, self.n_examples = model, n

        def named_groups(self):
            return split_by_name(self.module.named_parameters(), ("classifier.", "pooler."))

        def loss(self, batch, epoch):
            logits = self.module(input_ids=torch.tensor([[101, 2000 + 7 * i, 3000 + i, 102] for i in batch])).logits
            return logits.float().pow(2).mean(), {"examples": len(batch)}

        def export(self, folder):
            pass

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir)
    config = TrainConfig(max_steps=4, batch_size=4, lr=1e-3, log_every=1, keep_checkpoint=True, device="cpu")
    log = Trainer(LogitObjective(model, n=8), config, tmp_path / "run").run()
    assert log["device"].startswith("cpu (")
    config = TrainConfig(max_steps=4, batch_size=4, lr=1e-3, log_every=1, keep_checkpoint=True, device="auto")
    resumed = Trainer(LogitObjective(model, n=8), config, tmp_path / "run").run(resume=True)
    assert resumed["step"] == 4 and resumed["completed"]


def test_nothing_cuda_only_is_imported_on_a_cpu_machine(tiny_model_dir):
    code = (
        "import sys; from encoderkit import Encoder; "
        f"e = Encoder.load({str(tiny_model_dir)!r}); e.encode(['a text'], show_progress=False); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pynvml', 'nvidia', 'cupy', 'triton', 'onnxruntime_gpu')); "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_device_auto_does_not_import_torch_for_a_search_on_onnx_runtime(tiny_model_dir, tmp_path, capsys):
    """--device auto (the default) is resolved only when a torch model loads: a search whose query
    encoder is the ONNX export still starts without torch."""
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text("Rain falls on the hills. The river rises after the storm.")
    ix = tmp_path / "ix"
    code, out, err = run_cli(capsys, "index", src, "--index", ix, "--model", tiny_model_dir, "-q")
    assert code == 0, err
    probe = (
        "import sys\nfrom encoderkit.cli import app, common\n"
        f"try:\n    common.run_app(app, ['search', 'rain', '--index', {str(ix)!r}, '--mode', 'dense', '--json'])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert res.stdout.strip().endswith("ok"), res.stderr[-2000:]
