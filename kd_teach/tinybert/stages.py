"""TinyBERT's stages: general distillation, then task distillation in two steps.

Jiao et al., "TinyBERT: Distilling BERT for Natural Language Understanding" (2020), Section 3:

1. :func:`general_distillation`: the *pretrained* (not fine-tuned) teacher teaches a randomly
   initialised student on a general corpus, intermediate layers only (L_embd, L_hidn, L_attn),
   which gives a general TinyBERT.
2. :func:`task_distillation_step1`: a teacher *fine-tuned on the task* teaches the general
   student on task data (augmented, in the paper), intermediate layers again.
3. :func:`task_distillation_step2`: the same, prediction layer only (L_pred).

Student layer m learns from teacher layer g(m) (:mod:`kd_teach.tinybert.mapping`); the student's
narrower states reach the teacher's width through learnable projections W (:class:`Projections`),
trained with the student (the shared loop optimises one module: :class:`TinyBertDistiller`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Sequence

import torch
from datasets import Dataset, concatenate_datasets
from torch import nn

from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import SST2Data, make_loader
from kd_teach.engine.evaluate import teacher_logits
from kd_teach.engine.models import build_student, model_inputs, seeded
from kd_teach.engine.presets import TinyBertSettings
from kd_teach.engine.runtime import default_device
from kd_teach.engine.train import StageResult, TrainConfig, train
from kd_teach.tinybert.attention import bert_layers, layer_outputs
from kd_teach.tinybert.losses import INTERMEDIATE_TERMS, L_pred, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping
from kd_teach.tinybert.teacher_outputs import ROW_INDEX, TeacherTargets, teacher_targets, with_row_index


class Projections(nn.Module):
    """The learnable maps W (d_S, d_T) from the student's width to the teacher's.

    ``shared=True``: one W for the embeddings and every layer, as the reference code's
    ``fit_dense`` (which also has a bias; the paper's W has none, nor has ours).
    ``shared=False``: W_e for the embeddings and one W_h per mapped layer (the paper's notation).
    Initialised like ``nn.Linear``: uniform in +-1/sqrt(d_S).
    """

    def __init__(self, d_S: int, d_T: int, n_layers: int, shared: bool = True):
        super().__init__()
        self.shared, self.n_layers = shared, n_layers
        count = 1 if shared else n_layers + 1                           # [W_e, W_h(1), ..., W_h(M)]
        bound = 1 / math.sqrt(d_S)
        self.W = nn.ParameterList(nn.Parameter(torch.empty(d_S, d_T).uniform_(-bound, bound)) for _ in range(count))

    def __getitem__(self, m: int) -> torch.Tensor:
        """W for layer m: m = 0 is W_e (embeddings), m >= 1 is W_h of student layer m."""
        if not 0 <= m <= self.n_layers:
            raise IndexError(f"layer must be in 0..{self.n_layers}, got {m}")
        return self.W[0 if self.shared else m]                           # (d_S, d_T)


class TinyBertDistiller(nn.Module):
    """The student and its projections: everything the intermediate-layer losses train."""

    def __init__(self, student: nn.Module, projections: Projections):
        super().__init__()
        self.student = student
        self.projections = projections


def make_distiller(student: nn.Module, teacher_config, settings: TinyBertSettings) -> TinyBertDistiller:
    """Wrap ``student`` with fresh projections from its width to the teacher's (drawn from the global
    random state; :func:`new_distiller` seeds a new student and its projections together)."""
    d_S, d_T = student.config.hidden_size, teacher_config.hidden_size
    return TinyBertDistiller(student, Projections(d_S, d_T, student.config.num_hidden_layers, settings.share_projection))


def new_distiller(teacher_config, settings: TinyBertSettings, seed: int = 0) -> TinyBertDistiller:
    """A random student of ``settings.student`` and fresh projections W, both drawn from ``seed``.

    The student's weights first, then W, from one seeded stream; the global random state is
    left as it was. This is where general distillation (and the ablation without it) starts.
    """
    with seeded(seed):
        return make_distiller(build_student(teacher_config, settings.student, seed=None), teacher_config, settings)


def check_compatible(student: nn.Module, teacher: nn.Module, settings: TinyBertSettings) -> list[int]:
    """The mapping g as a list [0, g(1), ..., g(M)], after checking the pair can be distilled.

    Raises:
        ValueError: if the head counts differ (L_attn compares heads one to one), the
            vocabularies differ, or the mapping does not fit (:func:`layer_mapping`).
    """
    s, t = student.config, teacher.config
    if s.num_attention_heads != t.num_attention_heads:
        raise ValueError(f"student and teacher must have the same number of attention heads for L_attn, got "
                         f"{s.num_attention_heads} (student) and {t.num_attention_heads} (teacher)")
    if s.vocab_size != t.vocab_size:
        raise ValueError(f"student and teacher must share the vocabulary, got vocab_size {s.vocab_size} and "
                         f"{t.vocab_size}")
    return layer_mapping(len(bert_layers(student)), len(bert_layers(teacher)), settings.mapping)


def intermediate_loss_fn(teacher: nn.Module | None, g: list[int], attn_on: str = "scores",
                         targets: TeacherTargets | None = None, terms: Sequence[str] = INTERMEDIATE_TERMS):
    """The ``loss_fn(distiller, batch)`` of general distillation and task step 1: the frozen teacher's
    layers g(1..M) and the student's layers 1..M on the batch, then :func:`intermediate_loss`.

    With ``targets`` (:func:`kd_teach.tinybert.teacher_outputs.teacher_targets`, computed once) the
    teacher's side is read from them instead of recomputed; the batch then carries each row's
    ``row_index`` (:func:`kd_teach.tinybert.teacher_outputs.with_row_index`) and ``teacher`` may be None.
    ``terms``: the losses summed (:func:`kd_teach.tinybert.losses.intermediate_loss`).
    """
    M = len(g) - 1

    def loss_fn(model: TinyBertDistiller, batch: dict):
        ids = batch["input_ids"]                                            # (B, L)
        if targets is not None:                                             # teacher layers g(0..M), padded to L
            t = targets.batch(batch[ROW_INDEX].tolist(), ids.shape[1], ids.device)
        else:
            with torch.no_grad():
                t = layer_outputs(teacher, batch, g[1:])                   # teacher layers g(1..M)
        s = layer_outputs(model.student, batch, range(1, M + 1))            # student layers 1..M
        return intermediate_loss(s, t, g, model.projections, batch["attention_mask"], attn_on, terms)
    return loss_fn


@torch.no_grad()
def heldout_intermediate_loss(distiller: TinyBertDistiller, teacher: nn.Module, g: list[int], loader,
                              attn_on: str = "scores") -> dict:
    """Mean L_embd, L_hidn, L_attn and their sum over ``loader``'s batches, the student in eval mode."""
    distiller.eval()
    device = next(distiller.parameters()).device
    fn, totals, n = intermediate_loss_fn(teacher, g, attn_on), {}, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}
        loss, terms = fn(distiller, batch)
        for k, v in {**terms, "loss": loss.item()}.items():
            totals[k] = totals.get(k, 0.0) + v
        n += 1
    distiller.train()
    return {f"heldout_{k}": v / max(n, 1) for k, v in totals.items()}


