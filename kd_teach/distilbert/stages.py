"""Stages on the general corpus: give the teacher an MLM head, then DistilBERT's pre-training distillation.

- :func:`train_mlm_teacher`: a BERT encoder and its masked-LM head learn to fill in masked
  tokens (L_mlm only). The packaged all-MiniLM-L6-v2 needs this before it can teach
  DistilBERT's L_ce, which distils a distribution over the whole vocabulary.
- :func:`distil_pretraining`: DistilBERT's student, initialised from every other teacher
  layer, learns from the teacher on the corpus with the triple loss
  L = alpha_ce L_ce + alpha_mlm L_mlm + alpha_cos L_cos (Sanh et al. 2019, Section 2).

Both draw new masks for every batch (dynamic masking, :mod:`kd_teach.distilbert.masking`) from the
global torch RNG, which the shared loop checkpoints, so a resumed run masks as an
uninterrupted one would.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm, ce_positions
from kd_teach.distilbert.masking import DynamicMasker, IGNORE_INDEX, MaskingConfig
from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import make_loader
from kd_teach.engine.models import mlm_hidden_and_logits
from kd_teach.engine.presets import DistilBertSettings, MLMTeacherSettings
from kd_teach.engine.runtime import default_device
from kd_teach.engine.train import StageResult, TrainConfig, train
from kd_teach.temperature import softmax_with_temperature

# Ordinary sentences whose blanks any fluent reader fills: a quick look at what an MLM teacher learnt.
PROBE_SENTENCES = ("the movie was [MASK] and far too long .", "he drank a cup of [MASK] .",
                   "she opened the [MASK] and walked into the garden .", "the capital of france is [MASK] .")

# Held-out accuracy: 15% of the tokens, chosen uniformly (no rare-token smoothing), all replaced
# by [MASK] (no random or kept tokens): the model must fill in real blanks, the usual measure.
# The same seeded masks are used for every model measured.
EVAL_MASKING = MaskingConfig(mask_prob=0.15, word_mask=1.0, word_keep=0.0, word_rand=0.0)


@torch.inference_mode()
def masked_token_accuracy(model: torch.nn.Module, corpus: Corpus, seed: int = 0, batch_size: int = 64) -> float:
    """Share of held-out masked tokens whose top-1 prediction is the original token.

    15% of the held-out chunks' tokens (special tokens excluded, chosen uniformly) are
    replaced by [MASK], with masks drawn from ``seed`` so that every model is measured on the
    same blanks.

    Args:
        model: a ``BertForMaskedLM`` or ``DistilBertForMaskedLM``.
        corpus: gives the held-out chunks and the token counts.
    Returns:
        accuracy in [0, 1].
    """
    masker = DynamicMasker.from_tokenizer(corpus.tokenizer, corpus.counts, config=EVAL_MASKING, smoothing=0.0)
    generator = torch.Generator().manual_seed(seed)
    device = default_device()
    model.eval().to(device)
    correct = total = 0
    for batch in corpus.heldout_loader(batch_size):
        ids, labels = masker(batch["input_ids"], batch["attention_mask"], generator=generator)
        chosen = labels != IGNORE_INDEX                                          # (B, L)
        _, logits = mlm_hidden_and_logits(model, ids.to(device), batch["attention_mask"].to(device),
                                          chosen.to(device))                     # (N, V)
        correct += (logits.argmax(-1).cpu() == labels[chosen]).sum().item()
        total += chosen.sum().item()
    return correct / max(total, 1)


@torch.inference_mode()
def mask_logits(model: torch.nn.Module, tokenizer, sentence: str) -> torch.Tensor:
    """The model's logits over the whole vocabulary at each [MASK] of ``sentence``: (n_masks, vocab), float32, CPU.

    Raises:
        ValueError: if ``sentence`` holds no [MASK] token.
    """
    enc = tokenizer(sentence, return_tensors="pt")
    where = enc["input_ids"] == tokenizer.mask_token_id                      # (1, L)
    if not where.any():
        raise ValueError(f"sentence must contain {tokenizer.mask_token}, got {sentence!r}")
    model.eval()
    device = next(model.parameters()).device
    _, z = mlm_hidden_and_logits(model, enc["input_ids"].to(device), enc["attention_mask"].to(device),
                                 where.to(device))                           # (n_masks, V)
    return z.float().cpu()


def top_predictions(model: torch.nn.Module, tokenizer, sentence: str, k: int = 5, T: float = 1.0
                    ) -> list[list[tuple[str, float]]]:
    """The model's ``k`` likeliest tokens, with probabilities at temperature ``T``, for each [MASK] in ``sentence``.

    The probabilities are the soft targets such a teacher hands its student in L_ce:
    softmax(z / T) over the whole vocabulary (Hinton et al. 2015, Eq. 1).

    Returns:
        one list per [MASK], of (token, probability) pairs, likeliest first.
    Raises:
        ValueError: if ``sentence`` holds no [MASK] token.
    """
    p = softmax_with_temperature(mask_logits(model, tokenizer, sentence), T)   # (n_masks, V) soft targets
    top = p.topk(k, dim=-1)
    return [[(tokenizer.convert_ids_to_tokens(int(i)), float(v)) for v, i in zip(vals, ids)]
            for vals, ids in zip(top.values, top.indices)]


def corpus_loader(corpus: Corpus, steps: int, batch_size: int, seed: int):
    """Length-grouped batches of a seeded sample of ``steps * batch_size`` chunks, as one epoch.

    When that is more chunks than the corpus holds, the corpus is taken several times, each
    time in a new seeded order (every chunk once before any twice); dynamic masking gives the
    repeats new blanks.
    """
    n, size = steps * batch_size, len(corpus.train)
    if n <= size:
        sample = corpus.train.shuffle(seed=seed).select(range(n))
    else:
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(size) for _ in range(-(-n // size))])[:n]
        sample = corpus.train.select(order.tolist())
    return make_loader(sample, corpus.tokenizer, batch_size, shuffle=True, seed=seed)


def mlm_param_groups(model: torch.nn.Module, settings: MLMTeacherSettings) -> list[dict]:
    """Two optimiser groups: the MLM head's own parameters at ``settings.head_lr``, the rest at ``settings.lr``.

    The head's own parameters are ``cls.predictions.transform.*`` (dense, LayerNorm) and the output
    bias; its decoder matrix is tied to the word embeddings, so it belongs to the encoder.
    """
    head, encoder = [], []
    for name, p in model.named_parameters():  # tied weights are listed once
        (head if name.startswith("cls.") else encoder).append(p)
    head_lr = settings.lr if settings.head_lr is None else settings.head_lr
    return [{"params": head, "lr": head_lr}, {"params": encoder, "lr": settings.lr}]


def train_mlm_teacher(settings: MLMTeacherSettings, teacher: torch.nn.Module, corpus: Corpus,
                      checkpoint_dir=None, mixed_precision: str = "no") -> StageResult:
    """Train a ``BertForMaskedLM`` (encoder and head) on the corpus with L_mlm, for ``settings.steps`` steps.

    Masks are BERT's 80/10/10 at ``settings.mask_prob`` (``settings.smoothing`` = 0: positions
    chosen uniformly); the head and the encoder learn at their own rates (:func:`mlm_param_groups`).
    Evaluated with :func:`masked_token_accuracy` every ``settings.eval_every`` steps, if set,
    and at the end (``evals[-1]["masked_accuracy"]``).
    """
    masker = DynamicMasker.from_tokenizer(corpus.tokenizer, corpus.counts, MaskingConfig(mask_prob=settings.mask_prob),
                                          smoothing=settings.smoothing)

    def loss_fn(model, batch):
        ids, labels = masker(batch["input_ids"], batch["attention_mask"])      # new masks every batch
        chosen = labels != IGNORE_INDEX                                        # (B, L) masked positions
        _, logits = mlm_hidden_and_logits(model, ids, batch["attention_mask"], chosen)  # (N, V)
        return L_mlm(logits[None], labels[chosen][None])                      # the N rows as (1, N, V)

    config = TrainConfig(lr=settings.lr, warmup_ratio=settings.warmup_ratio, seed=settings.seed, desc="MLM teacher",
                         mixed_precision=mixed_precision, eval_every=settings.eval_every)
    loader = corpus_loader(corpus, settings.steps, settings.batch_size, settings.seed)
    t0 = time.perf_counter()
    result = train(teacher, loader, loss_fn, config, lambda m: {"masked_accuracy": masked_token_accuracy(m, corpus)},
                   checkpoint_dir, param_groups=mlm_param_groups(teacher, settings))
    return StageResult.since(teacher, result, t0)


def triple_loss_fn(settings: DistilBertSettings, teacher: torch.nn.Module, masker: DynamicMasker):
    """The ``loss_fn(student, batch)`` of pre-training distillation: new masks, the frozen teacher and
    the student on the same masked input, then alpha_ce L_ce + alpha_mlm L_mlm + alpha_cos L_cos.

    The speed-up of this stage: the vocabulary-sized MLM head runs only at the N positions L_ce
    and L_mlm look at (on a CPU about twice as fast). Those N rows are given to the taught losses
    as one sequence, (1, N, vocab): the same terms as :func:`kd_teach.distilbert.losses.distilbert_loss`
    on the full (batch, seq, vocab) logits (``tests/test_pretrain.py`` checks it).
    """
    alphas = {"L_ce": settings.alpha_ce, "L_mlm": settings.alpha_mlm, "L_cos": settings.alpha_cos}

    def loss_fn(model, batch):
        am = batch["attention_mask"]                                             # (B, L)
        ids, labels = masker(batch["input_ids"], am)                             # new masks every batch
        where = ce_positions(am, labels, settings.restrict_ce_to_mask)           # (B, L) positions with logits
        with torch.no_grad():
            h_t, z_t = mlm_hidden_and_logits(teacher, ids, am, where)           # (B, L, H), (N, V)
        h_s, z_s = mlm_hidden_and_logits(model, ids, am, where)
        z_s, z_t, y = z_s[None], z_t[None], labels[where][None]                 # (1, N, V), (1, N, V), (1, N)
        terms = {}
        if alphas["L_ce"] > 0:
            terms["L_ce"] = L_ce(z_s, z_t, torch.ones_like(y, dtype=torch.bool), settings.T)  # all N rows
        if alphas["L_mlm"] > 0:
            terms["L_mlm"] = L_mlm(z_s, y)                                      # the masked ones among them
        if alphas["L_cos"] > 0:
            terms["L_cos"] = L_cos(h_s, h_t, am)
        loss = sum(alphas[k] * v for k, v in terms.items())                     # sum_k alpha_k L_k
        return loss, {k: v.item() for k, v in terms.items()}
    return loss_fn


def distil_pretraining(settings: DistilBertSettings, teacher: torch.nn.Module, student: torch.nn.Module,
                       corpus: Corpus, seed: int = 0, checkpoint_dir=None, mixed_precision: str = "no",
                       on_log=None) -> StageResult:
    """DistilBERT's pre-training distillation: the student learns the teacher's MLM behaviour on the corpus.

    Every batch: draw new masks; run the frozen teacher and the student on the same masked
    input; L_ce (the teacher's soft targets over the vocabulary at T, times T^2), L_mlm (the
    true tokens) and L_cos (the direction of the last hidden states), weighted by
    ``settings.alpha_*`` — a weight of 0 switches its term off (the ablations).

    Args:
        settings: steps, batch size, gradient accumulation, learning rate, T and weights.
        teacher: a ``BertForMaskedLM`` with a trained head (see :func:`train_mlm_teacher`); frozen.
        student: a ``DistilBertForMaskedLM`` of the same hidden size
            (:func:`kd_teach.distilbert.student.init_distilbert_student`).
        corpus: the general corpus.
        seed: batch order, masks and dropout.
        on_log: called with every logged history entry (live loss curves in a notebook).
    Returns:
        :class:`StageResult`; history entries carry ``L_ce``, ``L_mlm``, ``L_cos`` per step, and the
        evaluation the student's held-out ``masked_accuracy``.
    """
    masker = DynamicMasker.from_tokenizer(corpus.tokenizer, corpus.counts, smoothing=settings.smoothing)
    teacher.eval().requires_grad_(False).to(default_device())
    loss_fn = triple_loss_fn(settings, teacher, masker)
    config = TrainConfig(lr=settings.lr, warmup_ratio=settings.warmup_ratio, seed=seed,
                         grad_accum_steps=settings.grad_accum, max_grad_norm=settings.max_grad_norm,
                         mixed_precision=mixed_precision, log_every=5, desc="DistilBERT pre-training distillation")
    loader = corpus_loader(corpus, settings.steps * settings.grad_accum, settings.batch_size, seed)
    t0 = time.perf_counter()
    result = train(student, loader, loss_fn, config, lambda m: {"masked_accuracy": masked_token_accuracy(m, corpus)},
                   checkpoint_dir, on_log)
    return StageResult.since(student, result, t0)
