// The applicants' page: sends the title and abstract to POST /v1/match and shows the ranked
// directions. No external resources; everything is built with DOM nodes (no innerHTML with
// user text), so nothing the user types can inject markup.
"use strict";

(function () {
  let maxChars = null; // the API's limit, from GET /v1/limits (never hard-coded here)
  const $ = (id) => document.getElementById(id);
  const form = $("match-form");
  const titleInput = $("title");
  const abstractInput = $("abstract");
  const counter = $("counter");
  const button = $("submit");
  const statusBox = $("status");
  const results = $("results");
  let directionTexts = {}; // id -> official wording, from GET /v1/directions

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) {
      node.append(child);
    }
    return node;
  }

  function combinedText() {
    const title = titleInput.value.trim();
    const abstract = abstractInput.value.trim();
    return [title, abstract].filter(Boolean).join("\n");
  }

  function updateCounter() {
    const n = combinedText().length;
    counter.textContent = maxChars ? n + " / " + maxChars + " 字" : n + " 字";
    counter.classList.toggle("over", maxChars !== null && n > maxChars);
  }

  function showStatus(kind, heading, detail) {
    statusBox.hidden = false;
    statusBox.className = "status " + kind;
    statusBox.dataset.kind = kind;
    statusBox.replaceChildren(el("strong", { text: heading }), el("span", { text: detail || "" }));
  }

  function hideStatus() {
    statusBox.hidden = true;
    statusBox.replaceChildren();
  }

  // Applicant-facing wording for the API's error codes.
  function describeError(status, error, requestId) {
    const code = (error && error.code) || "";
    switch (code) {
      case "text_empty":
        return ["warn", "请填写内容", "请至少填写项目名称，最好同时填写项目摘要。"];
      case "text_too_short":
        return ["warn", "文本过短，无法判断", "内容太少，无法可靠判断所属支持方向。请补充完整的项目名称，并填写一段项目摘要后再试。"];
      case "text_too_long":
        return ["warn", "文本过长", (maxChars ? "最多可填写 " + maxChars + " 字。" : "") + "请只填写项目名称和摘要，而不是完整的申报书。"];
      case "body_too_large":
        return ["warn", "内容过大", "提交的内容超过了允许的大小，请删减后再试。"];
      case "not_ready":
        return ["error", "服务正在启动", "匹配模型尚未就绪，请稍候片刻再试。"];
      default: {
        const ref = requestId ? "（请求编号 " + requestId + "）" : "";
        return ["error", "匹配失败", "服务暂时无法完成匹配，请稍后再试" + ref + "。"];
      }
    }
  }

  // The matched terms, marked in the text exactly as the applicant typed it, at the spans the
  // server found them (Unicode code points, so the text is cut by code point, not UTF-16 unit).
  function highlight(container, text, spans) {
    container.replaceChildren();
    const chars = Array.from(text);
    const sorted = spans.slice().sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    let last = 0;
    let count = 0;
    for (const [start, end] of sorted) {
      if (start < last || end <= start || end > chars.length) continue; // overlapping or stale
      container.append(document.createTextNode(chars.slice(last, start).join("")));
      container.append(el("mark", { class: "term", text: chars.slice(start, end).join("") }));
      last = end;
      count += 1;
    }
    container.append(document.createTextNode(chars.slice(last).join("")));
    return count;
  }

  function percent(score) {
    return Math.max(0, Math.min(100, Math.round(score * 100)));
  }

  function scoreBar(score) {
    const fill = el("div", { class: "score-fill" });
    fill.style.width = percent(score) + "%";
    return el("div", { class: "score-bar", role: "img", "aria-label": "匹配度 " + percent(score) + "%" }, [fill]);
  }

  function renderDirection(d, rank, best) {
    const clusterTag = d.cluster
      ? el("span", { class: "cluster", text: d.cluster + "产业集群" })
      : el("span", { class: "cluster none", text: "不属于七大产业集群" });
    const head = el("div", { class: "direction-head" }, [
      el("span", { class: "rank", text: String(rank) }),
      el("h4", { class: "direction-title", text: "方向" + d.id + "　" + d.title }),
      clusterTag,
    ]);
    const score = el("div", { class: "score-row" }, [
      scoreBar(d.score),
      el("span", { class: "score-value", text: "匹配度 " + percent(d.score) + "%" }),
    ]);
    const official = el("p", { class: "official" }, [
      el("span", { class: "label", text: "指南原文：" }),
      el("span", { class: "official-text", text: directionTexts[d.id] || d.title }),
    ]);
    const terms = el("div", { class: "terms" }, [el("span", { class: "label", text: "命中术语：" })]);
    if (d.matched_terms.length) {
      for (const t of d.matched_terms) terms.append(el("span", { class: "chip", text: t }));
    } else {
      terms.append(el("span", { class: "none", text: "无（依据语义相似度）" }));
    }
    const li = el("li", { class: "direction" + (best ? " best" : ""), "data-direction-id": String(d.id) }, [
      head, score, official, terms,
    ]);
    return li;
  }

  // The verdict in words, one per reason the API gives.
  const VERDICTS = {
    fits: "找到匹配的支持方向",
    no_direction_fits: "未找到合适的支持方向",
    too_vague: "内容过于笼统，无法判断",
    unsupported_language: "暂不支持该语言",
  };

  function render(result, text) {
    hideStatus();
    results.hidden = false;
    const verdict = $("verdict");
    verdict.className = "verdict " + (result.in_scope ? "in-scope" : "out-of-scope");
    verdict.dataset.inScope = String(result.in_scope);
    verdict.dataset.reason = result.reason;
    verdict.replaceChildren(
      el("strong", { text: VERDICTS[result.reason] || (result.in_scope ? VERDICTS.fits : VERDICTS.no_direction_fits) }),
      el("span", { class: "message", text: result.message })
    );
    // an unsupported language gets no guessed direction, so there is nothing below to show
    for (const id of ["directions-heading", "directions", "clusters-card"]) {
      const node = $(id);
      if (node) node.hidden = result.directions.length === 0;
    }
    const spans = result.directions.flatMap((d) => d.matched_spans || []);
    const marked = highlight($("highlighted"), text, spans);
    $("terms-hint").textContent = marked
      ? "黄色标出的是与下列支持方向相关的专业术语（共 " + marked + " 处）。"
      : "摘要中未发现指南各方向的专业术语，以下结果仅依据语义相似度。";

    $("directions-heading").textContent = result.in_scope ? "推荐的支持方向" : "最接近的方向（仅供参考，匹配度较低）";
    const list = $("directions");
    list.classList.toggle("out-of-scope-list", !result.in_scope);
    list.replaceChildren(...result.directions.map((d, i) => renderDirection(d, i + 1, result.in_scope && i === 0)));

    const clusters = $("clusters");
    clusters.replaceChildren(
      ...result.clusters.map((c) =>
        el("li", {}, [el("span", { class: "name", text: c.name }), scoreBar(c.score)])
      )
    );
    $("version").textContent = "结果版本：" + result.version;
    verdict.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async function loadLimits() {
    try {
      const res = await fetch("/v1/limits", { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      maxChars = (await res.json()).max_text_chars;
      updateCounter();
    } catch (e) {
      /* the server still checks the length and answers text_too_long */
    }
  }

  async function loadDirections() {
    try {
      const res = await fetch("/v1/directions", { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      directionTexts = Object.fromEntries(data.directions.map((d) => [d.id, d.text]));
    } catch (e) {
      /* the page still works; the official text falls back to the title */
    }
  }

  async function submit(event) {
    event.preventDefault();
    const text = combinedText();
    if (!text) {
      results.hidden = true;
      const [kind, heading, detail] = describeError(422, { code: "text_empty" });
      showStatus(kind, heading, detail);
      return;
    }
    if (maxChars !== null && text.length > maxChars) {
      results.hidden = true;
      const [kind, heading, detail] = describeError(422, { code: "text_too_long" });
      showStatus(kind, heading, detail);
      return;
    }
    button.disabled = true;
    button.textContent = "正在匹配…";
    showStatus("info", "正在匹配", "正在对照指南的40个支持方向进行分析，请稍候。");
    try {
      const res = await fetch("/v1/match", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ text: text, top_k: Number($("top-k").value) }),
      });
      const requestId = res.headers.get("X-Request-ID");
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (res.ok && data) {
        render(data, text);
        // the second step (check.js) reads the same text against the guide's rules
        document.dispatchEvent(new CustomEvent("guide-match:matched", { detail: { text: text } }));
      } else {
        results.hidden = true;
        const [kind, heading, detail] = describeError(res.status, data && data.error, requestId);
        showStatus(kind, heading, detail);
      }
    } catch (e) {
      results.hidden = true;
      showStatus("error", "无法连接服务", "请检查网络连接后重试。");
    } finally {
      button.disabled = false;
      button.textContent = "匹配支持方向";
    }
  }

  window.GuideMatchPage = { el: el }; // shared with the page's second step (check.js)
  titleInput.addEventListener("input", updateCounter);
  abstractInput.addEventListener("input", updateCounter);
  form.addEventListener("submit", submit);
  updateCounter();
  loadLimits();
  loadDirections();
})();
