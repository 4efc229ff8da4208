"""Checkers for the exercises: ``check_<function>(your_function)`` compares it with the package's reference.

One module per chapter's exercises, on one engine (:mod:`kd_teach.course.checks.core`):
:mod:`.hinton` (notebooks 01-02), :mod:`.students` (03), :mod:`.distilbert` (04),
:mod:`.tinybert` and :mod:`.mapping` (05).
"""
from kd_teach.course.checks.core import CheckFailed
from kd_teach.course.checks.distilbert import check_L_ce, check_L_cos, check_L_mlm, check_bert_corruption
from kd_teach.course.checks.hinton import (check_distillation_loss, check_entropy, check_guess, check_kd_loss,
                                           check_soft_targets, check_softmax_with_temperature)
from kd_teach.course.checks.mapping import check_layer_mapping
from kd_teach.course.checks.students import check_bert_parameter_count, check_student_weight_name
from kd_teach.course.checks.tinybert import check_L_attn, check_L_hidn, check_L_pred

__all__ = ["CheckFailed", "check_softmax_with_temperature", "check_soft_targets", "check_entropy",
           "check_distillation_loss", "check_kd_loss", "check_guess", "check_bert_parameter_count",
           "check_student_weight_name", "check_L_cos", "check_L_ce", "check_L_mlm", "check_bert_corruption",
           "check_L_hidn", "check_L_attn", "check_L_pred", "check_layer_mapping"]
