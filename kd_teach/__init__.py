"""kd_teach: knowledge distillation of BERT, written to be read.

The losses and the temperature softmax are written from scratch; models, data and the
training loop lean on transformers, datasets and accelerate.
"""
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss
from kd_teach.temperature import (entropy, entropy_at_temperature, log_softmax_with_temperature, soft_targets,
                                  softmax_with_temperature)

__version__ = "0.1.0"

__all__ = [
    "softmax_with_temperature",
    "log_softmax_with_temperature",
    "soft_targets",
    "entropy",
    "entropy_at_temperature",
    "student_loss",
    "distillation_loss",
    "kd_loss",
]
