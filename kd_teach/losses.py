"""Distillation losses, each a pure function of tensors named as in its paper."""
from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm, ce_positions, distilbert_loss
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred

__all__ = ["student_loss", "distillation_loss", "kd_loss",
           "L_ce", "L_mlm", "L_cos", "ce_positions", "distilbert_loss",
           "L_embd", "L_hidn", "L_attn", "L_pred"]
