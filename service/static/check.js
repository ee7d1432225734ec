// The second step of the applicants' page: the guide's formal requirements (POST /v1/check).
// After a match (app.js sends "guide-match:matched" with the text), the form is pre-filled from
// what the abstract states; the applicant corrects and completes it, and each rule's verdict is
// shown next to its field with the guide's own sentence. Built with DOM nodes only (no innerHTML).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const el = window.GuideMatchPage.el; // app.js's DOM builder: text as text nodes, never markup
  const section = $("check");
  const form = $("check-form");
  const button = $("check-submit");
  const statusBox = $("check-status");
  const summary = $("check-summary");
  const FIELDS = Array.from(form.querySelectorAll(".ck-field")).map((d) => d.dataset.field);
  // Where a rule's verdict is shown: the first of its fields that the form has, dates at the end month.
  const PLACE = { duration_months: "end" };
  const SYMBOL = { pass: "✔", fail: "✘", warn: "⚠", unknown: "?" };
  let text = "";

  const input = (field) => $("ck-" + field);
  const box = (field) => form.querySelector('.ck-field[data-field="' + field + '"]');

  function clearVerdicts() {
    form.querySelectorAll(".ck-verdict").forEach((n) => n.remove());
    form.querySelectorAll(".ck-field.has-error").forEach((n) => n.classList.remove("has-error"));
    summary.hidden = true;
    statusBox.hidden = true;
  }

  function showStatus(kind, heading, detail) {
    statusBox.hidden = false;
    statusBox.className = "status " + kind;
    statusBox.replaceChildren(el("strong", { text: heading }), el("span", { text: detail || "" }));
  }

  // The form's values as the API's fields; empty inputs are left out (the text may state them).
  function fields() {
    const out = {};
    for (const f of FIELDS) {
      const v = input(f).value.trim();
      if (!v) continue;
      if (input(f).type === "number") out[f] = Number(v);
      else if (f === "agreement_attached") out[f] = v === "true";
      else out[f] = v;
    }
    if (out.start && out.end) delete out.duration_months;
    return out;
  }

  function prefill(values) {
    for (const f of FIELDS) {
      const node = input(f);
      node.value = "";
      node.classList.remove("from-text");
      const got = values[f];
      if (!got || got.source !== "text") continue;
      node.value = String(got.value);
      node.classList.add("from-text");
    }
  }

  function place(check) {
    const own = check.fields.map((f) => PLACE[f] || f).find((f) => box(f));
    return own || "fiscal_funding_wan";
  }

  function render(data) {
    clearVerdicts();
    for (const c of data.checks) {
      const note = el("p", { class: "ck-verdict " + c.status, "data-rule": c.rule, "data-status": c.status }, [
        el("span", { class: "symbol", text: SYMBOL[c.status] + " " }),
        el("span", { class: "title", text: c.title + "：" }),
        el("span", { class: "message", text: c.message }),
        el("span", { class: "guide", text: "指南原文：" + c.source }),
      ]);
      box(place(c)).append(note);
    }
    const failed = data.checks.filter((c) => c.status === "fail").map((c) => c.title);
    const heading = data.eligible === true ? "符合指南的形式要求" : data.eligible === false ? "不符合指南的形式要求" : "信息不足，尚无法判断";
    const warned = data.checks.some((c) => c.status === "warn");
    const detail = data.eligible === false ? "未通过：" + failed.join("；") + "。"
      : data.eligible === null ? "请补充标为“?”的项目后再检查。"
      : warned ? "请同时核对标为“⚠”的项目。" : "各项均符合指南要求。";
    summary.className = "check-summary " + (data.eligible === true ? "eligible" : data.eligible === false ? "ineligible" : "unknown");
    summary.dataset.eligible = String(data.eligible);
    summary.replaceChildren(el("strong", { text: heading }), el("span", { text: detail }));
    summary.hidden = false;
  }

  function showError(error) {
    const field = error && error.field;
    if (field && box(field)) {
      box(field).classList.add("has-error");
      box(field).append(el("p", { class: "ck-verdict error", text: "请检查此项：" + error.message }));
      showStatus("warn", "有填写错误", "请按标出的提示修改后再检查。");
    } else {
      showStatus("error", "无法检查", (error && error.message) || "服务暂时无法完成检查，请稍后再试。");
    }
  }

  async function send(body) {
    button.disabled = true;
    try {
      const res = await fetch("/v1/check", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (res.ok && data) return data;
      clearVerdicts();
      showError(data && data.error);
    } catch (e) {
      showStatus("error", "无法连接服务", "请检查网络连接后重试。");
    } finally {
      button.disabled = false;
    }
    return null;
  }

  document.addEventListener("guide-match:matched", async (event) => {
    text = event.detail.text;
    clearVerdicts();
    section.hidden = false;
    const data = await send({ text: text });
    if (data) {
      prefill(data.values);
      showEnterpriseFunds();
      render(data);
    }
  });

  // The funds the enterprises receive matter only when the project is not led by an enterprise.
  function showEnterpriseFunds() {
    box("fiscal_to_enterprises_wan").hidden = input("lead_type").value === "enterprise";
  }

  input("lead_type").addEventListener("change", showEnterpriseFunds);

  $("match-form").addEventListener("submit", () => {
    section.hidden = true;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = fields();
    if (box("fiscal_to_enterprises_wan").hidden) delete body.fiscal_to_enterprises_wan;
    if (text) body.text = text;
    const data = await send(body);
    if (data) render(data);
  });
})();
