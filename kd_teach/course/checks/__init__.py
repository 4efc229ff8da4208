"""Checkers for the exercises: ``check_<function>(your_function)`` compares it with the package's reference.

One module per chapter's exercises, on one engine (:mod:`kd_teach.course.checks.core`, and
:mod:`kd_teach.course.checks.nested` for inputs that are not one tensor): :mod:`.hinton` (notebooks
01-02), :mod:`.students` (03), :mod:`.distilbert` (04), :mod:`.tinybert` and :mod:`.mapping` (05),
:mod:`.general` (06), :mod:`.task` and :mod:`.augmentation` (07), :mod:`.leaderboard` and :mod:`.bootstrap`
(08), :mod:`.deployment` (09), and the
find-the-bug set (90): :mod:`.bugs` and :mod:`.bugs_tinybert`.
"""
from kd_teach.course.checks.augmentation import check_replace_words, check_word_candidates
from kd_teach.course.checks.bugs import check_kd_step, check_make_teacher, check_transfer_loss
from kd_teach.course.checks.bugs_tinybert import check_attention_loss, check_hidden_states_loss
from kd_teach.course.checks.core import CheckFailed
from kd_teach.course.checks.deployment import (check_int8_accuracy_loss, check_pick_deployment,
                                              check_same_runtime_speedups)
from kd_teach.course.checks.distilbert import check_L_ce, check_L_cos, check_L_mlm, check_bert_corruption
from kd_teach.course.checks.general import check_general_distillation_loss
from kd_teach.course.checks.hinton import (check_distillation_loss, check_entropy, check_guess, check_kd_loss,
                                           check_soft_targets, check_softmax_with_temperature)
from kd_teach.course.checks.bootstrap import check_paired_bootstrap
from kd_teach.course.checks.leaderboard import check_pick_within_budget
from kd_teach.course.checks.mapping import check_layer_mapping
from kd_teach.course.checks.students import check_bert_parameter_count, check_student_weight_name
from kd_teach.course.checks.task import check_task_distillation_loss
from kd_teach.course.checks.tinybert import check_L_attn, check_L_hidn, check_L_pred

__all__ = ["CheckFailed", "check_softmax_with_temperature", "check_soft_targets", "check_entropy",
           "check_distillation_loss", "check_kd_loss", "check_guess", "check_bert_parameter_count",
           "check_student_weight_name", "check_L_cos", "check_L_ce", "check_L_mlm", "check_bert_corruption",
           "check_L_hidn", "check_L_attn", "check_L_pred", "check_layer_mapping",
           "check_general_distillation_loss", "check_task_distillation_loss", "check_word_candidates",
           "check_replace_words", "check_pick_within_budget", "check_paired_bootstrap", "check_make_teacher",
           "check_kd_step", "check_transfer_loss", "check_hidden_states_loss", "check_attention_loss",
           "check_same_runtime_speedups", "check_int8_accuracy_loss", "check_pick_deployment"]
