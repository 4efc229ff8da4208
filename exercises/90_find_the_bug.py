# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 90: find the bug
#
# Most of the pain of distillation in practice is not in the papers: it is a loop that runs,
# prints a loss that falls, and quietly learns the wrong thing. Each exercise below hands you
# a short distillation loop with **one** bug that real projects have shipped. Run the cell
# that shows the symptom, find the bug, and write the fixed function in the exercise cell
# (copy the buggy one and change what is wrong). The checker runs your fix: it compares it
# with a correct version on random inputs, checks that the symptom is gone, and if something
# is still wrong it says which bug.
#
# | # | bug | symptom |
# |---|---|---|
# | 1 | `reduction="mean"` in the KL | the soft loss is C times too small |
# | 2 | the T² factor missing | the soft loss's gradient vanishes next to the hard loss's as T grows |
# | 3 | the teacher in train mode, not detached | its targets are random; the optimiser moves it |
# | 4 | an untuned teacher | chance-level targets, a chance-level student |
# | 5 | the transfer set's labels in the hard loss | a gain that is the labels', credited to distillation |
# | 6 | a layer index off by one | the student's last layer learns from the wrong teacher layer |
# | 7 | the attention loss over padding | padding the same sentences changes the loss |
#
# The models are tiny (a few hundred weights, made below), so every loop runs in a fraction
# of a second on a CPU; the bugs are the same in BERT-sized ones.

# %%
import torch
import torch.nn.functional as F
from torch import nn

from kd_teach.course.checks import (check_attention_loss, check_hidden_states_loss, check_kd_step, check_make_teacher,
                                    check_transfer_loss)
from kd_teach.hinton.losses import distillation_loss, kd_loss
from kd_teach.tinybert.losses import L_attn, L_hidn

torch.set_printoptions(precision=4, sci_mode=False)
torch.manual_seed(0)
torch.set_num_threads(1)                 # tiny models: extra threads would only wait for each other

# %% [markdown]
# The set-up, used by exercises 3 to 5: a toy classification task standing in for SST-2.
# Each "sentence" is 16 numbers; a fixed "pretrained" body (a layer and a dropout, like a
# BERT encoder without its head) turns it into 32 features; the label, one of 4 classes, is a
# linear function of those features. Only the first 100 training sentences are labelled; the
# other 1,900 are the **transfer set**: the teacher labels them, their own labels are
# withheld (Hinton et al. 2015, Section 2).

# %%
D, WIDTH, CLASSES = 16, 32, 4
body = nn.Sequential(nn.Linear(D, WIDTH), nn.Tanh(), nn.Dropout(0.1)).eval()     # "pretrained", frozen here
X = torch.randn(3000, D)
with torch.no_grad():
    y = (body(X) @ torch.randn(WIDTH, CLASSES)).argmax(-1)                         # (3000,) labels
X_train, y_train, X_test, y_test = X[:2000], y[:2000], X[2000:], y[2000:]
labelled = torch.arange(2000) < 100                                                # (2000,) True: a labelled sentence


