"""pytorch-metric-learning 2.8.1 as the oracle for our native losses and miners (issue 11).

Reads one JSON object on stdin:
  {"pml_src": ".../pytorch-metric-learning/src",
   "cases": [{"kind": "loss", "name": "TripletMarginLoss", "options": {...},
              "miner": {"name": "BatchHardMiner", "options": {...}} | null,
              "distance": "cosine" | "l2" | null,
              "embeddings": [[...], ...], "labels": [...]},
             {"kind": "miner", "name": "TripletMarginMiner", "options": {...}, "distance": ..., ...}]}
and writes {"results": [...]}: for a loss {"loss": float, "grad": [[...]], "weightGrads": {name: [[...]]}}
(the gradient with respect to the embeddings, float64 throughout), for a miner {"tuples": [[a, p, n], ...]}
(triplets) or {"pairs": [[[a1, p], ...], [[a2, n], ...]]} (pairs), each list sorted so sets compare.

Runs on Debian's /usr/bin/python3 with python3-torch, python3-scipy, python3-sklearn and python3-tqdm.
"""
import json
import sys


def main():
    request = json.load(sys.stdin)
    sys.path.insert(0, request["pml_src"])
    import torch
    from pytorch_metric_learning import distances, losses, miners

    torch.set_default_dtype(torch.float64)

    def distance_of(name):
        if name is None:
            return None
        if name == "cosine":
            return distances.CosineSimilarity()
        if name == "l2":
            return distances.LpDistance(normalize_embeddings=True, p=2, power=1)
        if name == "l2-unnormalized":
            return distances.LpDistance(normalize_embeddings=False, p=2, power=1)
        raise ValueError(f"unknown distance {name}")

    def build(module, spec):
        options = dict(spec.get("options") or {})
        dist = distance_of(spec.get("distance"))
        if dist is not None:
            options["distance"] = dist
        return getattr(module, spec["name"])(**options)

    def mined_rows(tuples):
        # Triplets as sorted (a, p, n) rows; pairs as sorted positive (a1, p) and negative (a2, n) rows,
        # whose lists have independent lengths.
        lists = [t.tolist() for t in tuples]
        if len(lists) == 3:
            return {"tuples": sorted([list(map(int, row)) for row in zip(*lists)])}
        return {"pairs": [sorted([list(map(int, row)) for row in zip(lists[0], lists[1])]),
                          sorted([list(map(int, row)) for row in zip(lists[2], lists[3])])]}

    results = []
    for case in request["cases"]:
        embeddings = torch.tensor(case["embeddings"], dtype=torch.float64, requires_grad=case["kind"] == "loss")
        labels = torch.tensor(case["labels"], dtype=torch.long)
        if case["kind"] == "miner":
            results.append(mined_rows(build(miners, case)(embeddings, labels)))
            continue
        loss_fn = build(losses, case)
        # Losses that hold class weights (ArcFace, CosFace, ProxyAnchor): start from the given ones.
        for name, value in (case.get("weights") or {}).items():
            with torch.no_grad():
                getattr(loss_fn, name).data = torch.tensor(value, dtype=torch.float64)
        indices = None
        if case.get("miner"):
            indices = build(miners, case["miner"])(embeddings, labels)
        loss = loss_fn(embeddings, labels, indices) if indices is not None else loss_fn(embeddings, labels)
        loss.backward()
        grad = embeddings.grad if embeddings.grad is not None else torch.zeros_like(embeddings)
        weights = {name: p.grad.tolist() for name, p in loss_fn.named_parameters() if p.grad is not None}
        results.append({"loss": float(loss.item()), "grad": grad.tolist(), "weightGrads": weights})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