def corpus_sample(chunks: Dataset, n: int, seed: int = 0) -> Dataset:
    """``n`` chunks of the corpus in a seeded random order: one shuffle of it, then as many further shuffles
    (seeds ``seed + 1``, ...) as ``n`` needs; a longer run's sample holds a shorter run's (the same seed).

    Raises:
        ValueError: ``n`` < 1 or the corpus is empty.
    """
    if n < 1 or len(chunks) == 0:
        raise ValueError(f"need n >= 1 chunks from a non-empty corpus, got n={n} from {len(chunks)} chunks")
    passes = [chunks.shuffle(seed=seed + k) for k in range(math.ceil(n / len(chunks)))]
    return concatenate_datasets(passes).select(range(n)) if len(passes) > 1 else passes[0].select(range(n))


def general_distillation(settings: TinyBertSettings, teacher: nn.Module, distiller: TinyBertDistiller,
                         corpus: Corpus, seed: int = 0, checkpoint_dir: str | Path | None = None,
                         mixed_precision: str = "no", on_log=None) -> StageResult:
    """General distillation: the pretrained teacher's embeddings, hidden states and attention, on the corpus.

    Args:
        settings: steps, batch size, learning rate, mapping and attention target.
        teacher: the *pretrained* encoder (``BertModel``), frozen. Not fine-tuned: the
            general student should learn language, not a task.
        distiller: the random student and its projections (:func:`make_distiller`).
        corpus: the general corpus (chunks of ``corpus.max_length`` tokens); ``settings.general_steps`` batches
            of it are drawn by :func:`corpus_sample`, passing over it again when one pass is too few.
        seed: batch order and dropout.
        on_log: called with each logged history entry (live curves).
    Returns:
        :class:`StageResult` whose model is the distiller; history entries carry L_embd,
        L_hidn and L_attn, the evaluation the same on held-out chunks.
    Raises:
        ValueError: see :func:`check_compatible`.
    Source: TinyBERT, Jiao et al. 2020, Section 3.2 ("General Distillation").
    """
    g = check_compatible(distiller.student, teacher, settings)
    teacher.eval().requires_grad_(False).to(default_device())
    sample = corpus_sample(corpus.train, settings.general_steps * settings.general_batch_size, seed)
    loader = make_loader(sample, corpus.tokenizer, settings.general_batch_size, shuffle=True, seed=seed)
    heldout = corpus.heldout_loader(settings.general_batch_size)
    config = TrainConfig(lr=settings.general_lr, seed=seed, mixed_precision=mixed_precision, log_every=5,
                         desc="TinyBERT general distillation")
    t0 = time.perf_counter()
    result = train(distiller, loader, intermediate_loss_fn(teacher, g, settings.attn_on), config,
                   lambda m: heldout_intermediate_loss(m, teacher, g, heldout, settings.attn_on), checkpoint_dir, on_log)
    return StageResult.since(distiller, result, t0)


