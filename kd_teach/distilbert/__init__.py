"""Sanh et al., "DistilBERT, a distilled version of BERT" (2019).

:mod:`.losses`: L_ce, L_mlm, L_cos and the triple loss; :mod:`.masking`: BERT's dynamic
masking (80/10/10); :mod:`.student`: the student initialised from every other teacher layer;
:mod:`.stages`: the MLM teacher and pre-training distillation on the general corpus.
"""
from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm, distilbert_loss

__all__ = ["L_ce", "L_mlm", "L_cos", "distilbert_loss"]
