"""sentence-transformers' pair losses, written from its formulas in plain PyTorch, as the oracle for our
native losses (issue 11). sentence-transformers itself is not installed on these machines; each function
below follows sentence_transformers/losses/<Name>.py (v5) line for line, in float64.

Reads one JSON object on stdin:
  {"cases": [{"name": "CoSENTLoss", "options": {"scale": 20},
              "embeddings": [[[...], ...], ...],   # one rows x dim list per input batch
              "targets": [...],                    # scores, margins or (ignored) group ids
              "matryoshka": {"dims": [...], "weights": [...]} | null}]}
and writes {"results": [{"loss": float, "grads": [[[...]]...]}]}: the loss and its gradient with respect
to each input batch. Runs on Debian's /usr/bin/python3 with python3-torch.
"""
import json
import sys

import torch
import torch.nn.functional as F


def cos_sim(a, b):
    return F.normalize(a, p=2, dim=1) @ F.normalize(b, p=2, dim=1).t()


def pairwise_cos_sim(a, b):
    return (F.normalize(a, p=2, dim=1) * F.normalize(b, p=2, dim=1)).sum(-1)


def pairwise_dot_score(a, b):
    return (a * b).sum(-1)


def pairwise_angle_sim(x, y):
    a, b = torch.chunk(x, 2, dim=1)
    c, d = torch.chunk(y, 2, dim=1)
    z = torch.sum(c**2 + d**2, dim=1, keepdim=True)
    re = (a * c + b * d) / z
    im = (b * c - a * d) / z
    dz = torch.sum(a**2 + b**2, dim=1, keepdim=True) ** 0.5
    dw = torch.sum(c**2 + d**2, dim=1, keepdim=True) ** 0.5
    re /= dz / dw
    im /= dz / dw
    return torch.abs(torch.sum(torch.concat((re, im), dim=1), dim=1))


def mnrl(embeddings, labels, scale=20.0):
    anchors, candidates = embeddings[0], torch.cat(embeddings[1:])
    scores = cos_sim(anchors, candidates) * scale
    return F.cross_entropy(scores, torch.arange(len(anchors)))


def cached_mnrl(embeddings, labels, scale=20.0, miniBatchSize=32):
    # CachedMultipleNegativesRankingLoss.calculate_loss: the anchors a mini-batch at a time, each
    # mini-batch's cross-entropy weighted by its share of the batch.
    anchors, candidates = embeddings[0], torch.cat(embeddings[1:])
    n = len(anchors)
    loss = 0.0
    for begin in range(0, n, int(miniBatchSize)):
        end = min(begin + int(miniBatchSize), n)
        scores = cos_sim(anchors[begin:end], candidates) * scale
        loss = loss + F.cross_entropy(scores, torch.arange(begin, end)) * (end - begin) / n
    return loss


def mnsrl(embeddings, labels, scale=20.0):
    anchors, candidates = embeddings[0], torch.cat(embeddings[1:])
    n = len(anchors)
    forward_scores = cos_sim(anchors, candidates) * scale
    backward_scores = forward_scores[:, :n].T
    targets = torch.arange(n)
    return (F.cross_entropy(forward_scores, targets) + F.cross_entropy(backward_scores, targets)) / 2


def cosent_from_scores(scores, labels, scale):
    scores = scores * scale
    scores = scores[:, None] - scores[None, :]
    labels = (labels[:, None] < labels[None, :]).to(scores.dtype)
    scores = scores - (1 - labels) * 1e12
    scores = torch.cat((torch.zeros(1, dtype=scores.dtype), scores.view(-1)), dim=0)
    return torch.logsumexp(scores, dim=0)


def cosent(embeddings, labels, scale=20.0):
    return cosent_from_scores(pairwise_cos_sim(embeddings[0], embeddings[1]), labels, scale)


def angle(embeddings, labels, scale=20.0):
    return cosent_from_scores(pairwise_angle_sim(embeddings[0], embeddings[1]), labels, scale)


def margin_mse(embeddings, labels):
    query, positive, negative = embeddings
    margin = pairwise_dot_score(query, positive) - pairwise_dot_score(query, negative)
    return F.mse_loss(margin.unsqueeze(1), labels.unsqueeze(1))


def cosine_similarity(embeddings, labels):
    return F.mse_loss(pairwise_cos_sim(embeddings[0], embeddings[1]), labels.view(-1))


LOSSES = {
    "MultipleNegativesRankingLoss": mnrl,
    "CachedMultipleNegativesRankingLoss": cached_mnrl,
    "MultipleNegativesSymmetricRankingLoss": mnsrl,
    "CoSENTLoss": cosent,
    "AnglELoss": angle,
    "MarginMSELoss": margin_mse,
    "CosineSimilarityLoss": cosine_similarity,
}


def matryoshka(inner, dims, weights):
    # MatryoshkaLoss: each dim's loss on the embeddings shrunk to it (truncated, L2-normalised), weighted.
    def loss(embeddings, labels, **options):
        total = 0.0
        for dim, weight in zip(dims, weights):
            shrunk = [F.normalize(e[..., :dim], p=2, dim=-1) for e in embeddings]
            total = total + weight * inner(shrunk, labels, **options)
        return total
    return loss


def main():
    torch.set_default_dtype(torch.float64)
    request = json.load(sys.stdin)
    results = []
    for case in request["cases"]:
        embeddings = [torch.tensor(e, dtype=torch.float64, requires_grad=True) for e in case["embeddings"]]
        labels = torch.tensor(case["targets"], dtype=torch.float64)
        loss_fn = LOSSES[case["name"]]
        spec = case.get("matryoshka")
        if spec:
            loss_fn = matryoshka(loss_fn, spec["dims"], spec.get("weights") or [1] * len(spec["dims"]))
        loss = loss_fn(embeddings, labels, **(case.get("options") or {}))
        loss.backward()
        results.append({"loss": loss.item(), "grads": [e.grad.tolist() for e in embeddings]})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