class Distiller(nn.Module):
    """A student and its teacher in one module, as distillation code often holds them."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student, self.teacher = student, teacher


def new_student() -> nn.Module:
    return nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, CLASSES))


def accuracy(model: nn.Module) -> float:
    model.eval()
    with torch.no_grad():
        return (model(X_test).argmax(-1) == y_test).float().mean().item()


print(f"{int(labelled.sum())} labelled sentences, {int((~labelled).sum())} in the transfer set, {len(X_test)} to test; "
      f"the commonest class is {torch.bincount(y_test).max().item() / len(y_test):.0%} of the test set")

# %% [markdown]
# ## Bug 1: `reduction="mean"`
#
# Hinton's soft loss is the KL divergence between the teacher's and the student's softened
# distributions, **per example**, averaged over the batch, times T² (notebook 2). PyTorch's
# `nn.KLDivLoss` and `F.kl_div` sum over the classes and divide by the batch only with
# `reduction="batchmean"`; their default `"mean"` divides by batch × classes (PyTorch warns
# about it, below, and plans to change the default).

# %%
def buggy_kd_step_1(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    distiller.student.train()
    distiller.teacher.eval()
    with torch.no_grad():
        z_t = distiller.teacher(x)
    z_s = distiller.student(x)
    hard = F.cross_entropy(z_s, labels)
    soft = nn.KLDivLoss(reduction="mean")(F.log_softmax(z_s / T, dim=-1), F.softmax(z_t / T, dim=-1)) * T ** 2
    loss = alpha * hard + beta * soft
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [markdown]
# The symptom: the soft loss shrinks with the number of classes. With 4 classes it is 4
# times too small; with a vocabulary of 30,522 words (DistilBERT's L_ce, notebook 4) it all but
# vanishes. Torch itself warns when `reduction="mean"` is used; the cell prints its warning once.

# %%
import warnings

for C in (4, 30_522):
    z_s, z_t = torch.randn(8, C), 3 * torch.randn(8, C)
    with warnings.catch_warnings(record=True) as caught:   # shown below, not as stderr
        warnings.simplefilter("always")
        mean = nn.KLDivLoss(reduction="mean")(F.log_softmax(z_s, -1), F.softmax(z_t, -1))
    batchmean = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z_s, -1), F.softmax(z_t, -1))
    print(f"{C:>6} classes: 'batchmean' {batchmean.item():.4f}, 'mean' {mean.item():.6f} "
          f"({batchmean.item() / mean.item():,.0f} times smaller)")
print("torch warns:", *{str(w.message).split(".")[0] + "." for w in caught})

# %% [markdown]
# Fix it: write `kd_step`, one optimiser step of L = alpha CE(y, z_S) + beta T² KL(p_T ‖ p_S),
# returning the loss as a float.

# %%
def kd_step(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    """One Hinton-KD step on a batch: the fixed teacher's soft targets and the labels; returns the loss."""
    raise NotImplementedError("write the body of kd_step, fixed from buggy_kd_step_1 here")


check_kd_step(kd_step)

# %% [markdown]
# ## Bug 2: the missing T²
#
# The same step from another code base. It uses `"batchmean"`, but something else is off.