def task_distillation_step1(settings: TinyBertSettings, teacher: nn.Module, distiller: TinyBertDistiller,
                            train_set: Dataset, tokenizer, batch_size: int, seed: int = 0,
                            checkpoint_dir: str | Path | None = None, mixed_precision: str = "no",
                            on_log=None, terms: Sequence[str] = INTERMEDIATE_TERMS) -> StageResult:
    """Task distillation, step 1: intermediate layers (L_embd, L_hidn, L_attn) from the task teacher.

    Args:
        teacher: fine-tuned on the task (``BertForSequenceClassification``); frozen. A
            pretrained-only teacher has nothing task-specific to give.
        distiller: the general student (or a random one, for the ablation) and its projections.
        train_set: tokenised task sentences (labels are not used), e.g. augmented SST-2.
        terms: the losses trained on (all three; the paper's Table 6 drops one at a time).

    With ``settings.cache_teacher_outputs`` the teacher runs once over ``train_set`` and every
    epoch reads its outputs (:mod:`kd_teach.tinybert.teacher_outputs`), if they fit in memory; else the
    teacher runs inside every step. The stage's time includes that one pass.
    Source: TinyBERT, Jiao et al. 2020, Section 3.2 ("Task-specific Distillation"), first step.
    """
    g = check_compatible(distiller.student, teacher, settings)
    teacher.eval().requires_grad_(False).to(default_device())
    t0 = time.perf_counter()
    targets = teacher_targets(teacher, train_set, tokenizer, g, 2 * batch_size) if settings.cache_teacher_outputs \
        else None
    if targets is not None:                                                 # the teacher ran once, here
        train_set = with_row_index(train_set)
    loss_fn = intermediate_loss_fn(teacher, g, settings.attn_on, targets, terms)  # else: the teacher in every step
    loader = make_loader(train_set, tokenizer, batch_size, shuffle=True, seed=seed)
    config = TrainConfig(epochs=settings.step1_epochs, lr=settings.step1_lr, seed=seed, mixed_precision=mixed_precision,
                         desc="TinyBERT task distillation, step 1 (intermediate layers)")
    result = train(distiller, loader, loss_fn, config, None, checkpoint_dir, on_log)
    return StageResult.since(distiller, result, t0)


def task_distillation_step2(settings: TinyBertSettings, teacher: nn.Module, student: nn.Module, data: SST2Data,
                            train_set: Dataset, batch_size: int, eval_batch_size: int = 64, seed: int = 0,
                            checkpoint_dir: str | Path | None = None, mixed_precision: str = "no",
                            z_t: torch.Tensor | None = None, on_log=None) -> StageResult:
    """Task distillation, step 2: the prediction layer, L_pred at temperature ``settings.t``, no hard labels.

    The frozen teacher's logits are computed once (:func:`kd_teach.engine.evaluate.teacher_logits`)
    unless given as ``z_t`` (rows of ``train_set``, classes). Dev is not looked at.
    Source: TinyBERT, Jiao et al. 2020, Section 3.2, second step (Eq. 10).
    """
    t0 = time.perf_counter()
    if z_t is None:
        z_t = teacher_logits(teacher, train_set, data.tokenizer, eval_batch_size)
    ds = train_set.add_column("teacher_logits", z_t.tolist())
    loader = make_loader(ds, data.tokenizer, batch_size, shuffle=True, seed=seed)

    def loss_fn(model, batch):
        z_s = model(**model_inputs(model, batch)).logits                        # (B, C)
        return L_pred(z_s, batch["teacher_logits"], settings.t)

    config = TrainConfig(epochs=settings.step2_epochs, lr=settings.step2_lr, seed=seed, mixed_precision=mixed_precision,
                         desc="TinyBERT task distillation, step 2 (prediction layer)")
    result = train(student, loader, loss_fn, config, None, checkpoint_dir, on_log)
    return StageResult.since(student, result, t0)
