"""Jiao et al., "TinyBERT: Distilling BERT for Natural Language Understanding" (2020).

:mod:`.losses`: L_embd, L_hidn, L_attn, L_pred and the layer-wise sum (Eqs. 7-11);
:mod:`.mapping`: the layer mapping g(m); :mod:`.attention`: capturing attention scores;
:mod:`.stages`: general distillation and the two task-distillation steps, with the projections W;
:mod:`.teacher_outputs`: the teacher's layers computed once; :mod:`.augment` and
:mod:`.fill_mask`: the data augmentation; :mod:`.rows`: the results table's TinyBERT rows.
"""
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping

__all__ = ["L_embd", "L_hidn", "L_attn", "L_pred", "intermediate_loss", "layer_mapping"]
