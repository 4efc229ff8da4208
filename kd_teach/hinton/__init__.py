"""Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015).

:mod:`.losses`: the student loss, the distillation loss (KL at temperature T, times T^2) and
their weighted sum; :mod:`.stages`: the KD student trained on them over a transfer set.
"""
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss

__all__ = ["student_loss", "distillation_loss", "kd_loss"]
