"""The shared loop: it learns, checkpoints atomically, and an interrupted run resumes to the same weights."""
import pytest
import torch
from accelerate.state import AcceleratorState

from kd_teach.engine.finetune import hard_label_loss
from kd_teach.engine.models import build_student
from kd_teach.engine.presets import StudentSize
from kd_teach.engine.train import TrainConfig, train

TINY = StudentSize(layers=1, hidden=32, heads=2, ffn=64)


@pytest.fixture()
def tiny(smoke_data, smoke_teacher):
    teacher, _ = smoke_teacher
    subset = smoke_data.train.select(range(96))
    return lambda: (build_student(teacher.config, TINY, seed=1), smoke_data.train_loader(16, seed=5, train=subset))


def test_loss_goes_down(tiny):
    model, loader = tiny()
    result = train(model, loader, hard_label_loss, TrainConfig(epochs=4, lr=3e-3, log_every=1, desc="t"))
    assert result.steps == 4 * len(loader)
    first, last = result.history[0]["loss"], sum(e["loss"] for e in result.history[-6:]) / 6
    assert last < first


def test_interrupted_run_resumes_to_the_same_weights(tiny, tmp_path):
    config = TrainConfig(epochs=2, lr=1e-3, checkpoint_every=1000, log_every=1, desc="t")
    model, loader = tiny()
    reference = train(model, loader, hard_label_loss, config)
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    calls = {"n": 0}

    def interrupt_at_step_9(m, batch):  # Ctrl-C in the middle of epoch 2, after dropout drew its masks
        calls["n"] += 1
        loss = hard_label_loss(m, batch)
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return loss

    model, loader = tiny()
    with pytest.raises(KeyboardInterrupt):
        train(model, loader, interrupt_at_step_9, config, checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["result"]["steps"] == 8
    assert not (tmp_path / "checkpoint.pt.tmp").exists()  # written atomically

    model, loader = tiny()  # a fresh process would start from scratch weights like these
    resumed = train(model, loader, hard_label_loss, config, checkpoint_dir=tmp_path)
    assert resumed.steps == reference.steps
    # the time before the interruption still counts: a stage's wall time adds it (StageResult.since)
    assert resumed.resumed_seconds == saved["result"]["seconds"] > 0 and resumed.seconds > resumed.resumed_seconds
    assert [e["loss"] for e in resumed.history] == pytest.approx([e["loss"] for e in reference.history], abs=1e-5)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_empty_loader_is_refused(tiny):
    model, _ = tiny()
    with pytest.raises(ValueError, match="nothing to train"):
        train(model, [], hard_label_loss, TrainConfig())


def test_training_leaves_the_denormal_mode_as_it_found_it(tiny):
    from kd_teach.engine.runtime import _denormals_flushed

    assert not _denormals_flushed()
    model, loader = tiny()
    train(model, loader, hard_label_loss, TrainConfig(epochs=1))
    assert not _denormals_flushed()  # flushing is process-wide: switched back after training


def _no_dropout(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


def test_gradient_accumulation_equals_one_larger_batch(smoke_data, smoke_teacher):
    """Two batches of 8 accumulated into one step train exactly as one batch of 16 (no dropout)."""
    from kd_teach.engine.data import make_loader

    teacher, _ = smoke_teacher
    rows = smoke_data.train.select(range(48))
    weights = []
    for batch_size, accum in ((16, 1), (8, 2)):
        model = _no_dropout(build_student(teacher.config, TINY, seed=1))
        loader = make_loader(rows, smoke_data.tokenizer, batch_size)  # same order, unshuffled
        config = TrainConfig(epochs=1, lr=1e-3, grad_accum_steps=accum, log_every=1, desc="t")
        result = train(model, loader, hard_label_loss, config)
        assert result.steps == 3
        weights.append((model.state_dict(), [e["loss"] for e in result.history]))
    (big, big_losses), (small, small_losses) = weights
    assert small_losses == pytest.approx(big_losses, abs=1e-5)  # logged loss: the step's mean
    for name, value in big.items():
        torch.testing.assert_close(small[name], value, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("minutes, saved_before_step_4", [(0.0, 3), (60.0, None)])
def test_checkpoints_follow_the_wall_clock(tiny, tmp_path, minutes, saved_before_step_4):
    """Mid-epoch checkpoints come every ``checkpoint_minutes``: after every step at 0, none within the
    first epoch at an hour (the epoch's end still saves)."""
    config = TrainConfig(epochs=1, lr=1e-3, checkpoint_minutes=minutes, desc="t")
    ckpt, seen = tmp_path / "checkpoint.pt", {}

    def loss_fn(m, batch):
        seen["n"] = seen.get("n", 0) + 1
        if seen["n"] == 4:  # before step 4: what is on disk?
            seen["steps"] = torch.load(ckpt, weights_only=False)["result"]["steps"] if ckpt.is_file() else None
        return hard_label_loss(m, batch)

    model, loader = tiny()
    train(model, loader, loss_fn, config, checkpoint_dir=tmp_path)
    assert seen["steps"] == saved_before_step_4
    assert torch.load(ckpt, weights_only=False)["result"]["steps"] == len(loader)  # the epoch's end


def test_accumulated_run_resumes_mid_step(tiny, tmp_path):
    """Interrupted inside an optimiser step, the run redoes that step's batches from its start."""
    config = TrainConfig(epochs=1, lr=1e-3, grad_accum_steps=2, checkpoint_every=1, log_every=1, desc="t")
    model, loader = tiny()  # 6 batches -> 3 steps
    reference = train(model, loader, hard_label_loss, config)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    calls = {"n": 0}

    def interrupt_at_batch_4(m, batch):  # the second batch of step 2
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return hard_label_loss(m, batch)

    model, loader = tiny()
    with pytest.raises(KeyboardInterrupt):
        train(model, loader, interrupt_at_batch_4, config, checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["result"]["steps"] == 1
    model, loader = tiny()
    resumed = train(model, loader, hard_label_loss, config, checkpoint_dir=tmp_path)
    assert resumed.steps == reference.steps == 3
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_bad_accumulation_is_refused(tiny):
    model, loader = tiny()
    with pytest.raises(ValueError, match="grad_accum_steps must be an integer >= 1, got 0"):
        train(model, loader, hard_label_loss, TrainConfig(grad_accum_steps=0))


def test_a_signal_mid_step_stops_after_that_step_and_resumes_exactly(tiny, tmp_path):
    """SIGINT (Ctrl-C) or SIGTERM (kill) in the middle of a step: the step finishes, is saved, and the run resumes."""
    import os
    import signal

    config = TrainConfig(epochs=2, lr=1e-3, checkpoint_every=1000, log_every=1, desc="t")
    model, loader = tiny()
    reference = train(model, loader, hard_label_loss, config)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    handler = signal.getsignal(signal.SIGTERM)

    calls = {"n": 0}

    def signal_in_step_9(m, batch):
        calls["n"] += 1
        if calls["n"] == 9:
            os.kill(os.getpid(), signal.SIGTERM)      # lands before this step's backward and optimiser step
        return hard_label_loss(m, batch)

    model, loader = tiny()
    with pytest.raises(KeyboardInterrupt):
        train(model, loader, signal_in_step_9, config, checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["result"]["steps"] == 9   # step 9 finished
    assert signal.getsignal(signal.SIGTERM) == handler                                         # handler restored
    model, loader = tiny()
    resumed = train(model, loader, hard_label_loss, config, checkpoint_dir=tmp_path)
    assert [e["loss"] for e in resumed.history] == pytest.approx([e["loss"] for e in reference.history], abs=1e-5)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_mixed_precision_reaches_parts_of_the_model_the_loss_calls_directly(tiny):
    """accelerate wraps only ``model.forward`` in autocast; TinyBERT's and DistilBERT's losses call the
    model's parts (``model.bert``, a student inside a distiller), which must run in bf16 too."""
    model, loader = tiny()
    seen = []
    model.bert.encoder.layer[0].output.dense.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))

    def through_a_part(m, batch):                  # as the TinyBERT losses do: not through m.forward
        hidden = m.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return hidden.float().pow(2).mean()

    AcceleratorState._reset_state(reset_partial_state=True)  # accelerate keeps one mixed-precision mode per process
    try:
        train(model, loader, through_a_part, TrainConfig(epochs=1, lr=1e-3, mixed_precision="bf16", desc="t"))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32 (autocast, not casting)
