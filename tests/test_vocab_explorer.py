"""Notebook 04's temperature slider over a masked-LM teacher's soft targets, driven through its Python API."""
import math

import pytest
import torch

from kd_teach.course.vocab_explorer import MaskedWordExplorer, mass_cover
from kd_teach.distilbert.stages import mask_logits, top_predictions
from kd_teach.temperature import softmax_with_temperature

SENTENCES = ["the movie was [MASK] and far too long .", "he drank a cup of [MASK] ."]


def test_mass_cover_counts_the_likeliest_tokens_to_a_share():
    p = torch.tensor([0.05, 0.5, 0.3, 0.15], dtype=torch.float64)
    assert mass_cover(p, 0.5) == 1 and mass_cover(p, 0.8) == 2 and mass_cover(p, 0.9) == 3 and mass_cover(p, 1.0) == 4
    with pytest.raises(ValueError, match=r"share must be in \(0, 1\], got 1.5"):
        mass_cover(p, 1.5)


def test_the_slider_recomputes_the_teachers_soft_targets_over_the_vocabulary(smoke_mlm_teacher, tokenizer):
    teacher, _ = smoke_mlm_teacher
    explorer = MaskedWordExplorer(teacher, tokenizer, SENTENCES, T=1.0, k=5)
    assert explorer.probs.numel() == tokenizer.vocab_size and float(explorer.probs.sum()) == pytest.approx(1.0)
    cold = (explorer.top_mass, explorer.n90, explorer.entropy, bytes(explorer.chart.value))
    explorer.slider.value = 5.0
    z = mask_logits(teacher, tokenizer, SENTENCES[0])[0].double()
    torch.testing.assert_close(explorer.probs, softmax_with_temperature(z, 5.0))
    assert [t for t, _ in explorer.top] == [t for t, _ in top_predictions(teacher, tokenizer, SENTENCES[0], 5, 5.0)[0]]
    assert explorer.top_mass < cold[0] and explorer.n90 > cold[1] and explorer.entropy > cold[2]   # mass spreads
    assert explorer.perplexity == pytest.approx(math.exp(explorer.entropy))
    assert explorer.n90 == mass_cover(explorer.probs, 0.9) and bytes(explorer.chart.value) != cold[3]
    assert f"{1 - explorer.top_mass:.3f}" in explorer.text.value and "T = 5.0" in explorer.text.value
    explorer.sentence_box.value = SENTENCES[1]
    assert SENTENCES[1] in explorer.text.value and f"'{explorer.top[0][0]}'" in explorer.text.value  # named, quoted
    z = mask_logits(teacher, tokenizer, SENTENCES[1])[0].double()
    torch.testing.assert_close(explorer.probs, softmax_with_temperature(z, 5.0))


def test_bad_sentences_are_named(smoke_mlm_teacher, tokenizer):
    teacher, _ = smoke_mlm_teacher
    with pytest.raises(ValueError, match=r"exactly one \[MASK\], got 2"):
        MaskedWordExplorer(teacher, tokenizer, ["the [MASK] was [MASK] ."])
    with pytest.raises(ValueError, match=r"sentence must contain \[MASK\]"):
        MaskedWordExplorer(teacher, tokenizer, ["no blank here ."])
    with pytest.raises(ValueError, match="sentences is empty"):
        MaskedWordExplorer(teacher, tokenizer, [])


def test_small_probabilities_stay_readable_and_the_title_names_the_sentence():
    from kd_teach.course.vocab_explorer import readable, short

    assert readable(0.1234) == "0.123" and readable(0.0042) == "0.004" and readable(3.1e-5) == "3.1e-05"
    assert readable(0.0) == "0.000" and "0.000" not in readable(4e-4)
    assert short("a" * 80).endswith("…") and len(short("a" * 80)) == 60 and short("short") == "short"
