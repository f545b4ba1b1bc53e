"""Stage caching of train_surrogate and capture, proved by which components ran (tasks called without the engine)."""
import pytest

import symdistill.tasks.capture as capture_task_module
import symdistill.tasks.train_surrogate as train_task_module
from symdistill.catalogs import ArtifactRef
from symdistill.catalogs.store import checkpoint_ref
from symdistill.tasks.context import open_run, settled_spec
from symdistill.tasks.run import execute

from conftest import run_stages


@pytest.fixture
def calls(monkeypatch):
    seen = []
    for module, name in ((train_task_module, "train"), (capture_task_module, "capture")):
        real = getattr(module, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            seen.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(module, name, counting)
    return seen


def run_until_capture(config, store):
    return run_stages(config, store, ("simulate", "split", "train_surrogate", "capture"))


def edit(config, old, new):
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


def test_capture_settings_never_retrain_but_model_settings_do(tiny_config, tmp_path, calls):
    config, store = tiny_config(6), tmp_path / "store"
    first = run_until_capture(config, store)
    assert first.executed == ["simulate", "split", "train_surrogate", "capture"] and calls == ["train", "capture"]
    edit(config, "max_graphs = 20", "max_graphs = 10")
    second = run_until_capture(config, store)
    assert second.executed == ["capture"] and calls[2:] == ["capture"]
    edit(config, "hidden = 8", "hidden = 6")
    third = run_until_capture(config, store)
    assert third.executed == ["train_surrogate", "capture"] and calls[3:] == ["train", "capture"]
    ref = third.ref("train_surrogate")
    assert not third.store.is_complete(checkpoint_ref(ref))  # the finished stage leaves no checkpoint behind
    assert third.store.read(ref)["weights"].attrs["spec"]


def test_a_crashed_training_resumes_from_its_checkpoint(tiny_config, tmp_path, monkeypatch):
    config, store = tiny_config(6), tmp_path / "store"
    edit(config, "epochs = 2", "epochs = 4\ncheckpoint_every = 2")
    real_train = train_task_module.train

    def crash_after_checkpoint(*args, on_checkpoint, **kwargs):
        def save_then_crash(checkpoint):
            on_checkpoint(checkpoint)
            raise KeyboardInterrupt("killed")
        return real_train(*args, on_checkpoint=save_then_crash, **kwargs)

    monkeypatch.setattr(train_task_module, "train", crash_after_checkpoint)
    ctx, _ = open_run(config, store, log=lambda _: None)
    execute(ctx, "simulate"), execute(ctx, "split")
    with pytest.raises(KeyboardInterrupt):
        execute(ctx, "train_surrogate")
    ref = settled_spec(ctx, "train_surrogate")[0].ref  # its key, now that its inputs exist
    assert not ctx.store.is_complete(ref) and ctx.store.is_complete(checkpoint_ref(ref))
    monkeypatch.setattr(train_task_module, "train", real_train)
    messages = []
    ctx, _ = open_run(config, store, log=messages.append)
    execute(ctx, "train_surrogate")
    assert "train_surrogate: resuming from the checkpoint of epoch 2" in messages
    provenance = ctx.store.provenance(ArtifactRef("train_surrogate", ref.key))
    assert provenance["figures"]["resumed_from_epoch"] == 2 and provenance["figures"]["epochs_run"] == 4
