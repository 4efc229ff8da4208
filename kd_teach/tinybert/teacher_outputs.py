"""TinyBERT step 1's teacher outputs, computed once: mapped hidden states and attention scores.

The teacher is frozen (eval mode, no dropout), so what it gives task distillation's step 1
for a sentence is the same in every epoch: its hidden states at layers g(0), ..., g(M) and its
pre-softmax attention scores at layers g(1), ..., g(M). Step 1 runs 2 epochs at the cpu
preset and 10 at gpu-full (the reference code: 10 to 20), and the teacher's forward pass is a
large part of each step, so :func:`teacher_targets` runs the teacher once over the training
set and keeps what step 1 reads, each sentence at its own length (no padding stored);
:meth:`TeacherTargets.batch` pads them back for a batch.

They are kept in memory only when they fit. For a sentence of L tokens they take

    4 bytes x ((M + 1) L d_T + M H L^2)

e.g. 114 kB for a 14-token sentence with the cpu preset's MiniLM teacher (M = 3, d_T = 384,
H = 12); 10,000 such sentences take 1.1 GB. At gpu-full (BERT-base, 128 tokens, hundreds of
thousands of augmented sentences) they do not fit, and step 1 recomputes the teacher.

The cached values differ from recomputed ones by float rounding only (a sentence is padded
to another length in another batch).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from datasets import Dataset
from torch import Tensor

from kd_teach.engine.data import make_loader, token_lengths
from kd_teach.engine.runtime import default_device
from kd_teach.tinybert.attention import LayerOutputs, layer_outputs

ROW_INDEX = "row_index"  # the column that tells a batch which cached rows it holds


def available_memory_bytes() -> int | None:
    """Memory the system can still hand out (Linux's MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def bytes_needed(lengths: list[int], n_layers: int, heads: int, d_T: int) -> int:
    """Bytes of float32 teacher targets for sentences of these lengths: (M+1) L d_T + M H L^2 floats each."""
    return 4 * sum((n_layers + 1) * L * d_T + n_layers * heads * L * L for L in lengths)


@dataclass
class TeacherTargets:
    """What the teacher gives step 1, per training row, unpadded.

    g: [0, g(1), ..., g(M)], the teacher layers stored.
    hidden: one (M + 1, L_i, d_T) tensor per row: hidden states of layers g(0..M).
    scores: one (M, H, L_i, L_i) tensor per row: pre-softmax attention scores of layers g(1..M).
    """

    g: list[int]
    hidden: list[Tensor]
    scores: list[Tensor]

    def batch(self, rows: list[int], seq: int, device: torch.device | str = "cpu") -> LayerOutputs:
        """The teacher's outputs for ``rows`` padded (with zeros) to ``seq`` tokens, as :func:`layer_outputs`
        returns them: ``hidden_states[n]`` (B, seq, d_T) and ``scores[n]`` (B, H, seq, seq) for n in g.

        The losses ignore padded positions (:mod:`kd_teach.tinybert.losses`), so zeros there are fine.
        """
        M1, _, d_T = self.hidden[rows[0]].shape
        H = self.scores[rows[0]].shape[1]
        hidden = torch.zeros(M1, len(rows), seq, d_T)                           # (M+1, B, seq, d_T)
        scores = torch.zeros(M1 - 1, len(rows), H, seq, seq)                    # (M, B, H, seq, seq)
        for b, i in enumerate(rows):
            L = self.hidden[i].shape[1]
            hidden[:, b, :L] = self.hidden[i]
            scores[:, b, :, :L, :L] = self.scores[i]
        hidden_states: list[Tensor | None] = [None] * (max(self.g) + 1)        # indexed by teacher layer
        for j, n in enumerate(self.g):
            hidden_states[n] = hidden[j].to(device)
        return LayerOutputs(tuple(hidden_states), {n: scores[j - 1].to(device) for j, n in enumerate(self.g) if j},
                            None)


@torch.inference_mode()
def teacher_targets(teacher: torch.nn.Module, train_set: Dataset, tokenizer, g: list[int], batch_size: int = 64,
                    max_bytes: int | None = None) -> TeacherTargets | None:
    """One pass of the frozen ``teacher`` over ``train_set``; None if its targets would not fit in ``max_bytes``.

    Args:
        teacher: a BERT (eval mode is set here).
        train_set: tokenised sentences (``input_ids``, ``attention_mask``), in the order the
            training loader indexes them (its ``row_index`` column, see :func:`with_row_index`).
        g: [0, g(1), ..., g(M)] from :func:`kd_teach.tinybert.mapping.layer_mapping`.
        max_bytes: the most memory to use; None: a quarter of the memory available now.
    Returns:
        :class:`TeacherTargets`, or None when they would take more than ``max_bytes``.
    Raises:
        ValueError: if a layer of ``g`` is not one of the teacher's (from :func:`layer_outputs`).
    Source: the targets of L_embd, L_hidn and L_attn, TinyBERT, Jiao et al. 2020, Eqs. 7-9.
    """
    lengths = token_lengths(train_set)
    cfg = teacher.config
    need = bytes_needed(lengths, len(g) - 1, cfg.num_attention_heads, cfg.hidden_size)
    if max_bytes is None:
        available = available_memory_bytes()
        max_bytes = available // 4 if available is not None else 0
    if need > max_bytes:
        return None
    device = default_device()
    teacher.eval().to(device)
    order = torch.argsort(torch.tensor(lengths), stable=True).tolist()         # shortest first: little padding
    hidden: list[Tensor | None] = [None] * len(lengths)
    scores: list[Tensor | None] = [None] * len(lengths)
    columns = [c for c in ("input_ids", "attention_mask", "token_type_ids") if c in train_set.column_names]
    loader = make_loader(train_set.select_columns(columns).select(order), tokenizer, batch_size)
    start = 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        t = layer_outputs(teacher, batch, g[1:])
        h = torch.stack([t.hidden_states[n] for n in g]).float().cpu()          # (M+1, B, L, d_T)
        a = torch.stack([t.scores[n] for n in g[1:]]).float().cpu()             # (M, B, H, L, L)
        for b in range(h.shape[1]):
            i, L = order[start + b], lengths[order[start + b]]
            hidden[i], scores[i] = h[:, b, :L].clone(), a[:, b, :, :L, :L].clone()
        start += h.shape[1]
    return TeacherTargets(list(g), hidden, scores)


def with_row_index(ds: Dataset) -> Dataset:
    """``ds`` with a ``row_index`` column (0 .. len - 1), so a batch can look up its cached targets."""
    return ds.add_column(ROW_INDEX, list(range(len(ds))))
