"""`guide-match bench`: start-up, latency, throughput and memory, against a naive baseline.

Each side runs in its own fresh Python process so start-up time and peak RSS
are its own. The baseline is the plain sentence-transformers pipeline one
would write first: encode the query and all 40 direction texts on every
request, take cosine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TITLE = "面向储能与两轮车的高比能量钠离子圆柱电池关键材料与制造工艺研发"  # 31 characters
ABSTRACT = (  # 400 characters
    "本项目面向储能与两轮车市场对低成本电池的需求，依托企业现有锂电产线改造，开展高比能量钠离子圆柱电池技术研发。"
    "重点突破层状氧化物正极材料的表面包覆与掺杂改性、硬碳负极的孔结构调控与首效提升、适配宽温域的电解液配方，"
    "以及全极耳结构的32140圆柱电芯设计与卷绕、激光焊接、化成分容工艺。项目将建立正极材料公斤级中试线和电芯试制线，"
    "开发电芯能量密度≥160 Wh/kg、-20℃容量保持率≥90%、循环寿命≥3000次的产品，并完成储能模组与系统集成验证。"
    "针对钠电池产气与自放电问题，研究正极残碱控制、负极预钠化和电解液成膜添加剂，建立电芯失效分析与寿命预测模型；"
    "联合广西高校开展硬碳前驱体（竹材、椰壳）本地化制备，降低负极材料综合成本30%以上，并与越南、老挝等东盟伙伴共建示范储能电站。"
    "项目实施期内申请发明专利3件以上，制定企业标准2项，形成年产0.5 GWh的生产能力，实现新增销售收入5000万元。"
)


def _child(kind: str, n_single: int, n_batch: int) -> dict:
    """Runs inside the child process; returns figures as a dict."""
    t0 = time.perf_counter()
    if kind == "matcher":
        from matcher import Matcher

        m = Matcher.load()
        answer = lambda t: m.match(t, top_k=5)  # noqa: E731
        batch = lambda ts: m.match_many(ts, top_k=5)  # noqa: E731
    else:
        import corpus
        from sentence_transformers import SentenceTransformer

        from matcher.config import MatcherConfig

        cfg = MatcherConfig.from_env()
        st = SentenceTransformer(str(cfg.model_dir), device="cpu", local_files_only=True)
        directions = [d.text for d in corpus.load_directions()]

        def answer(t):
            q = st.encode([cfg.query_prompt + t], normalize_embeddings=True)
            p = st.encode([cfg.passage_prompt + d for d in directions], normalize_embeddings=True)
            return (p @ q[0]).argsort()[::-1][:5]

        batch = lambda ts: [answer(t) for t in ts]  # noqa: E731
    answer(TITLE)
    startup = time.perf_counter() - t0

    def latencies(text):
        out = []
        for _ in range(n_single):
            s = time.perf_counter()
            answer(text)
            out.append(time.perf_counter() - s)
        out.sort()
        return out[len(out) // 2] * 1000, out[min(len(out) - 1, int(len(out) * 0.95))] * 1000

    t50, t95 = latencies(TITLE)
    a50, a95 = latencies(ABSTRACT)
    # 1,000 distinct abstracts of about the same length: the sentences in rotating order
    sentences = [x + "。" for x in ABSTRACT.split("。") if x]
    texts = ["".join(sentences[k % len(sentences) :] + sentences[: k % len(sentences)]) + f"（编号{k}）" for k in range(n_batch)]
    s = time.perf_counter()
    batch(texts)
    throughput = n_batch / (time.perf_counter() - s)
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "startup_s": startup, "title_p50_ms": t50, "title_p95_ms": t95, "abstract_p50_ms": a50,
        "abstract_p95_ms": a95, "batch_texts_per_s": throughput, "peak_rss_mb": rss_mb, "n_batch": n_batch,
    }


# The matcher with the settings of its first release: PyTorch, float weights, whole text windowed.
# Shows what the ONNX backend, int8 and the 128-token query cut give on top of the caches.
TORCH_SETTINGS = {"GUIDE_MATCH_BACKEND": "torch", "GUIDE_MATCH_QUANTIZE": "0", "GUIDE_MATCH_QUERY_MAX_TOKENS": "0"}


def _run_child(kind: str, n_single: int, n_batch: int, env: dict[str, str] | None = None) -> dict:
    code = f"import json; from matcher.bench import _child; print(json.dumps(_child({kind!r}, {n_single}, {n_batch})))"
    child_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} benchmark failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


ROWS = (
    ("start-up to first answer (s)", "startup_s", "{:.2f}", False),
    (f"title ({len(TITLE)} chars) p50 (ms)", "title_p50_ms", "{:.1f}", False),
    (f"title ({len(TITLE)} chars) p95 (ms)", "title_p95_ms", "{:.1f}", False),
    (f"abstract ({len(ABSTRACT)} chars) p50 (ms)", "abstract_p50_ms", "{:.1f}", False),
    (f"abstract ({len(ABSTRACT)} chars) p95 (ms)", "abstract_p95_ms", "{:.1f}", False),
    ("batch throughput (abstracts/s)", "batch_texts_per_s", "{:.1f}", True),
    ("peak RSS (MB)", "peak_rss_mb", "{:.0f}", False),
)


def run_bench(args) -> int:
    print(f"benchmark: {args.n_single} single requests per size, {args.n_batch} abstracts in batch", file=sys.stderr)
    ours = _run_child("matcher", args.n_single, args.n_batch)
    torch_side = _run_child("matcher", args.n_single, args.n_batch, TORCH_SETTINGS) if args.torch else None
    base = _run_child("baseline", max(5, args.n_single // 5), max(20, args.n_batch // 20))
    extra = " guide-match on torch, float, whole text |" if torch_side else ""
    print(f"| measure | guide-match |{extra} naive baseline | ratio (baseline / ours) |")
    print("|---|---|---|---|" + ("---|" if torch_side else ""))
    for label, key, fmt, higher_better in ROWS:
        ratio = base[key] / ours[key] if not higher_better else ours[key] / base[key]
        middle = f" {fmt.format(torch_side[key])} |" if torch_side else ""
        print(f"| {label} | {fmt.format(ours[key])} |{middle} {fmt.format(base[key])} | {ratio:.1f}× |")
    print(f"\n(baseline batch measured on {base['n_batch']} abstracts; ratio > 1 means guide-match is better)")
    return 0
