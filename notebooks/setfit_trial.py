"""Trial: does a SetFit-style contrastive fine-tune of the model lift the fused top-1 on held-out dev texts?

Fine-tunes e5-small on fold 0's training texts of the dev split (in-batch negatives over
(text, direction wording) and (text, nearest term) pairs) and compares the fused ranking of the
held-out fold with the shipped model (A: ONNX int8) and the same model on PyTorch (B). Kept out of
the product: it did not lift top-1 (README, *Quality, measured*). Needs ~15 minutes on 2 cores.

    .venv/bin/python notebooks/setfit_trial.py [stage ...]     # stages: A B train FT eval (default: all)

Each stage stores its result under $SETFIT_OUT (default /tmp/setfit) so a later stage can be rerun
alone; nothing is written in the checkout (embedding caches go there too).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import corpus  # noqa: E402
from matcher import Matcher  # noqa: E402
from matcher.fitting import fold_indices, oof_pair_scores, pair_targets, ranking_accuracy  # noqa: E402
from matcher.signals import Signals, direction_passage  # noqa: E402
from matcher.text import normalize  # noqa: E402

OUT = Path(os.environ.get("SETFIT_OUT", "/tmp/setfit"))
CACHE = OUT / "cache"
FT_DIR = OUT / "e5-ft"
BASE_DIR = ROOT / "models" / "e5-small"
PAIR_C = 1.0  # the shipped fit's pair_C (models/fusion.json) and choose_settings' C
SEED = 0


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(OUT / "log.txt", "a", encoding="utf-8") as f:
        f.write(line + "\n")


def busy() -> bool:
    """Another process using a core (the brief: one training thread then)."""
    out = subprocess.run(["ps", "-eo", "pid,pcpu,comm", "--no-headers"], capture_output=True, text=True).stdout
    me = os.getpid()
    for line in out.splitlines():
        pid, cpu, *_ = line.split(None, 2)
        if int(pid) != me and float(cpu) > 30:
            return True
    load1 = os.getloadavg()[0]
    return load1 > 1.0


def dev_data():
    rows = [json.loads(l) for l in open(corpus.LABELLED_PATH, encoding="utf-8")]
    dev = [r for r in rows if r["split"] == "dev"]
    assert len(dev) == 999, len(dev)
    texts = [normalize(r["text"]) for r in dev]
    labels = [list(map(int, r["labels"])) for r in dev]
    genres = [r.get("genre") or "proposal" for r in dev]
    return texts, labels, genres


def signals_of(m: Matcher, texts) -> Signals:
    t = time.time()
    s, _ = m.extractor.signals(texts, m.settings)
    log(f"  signals of {len(texts)} texts in {time.time() - t:.0f}s (settings {m.settings})")
    return s


def save_signals(name: str, s: Signals) -> None:
    np.savez(OUT / f"signals-{name}.npz", **{f: getattr(s, f) for f in s.__dataclass_fields__})


def load_signals(name: str) -> Signals:
    z = np.load(OUT / f"signals-{name}.npz")
    return Signals(**{f: z[f] for f in Signals.__dataclass_fields__})


def threads() -> int:
    n = 1 if busy() else 2
    return n


def stage_signals(name: str, **load_kw) -> None:
    texts, _, _ = dev_data()
    n = threads()
    t = time.time()
    m = Matcher.load(cache_dir=CACHE, threads=n, **load_kw)
    log(f"{name}: Matcher.load({load_kw}) in {time.time() - t:.0f}s; backend {m.encoder.backend.name}, "
        f"int8={m.encoder.backend.quantized}, threads {n}, head kept: {m.fusion.head_coef is not None}")
    s = signals_of(m, texts)
    save_signals(name, s)
    if name == "B":  # the base model's term embeddings, for picking each training text's nearest term
        np.save(OUT / "term_emb_B.npy", m.extractor.term_emb)


def stage_train(epochs: int | None = None, batch_size: int = 32, lr: float = 2e-5) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import get_linear_schedule_with_warmup

    texts, labels, _ = dev_data()
    directions = corpus.load_directions()
    ids = [d.id for d in directions]
    col = {d: j for j, d in enumerate(ids)}
    train_idx, _ = fold_indices(labels, 5)[0]
    passages = [direction_passage(d) for d in directions]
    terms = [t for d in directions for t in d.terms]
    bounds = np.cumsum([0] + [len(d.terms) for d in directions])

    # each (in-scope train text, labelled direction) is a pair; its term is the direction's term
    # nearest to the text under the base model (the ones the dense_terms signal averages)
    sB = load_signals("B")
    term_emb = np.load(OUT / "term_emb_B.npy")
    pairs = []
    for i in train_idx:
        for d in labels[i]:
            j = col[d]
            lo, hi = bounds[j], bounds[j + 1]
            k = lo + int(np.argmax(term_emb[lo:hi] @ sB.embeddings[i]))
            pairs.append((i, j, k))
    n_threads = threads()
    torch.set_num_threads(n_threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    model = SentenceTransformer(str(BASE_DIR), device="cpu", local_files_only=True)
    model.max_seq_length = 128
    q_prompt, p_prompt = "query: ", "passage: "

    def embed(strings):
        feats = model.tokenize(strings)
        return model(dict(feats))["sentence_embedding"]  # the Normalize module: unit vectors

    def batches(epoch_seed):
        order = list(range(len(pairs)))
        random.Random(epoch_seed).shuffle(order)
        return [order[a:a + batch_size] for a in range(0, len(order), batch_size)]

    def loss_of(batch):
        bi = [pairs[b][0] for b in batch]
        bj = [pairs[b][1] for b in batch]
        bk = [pairs[b][2] for b in batch]
        q = embed([q_prompt + texts[i] for i in bi])
        p = embed([p_prompt + passages[j] for j in bj])
        t = embed([q_prompt + terms[k] for k in bk])
        # in-batch negatives; another row's direction that is one of this text's labels is no negative
        mask = torch.tensor([[a != b and ids[bj[b]] in labels[bi[a]] for b in range(len(batch))]
                             for a in range(len(batch))])
        target = torch.arange(len(batch))
        loss = 0.0
        for cand in (p, t):
            logits = (q @ cand.T) * 20.0
            logits = logits.masked_fill(mask, float("-inf"))
            loss = loss + torch.nn.functional.cross_entropy(logits, target)
        return loss

    # time one step (no update) to decide 1 or 2 epochs within the budget
    model.train()
    t = time.time()
    b0 = batches(SEED)[0]
    loss_of(b0).backward()
    model.zero_grad(set_to_none=True)
    step_s = time.time() - t
    per_epoch = len(batches(SEED)) * (step_s + 1.0)
    if epochs is None:
        epochs = 2 if 2 * per_epoch < 16 * 60 else 1
    log(f"train: {len(pairs)} pairs from {len({p[0] for p in pairs})} in-scope fold-0 train texts "
        f"({len(train_idx)} train texts in all); batch {batch_size}, {len(batches(SEED))} steps/epoch, "
        f"one step ~{step_s:.1f}s, est. {per_epoch / 60:.1f} min/epoch -> {epochs} epoch(s); threads {n_threads}")

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * len(batches(SEED))
    sched = get_linear_schedule_with_warmup(opt, int(round(0.1 * total)), total)
    t0 = time.time()
    step = 0
    for ep in range(epochs):
        losses = []
        for batch in batches(SEED + ep):
            loss = loss_of(batch)
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss))
            step += 1
            if step % 5 == 0 or step == total:
                log(f"  step {step}/{total} loss {np.mean(losses[-5:]):.3f} ({time.time() - t0:.0f}s)")
        log(f"  epoch {ep + 1}: mean loss {np.mean(losses):.3f}")
    train_s = time.time() - t0
    model.eval()
    if FT_DIR.exists():
        shutil.rmtree(FT_DIR)
    model.save(str(FT_DIR))
    json.dump({"train_seconds": round(train_s, 1), "epochs": epochs, "batch_size": batch_size, "lr": lr,
               "warmup": 0.1, "pairs": len(pairs), "steps": total, "threads": n_threads,
               "max_seq_length": 128, "scale": 20.0, "loss": "MNRL(text, passage) + MNRL(text, nearest term)"},
              open(OUT / "train.json", "w"), indent=1)
    log(f"train: {epochs} epoch(s), {total} steps in {train_s:.0f}s ({train_s / 60:.1f} min); saved {FT_DIR}")


def held_out(scores_fn, labels, test):
    return ranking_accuracy(scores_fn[test], [labels[i] for i in test], IDS)


def hits(scores, labels, rows):
    best = np.asarray(IDS)[np.argmax(scores, axis=1)]
    return np.array([float(best[i] in labels[i]) for i in rows])


def stage_eval() -> None:
    texts, labels, genres = dev_data()
    y = pair_targets(labels, IDS)
    folds = fold_indices(labels, 5)
    train, test = folds[0]
    rows = [i for i in test if labels[i]]
    log(f"eval: fold 0: {len(train)} train, {len(test)} held-out texts, {len(rows)} of them in scope; pair C={PAIR_C}")
    res, hit = {}, {}
    for name in ("A", "B", "FT"):
        if not (OUT / f"signals-{name}.npz").is_file():
            continue
        s = load_signals(name)
        fused = oof_pair_scores(s, y, [(train, test)], PAIR_C)  # pair model fitted on fold-0 train only
        t1, t3 = ranking_accuracy(fused[test], [labels[i] for i in test], IDS)
        d1, d3 = ranking_accuracy(s.dense_terms[test], [labels[i] for i in test], IDS)
        x1, _ = ranking_accuracy(s.dense_text[test], [labels[i] for i in test], IDS)
        tr1, _ = ranking_accuracy(s.dense_terms[train], [labels[i] for i in train], IDS)
        # secondary: pair model fitted by 5-fold CV inside the held-out texts (no fine-tuned-on text in its fit)
        inner = fold_indices([labels[i] for i in test], 5)
        sub = s.subset(test)
        inner_scores = oof_pair_scores(sub, y[test], inner, PAIR_C)
        i1, i3 = ranking_accuracy(inner_scores, [labels[i] for i in test], IDS)
        res[name] = dict(fused_top1=t1, fused_top3=t3, dense_terms_top1=d1, dense_terms_top3=d3, dense_text_top1=x1,
                         train_dense_terms_top1=tr1, innercv_fused_top1=i1, innercv_fused_top3=i3)
        hit[name] = hits(fused, labels, rows)
        log(f"  {name:2s}: fused top-1 {t1:.4f} top-3 {t3:.4f} | dense_terms top-1 {d1:.4f} top-3 {d3:.4f} | "
            f"dense_text top-1 {x1:.4f} | fold-0 TRAIN dense_terms top-1 {tr1:.4f} | "
            f"held-out inner-CV fused top-1 {i1:.4f} top-3 {i3:.4f}")
    if "FT" in hit and "B" in hit:
        d = hit["FT"] - hit["B"]
        se = d.std(ddof=1) / np.sqrt(len(d))
        log(f"  FT - B fused top-1: {d.mean() * 100:+.2f} points (paired SE {se * 100:.2f}); "
            f"FT right/B wrong {int((d > 0).sum())}, B right/FT wrong {int((d < 0).sum())}")
        lift = (res["FT"]["fused_top1"] - res["B"]["fused_top1"]) * 100
        log(f"  criterion (FT fused top-1 >= B + 2 points): {'MET' if lift >= 2 else 'NOT met'} ({lift:+.2f})")
        by_genre = {}
        g = np.asarray(genres)[rows]
        for genre in sorted(set(g)):
            k = g == genre
            by_genre[genre] = (int(k.sum()), round(float(hit["B"][k].mean()), 3), round(float(hit["FT"][k].mean()), 3))
        log(f"  held-out fused top-1 by genre (n, B, FT): {by_genre}")
    if "A" in hit and "B" in hit:
        log(f"  FT - A fused top-1: {(res.get('FT', res['B'])['fused_top1'] - res['A']['fused_top1']) * 100:+.2f} points")
    json.dump(res, open(OUT / "results.json", "w"), indent=1)


IDS = [d.id for d in corpus.load_directions()]

if __name__ == "__main__":
    stages = sys.argv[1:] or ["A", "B", "train", "FT", "eval"]
    CACHE.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    log(f"=== stages {stages}; uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    for st in stages:
        if st == "A":
            stage_signals("A")
        elif st == "B":
            stage_signals("B", backend="torch")
        elif st == "train":
            stage_train()
        elif st == "FT":
            stage_signals("FT", model_dir=FT_DIR, backend="torch")
        elif st == "eval":
            stage_eval()
    log(f"=== done in {time.time() - t_all:.0f}s")