# %%
def buggy_kd_step_2(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    distiller.student.train()
    distiller.teacher.eval()
    with torch.no_grad():
        z_t = distiller.teacher(x)
    z_s = distiller.student(x)
    hard = F.cross_entropy(z_s, labels)
    soft = F.kl_div(F.log_softmax(z_s / T, dim=-1), F.softmax(z_t / T, dim=-1), reduction="batchmean")
    loss = alpha * hard + beta * soft
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [markdown]
# The symptom: the gradient each term sends to the student's logits. The soft term's
# gradient is (q − p) / T per logit, and q − p itself shrinks like 1/T once T is large, so
# without T² it falls like 1/T²: at T = 8 the "distillation" is almost all hard labels
# (Hinton et al. 2015, Section 2.1).

# %%
z_s, z_t, labels = torch.randn(32, CLASSES, requires_grad=True), 3 * torch.randn(32, CLASSES), torch.randint(0, 4, (32,))
(hard_grad,) = torch.autograd.grad(F.cross_entropy(z_s, labels), z_s)
print(f"hard loss: gradient norm {hard_grad.norm().item():.4f}")
for T in (1.0, 2.0, 4.0, 8.0):
    soft = F.kl_div(F.log_softmax(z_s / T, -1), F.softmax(z_t / T, -1), reduction="batchmean")
    (g,) = torch.autograd.grad(soft, z_s)
    print(f"T = {T:g}: soft-loss gradient norm without T² {g.norm().item():.4f}, with T² {T * T * g.norm().item():.4f}")

# %% [markdown]
# Fix it (the same `kd_step`, written again from this buggy version).

# %%
def kd_step(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    """One Hinton-KD step on a batch: the fixed teacher's soft targets and the labels; returns the loss."""
    raise NotImplementedError("write the body of kd_step, fixed from buggy_kd_step_2 here")


check_kd_step(kd_step)

# %% [markdown]
# ## Bug 3: a teacher that learns, and drops out
#
# This step puts the whole distiller in train mode and runs the teacher like the student.
# The optimiser was built over `distiller.parameters()`, which include the teacher's.

# %%
def buggy_kd_step_3(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    distiller.train()
    z_t = distiller.teacher(x)
    z_s = distiller.student(x)
    hard = F.cross_entropy(z_s, labels)
    soft = F.kl_div(F.log_softmax(z_s / T, dim=-1), F.softmax(z_t / T, dim=-1), reduction="batchmean") * T ** 2
    loss = alpha * hard + beta * soft
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


# %% [markdown]
# The symptoms: the teacher's weights move (it is pulled towards the student), and in train
# mode its dropout gives different soft targets for the same sentences at every call.

# %%
teacher = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, CLASSES))
distiller = Distiller(new_student(), teacher)
optimizer = torch.optim.SGD(distiller.parameters(), lr=0.1)
before = [p.detach().clone() for p in teacher.parameters()]
buggy_kd_step_3(distiller, optimizer, X_train[:64], y_train[:64])
moved = max((p.detach() - b).abs().max().item() for p, b in zip(teacher.parameters(), before))
with torch.no_grad():
    twice = (teacher(X_train[:64]) - teacher(X_train[:64])).abs().max().item()
print(f"after one step the teacher's weights moved by up to {moved:.4f}; two calls on the same sentences differ by "
      f"up to {twice:.3f} in a logit")
assert moved > 0 and twice > 0

# %%
def kd_step(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    """One Hinton-KD step on a batch: the fixed teacher's soft targets and the labels; returns the loss."""
    raise NotImplementedError("write the body of kd_step, fixed from buggy_kd_step_3 here")


check_kd_step(kd_step)

# %% [markdown]
# ## Bug 4: the untuned teacher
#
# "Load the pretrained model, put a classification head on it, distil." The head is new, so
# random: the teacher has never seen the task. (transformers says so when it loads
# `AutoModelForSequenceClassification` from an encoder: its load report lists
# `classifier.weight` and `classifier.bias` as MISSING, "newly initialized ... Consider
# training on your downstream task"; older versions say "Some weights ... were not
# initialized from the model checkpoint".)

# %%
def buggy_make_teacher(body, width, classes, X, y):
    teacher = nn.Sequential(body, nn.Linear(width, classes))     # the pretrained body and a classification head
    return teacher.eval()


# %% [markdown]
# The symptom: a student distilled from it on the transfer set, soft targets only, learns
# what the teacher knows about the task: nothing. Both sit near chance (or below it: a random
# head may favour a rare class).

# %%
def distil_soft(teacher, epochs=3, seed=0, T=4.0):
    """A fresh student trained on the teacher's soft targets over all 2,000 training sentences; its test accuracy."""
    torch.manual_seed(seed)
    distiller = Distiller(new_student(), teacher)
    optimizer = torch.optim.Adam(distiller.student.parameters(), lr=1e-2)
    for _ in range(epochs):
        for idx in torch.randperm(len(X_train)).split(64):
            kd_step(distiller, optimizer, X_train[idx], y_train[idx], T, alpha=0.0, beta=1.0)   # your fixed step
    return accuracy(distiller.student)


untuned = buggy_make_teacher(body, WIDTH, CLASSES, X_train[labelled], y_train[labelled])
print(f"untuned teacher: test accuracy {accuracy(untuned):.3f}; its student: {distil_soft(untuned):.3f}")

# %% [markdown]
# Fix it: the teacher must learn the task first, from the labelled sentences (fine-tune the
# head, and the body if you like, with cross-entropy), then teach; return it in eval mode.

# %%
def make_teacher(body, width, classes, X, y):
    """The pretrained body with a classification head, fine-tuned on the labelled (X, y); in eval mode."""
    raise NotImplementedError("write the body of make_teacher, fixed from buggy_make_teacher here")


check_make_teacher(make_teacher)

# %%
teacher = make_teacher(body, WIDTH, CLASSES, X_train[labelled], y_train[labelled])
student_accuracy = distil_soft(teacher)
print(f"fine-tuned teacher: test accuracy {accuracy(teacher):.3f}; its student: {student_accuracy:.3f}")
assert student_accuracy > accuracy(untuned) + 0.3

# %% [markdown]
# ## Bug 5: the transfer set's labels leak into the hard loss
#
# Hinton's loss mixes a hard term (labels) and a soft term (the teacher). On a batch that
# mixes labelled sentences and transfer-set sentences, only the labelled ones have a label
# to learn from. Here the data loader still carries the transfer sentences' true labels
# (they were in the original data set), and the loss uses them.

# %%
def buggy_transfer_loss(student_logits, teacher_logits, labels, labelled, T=4.0, alpha=0.5, beta=0.5):
    return kd_loss(student_logits, teacher_logits, labels, alpha, beta, T)


# %% [markdown]
# The symptoms: the loss changes when labels that nobody was supposed to have change; and a
# student trained with it beats an honest one by several points, a gain that the results
# table would credit to distillation.

# %%
def distil(loss_fn, epochs=3, seed=0):
    """A fresh student trained on the 2,000 training sentences with loss_fn; its test accuracy."""
    torch.manual_seed(seed)
    student = new_student()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    with torch.no_grad():
        z_t = teacher(X_train)                                    # the fine-tuned teacher of bug 4
    for _ in range(epochs):
        for idx in torch.randperm(len(X_train)).split(64):
            student.train()
            loss = loss_fn(student(X_train[idx]), z_t[idx], y_train[idx], labelled[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return accuracy(student)


z_s, z_t = torch.randn(6, CLASSES), torch.randn(6, CLASSES)
lab, y6 = torch.tensor([True, True, False, False, False, False]), torch.tensor([0, 1, 2, 3, 0, 1])
y6_other = torch.where(lab, y6, (y6 + 1) % CLASSES)                # the transfer rows' labels changed
print(f"loss {buggy_transfer_loss(z_s, z_t, y6, lab).item():.4f}; with the transfer rows' labels changed "
      f"{buggy_transfer_loss(z_s, z_t, y6_other, lab).item():.4f}")
leaky = distil(buggy_transfer_loss)
print(f"student with the leak: {leaky:.3f} (the teacher, fine-tuned on the 100 labels: {accuracy(teacher):.3f})")

# %%
def transfer_loss(student_logits, teacher_logits, labels, labelled, T=4.0, alpha=0.5, beta=0.5):
    """Hinton's loss on a batch of labelled and transfer-set rows: the hard term sees the labelled rows' labels only."""
    raise NotImplementedError("write the body of transfer_loss, fixed from buggy_transfer_loss here")


check_transfer_loss(transfer_loss)

# %%
honest = distil(transfer_loss)
print(f"honest student: {honest:.3f}; with the leak: {leaky:.3f}; {100 * (leaky - honest):+.1f} points from labels "
      "that distillation was not supposed to have")
assert torch.equal(transfer_loss(z_s, z_t, y6, lab), transfer_loss(z_s, z_t, y6_other, lab)) and leaky > honest

# %% [markdown]
# ## Bug 6: a layer index off by one
#
# TinyBERT's hidden-state loss (notebook 5): student layer m learns from teacher layer
# g(m) = m × N / M, m = 0 the embeddings. `output_hidden_states=True` gives the embedding
# layer's output and then every layer's: M + 1 and N + 1 tensors.

# %%
def buggy_hidden_states_loss(student_hidden, teacher_hidden, W, attention_mask):
    M, N = len(student_hidden), len(teacher_hidden)                     # layers of each model
    loss = 0
    for m, H_S in enumerate(student_hidden):
        n = m * N // M                                                  # g(m) = m N / M
        loss = loss + L_hidn(H_S, teacher_hidden[n], W, attention_mask)
    return loss


# %% [markdown]
# The symptom: which teacher layers a 2-layer student of a 6-layer teacher reads. A tuple
# that records every index read tells.

# %%
class Reads(tuple):
    """A tuple that remembers which entries were read."""

    def __getitem__(self, i):
        self.read.append(i)
        return super().__getitem__(i)


teacher_hidden = Reads(torch.randn(2, 5, 12) for _ in range(7))         # embeddings + 6 layers
teacher_hidden.read = []
student_hidden = tuple(torch.randn(2, 5, 8) for _ in range(3))          # embeddings + 2 layers
buggy_hidden_states_loss(student_hidden, teacher_hidden, torch.randn(8, 12), torch.ones(2, 5))
print(f"student layers 0, 1, 2 read teacher layers {teacher_hidden.read}; TinyBERT's uniform g: [0, 3, 6]")

# %%
def hidden_states_loss(student_hidden, teacher_hidden, W, attention_mask):
    """Sum over m = 0..M of L_hidn(student_hidden[m], teacher_hidden[g(m)], W), g(m) = m N / M."""
    raise NotImplementedError("write the body of hidden_states_loss, fixed from buggy_hidden_states_loss here")


check_hidden_states_loss(hidden_states_loss)

# %% [markdown]
# ## Bug 7: the attention loss over padding
#
# TinyBERT's attention loss compares the raw scores of every head (notebook 5, Eq. 7). This
# version masks the padded **keys**, the way BERT's own additive mask does inside attention.

# %%
def buggy_attention_loss(A_S, A_T, attention_mask):
    keep = attention_mask[:, None, None, :].bool().expand_as(A_S)      # padded keys out, as BERT's additive mask
    return ((A_S - A_T.detach())[keep] ** 2).mean()


# %% [markdown]
# The symptom: the same two sentences, padded to 6 tokens and then to 9 (as they would be in
# a batch with a longer sentence), give two losses. A padded token's own row of scores (its
# query) still counts, and what a model computes at padded positions is arbitrary.

# %%
def padded(length: int, gen: torch.Generator):
    """Scores of two sentences of 4 and 6 tokens, padded to ``length``: arbitrary values at padded pairs."""
    am = (torch.arange(length) < torch.tensor([[4], [6]])).long()                       # (2, length)
    A_S, A_T = (10 * torch.randn(2, 3, length, length, generator=gen) for _ in range(2))  # padded: arbitrary
    real = torch.Generator().manual_seed(7)                                             # the real scores: the same
    A_S[:, :, :6, :6] = torch.randn(2, 3, 6, 6, generator=real)
    A_T[:, :, :6, :6] = torch.randn(2, 3, 6, 6, generator=real)
    return A_S, A_T, am


gen = torch.Generator().manual_seed(0)
short, long = padded(6, gen), padded(9, gen)
print(f"padded to 6: {buggy_attention_loss(*short).item():.4f}; padded to 9: {buggy_attention_loss(*long).item():.4f}")

# %%
def attention_loss(A_S, A_T, attention_mask):
    """MSE of the pre-softmax scores over every head and every (query, key) pair of two real tokens."""
    raise NotImplementedError("write the body of attention_loss, fixed from buggy_attention_loss here")


check_attention_loss(attention_loss)

# %%
print(f"fixed: padded to 6: {attention_loss(*short).item():.4f}; padded to 9: {attention_loss(*long).item():.4f}; "
      f"the package's L_attn: {L_attn(*short).item():.4f}")
assert torch.allclose(attention_loss(*short), attention_loss(*long))
