// The program officers' page (/staff): sign in with a staff key, route a proposals table to the
// expert panels as a job (progress, cancel), review and correct the result, download the sheet.
//
// The key is kept in sessionStorage only and sent in the X-API-Key header, never in a URL. Every
// node is built with the DOM (no innerHTML), so no proposal text or file content can inject markup.
// No external resources.
"use strict";

(function () {
  const KEY_NAME = "guide-match.staff-key";
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const STATUS_LABELS = { queued: "排队中", running: "分配中", done: "已完成", failed: "失败", cancelled: "已取消" };

  let key = null;
  let directions = {}; // id -> title, from GET /v1/directions
  let defaultPanels = null; // GET /v1/routing/panels
  let uploadedPanels = null; // POST /v1/routing/panels, for an uploaded file
  let run = null; // the open run (GET /v1/routing/runs/{id}, done)
  let polling = null; // the run being watched: {runId, timer}

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function show(box, kind, heading, detail) {
    box.hidden = false;
    box.className = "status " + kind;
    box.dataset.kind = kind;
    box.replaceChildren(el("strong", { text: heading }), detail ? el("pre", { text: detail }) : "");
  }

  function hide(box) {
    box.hidden = true;
    box.replaceChildren();
  }

  const status = (kind, heading, detail) => show($("status"), kind, heading, detail);

  // -- the API --------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(httpStatus, error) {
      super((error && error.message) || "HTTP " + httpStatus);
      this.httpStatus = httpStatus;
      this.code = (error && error.code) || "";
      this.field = (error && error.field) || null;
    }
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const headers = Object.assign({ "X-API-Key": key }, opts.headers || {});
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    let response;
    try {
      response = await fetch(path, { method: opts.method, headers: headers, body: body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, { code: "network", message: "无法连接服务器，请检查网络后重试。" });
    }
    if (response.status === 401) {
      signOut("密钥无效或已失效，请重新登录。");
      throw new ApiError(401, { code: "unauthorized", message: "密钥无效" });
    }
    if (opts.raw) {
      if (!response.ok) throw new ApiError(response.status, await errorOf(response));
      return response;
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data && data.error);
    return data;
  }

  async function errorOf(response) {
    const data = await response.json().catch(() => null);
    return data && data.error;
  }

  function failure(heading, err) {
    if (err.httpStatus === 401) return;
    status("error", heading, err.message);
  }

  // -- sign in --------------------------------------------------------------------------------
  async function signIn(candidate) {
    key = candidate;
    const box = $("signin-status");
    let runs;
    try {
      const response = await fetch("/v1/routing/runs", { headers: { "X-API-Key": key }, cache: "no-store" });
      if (response.status === 401) {
        key = null;
        sessionStorage.removeItem(KEY_NAME);
        show(box, "error", "密钥无效", "请检查密钥后重试；密钥由系统管理员配置（GUIDE_MATCH_API_KEYS）。");
        return false;
      }
      if (!response.ok) {
        const error = await errorOf(response);
        key = null;
        show(box, "error", "暂时无法登录", (error && error.message) || "HTTP " + response.status);
        return false;
      }
      runs = (await response.json()).runs;
    } catch (err) {
      key = null;
      show(box, "error", "无法连接服务器", "请检查网络后重试。");
      return false;
    }
    sessionStorage.setItem(KEY_NAME, key);
    hide(box);
    $("api-key").value = "";
    $("signin").hidden = true;
    $("app").hidden = false;
    renderRuns(runs);
    await Promise.all([loadDirections(), loadDefaultPanels()]);
    return true;
  }

  function signOut(message) {
    stopPolling();
    key = null;
    run = null;
    sessionStorage.removeItem(KEY_NAME);
    $("app").hidden = true;
    $("result").hidden = true;
    $("progress-card").hidden = true;
    $("proposals").tBodies[0].replaceChildren();
    $("runs").tBodies[0].replaceChildren();
    $("signin").hidden = false;
    if (message) show($("signin-status"), "warn", message, "");
    else hide($("signin-status"));
  }

  async function loadDirections() {
    const response = await fetch("/v1/directions");
    const data = await response.json();
    directions = {};
    const filter = $("filter-direction");
    filter.replaceChildren(el("option", { value: "", text: "全部" }));
    for (const d of data.directions) {
      directions[d.id] = d.title;
      filter.append(el("option", { value: String(d.id), text: d.id + " " + d.title }));
    }
  }

  // -- panels and options ---------------------------------------------------------------------
  async function loadDefaultPanels() {
    try {
      defaultPanels = await api("/v1/routing/panels");
      $("panels-source").textContent = defaultPanels.source + "，" + defaultPanels.panels.length + " 个评审组";
      renderPanelOptions(defaultPanels);
    } catch (err) {
      failure("无法读取默认评审组", err);
    }
  }

  function renderPanelOptions(panels) {
    const body = $("panel-options").tBodies[0];
    body.replaceChildren();
    if (!panels) return;
    for (const p of panels.panels) {
      body.append(el("tr", { dataset: { panel: p.id } }, [
        el("td", { text: p.id }),
        el("td", { text: p.name }),
        el("td", { text: p.directions.join("、") }),
        el("td", { class: "num", text: String(p.min) }),
        el("td", { class: "num", text: String(p.max) }),
        el("td", {}, [el("input", { type: "checkbox", class: "close-panel", value: p.id, "aria-label": "本次关闭 " + p.id })]),
        el("td", {}, [el("input", { type: "number", class: "extra-room", min: "0", max: "100000", step: "1",
                                    placeholder: "0", "data-panel": p.id, "aria-label": "额外名额 " + p.id })]),
      ]));
    }
  }

  async function onPanelsChoice() {
    const upload = document.querySelector('input[name="panels-choice"]:checked').value === "upload";
    $("panels-file").disabled = !upload;
    hide($("panels-status"));
    renderPanelOptions(upload ? uploadedPanels : defaultPanels);
  }

  async function onPanelsFile() {
    const file = $("panels-file").files[0];
    uploadedPanels = null;
    renderPanelOptions(null);
    if (!file) return;
    try {
      uploadedPanels = await api("/v1/routing/panels", { method: "POST", json: { name: file.name, yaml: await file.text() } });
      show($("panels-status"), "info", "评审组文件可用", uploadedPanels.panels.length + " 个评审组。");
      renderPanelOptions(uploadedPanels);
    } catch (err) {
      if (err.httpStatus !== 401) show($("panels-status"), "error", "评审组文件有问题", err.message);
    }
  }

  // -- starting, watching and cancelling a run ------------------------------------------------
  async function startRun(event) {
    event.preventDefault();
    const file = $("proposals-file").files[0];
    if (!file) {
      status("warn", "请选择申报书汇总表", "支持 .xlsx、.csv（UTF-8）和 .jsonl 文件。");
      return;
    }
    const upload = document.querySelector('input[name="panels-choice"]:checked').value === "upload";
    if (upload && !uploadedPanels) {
      status("warn", "请选择可用的评审组文件", "或改用默认评审组。");
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    if (upload) form.append("panels", $("panels-file").files[0], $("panels-file").files[0].name);
    const closed = [...document.querySelectorAll(".close-panel:checked")].map((c) => c.value);
    if (closed.length) form.append("panels_closed", closed.join(","));
    const room = [...document.querySelectorAll(".extra-room")]
      .filter((i) => i.value.trim() !== "" && Number(i.value) !== 0)
      .map((i) => i.dataset.panel + "=" + i.value.trim());
    if (room.length) form.append("extra_room", room.join(","));
    const flag = $("flag-below").value.trim();
    if (flag !== "") form.append("flag_below", flag);
    $("start-run").disabled = true;
    try {
      const job = await api("/v1/routing/runs", { method: "POST", body: form });
      if (job.status === "done") {
        status("info", "相同的申报书和选项已分配过", "已打开之前的分配结果（包括已有的人工调整）。");
        showRun(job);
      } else {
        hide($("status"));
        watch(job);
      }
      refreshRuns();
    } catch (err) {
      failure("无法开始分配", err);
    } finally {
      $("start-run").disabled = false;
    }
  }

  function showProgress(job) {
    $("progress-card").hidden = false;
    $("progress-run").textContent = job.run_id;
    const bar = $("run-progress");
    const { done, total } = job.progress;
    bar.max = total || 1;
    bar.value = done;
    bar.dataset.done = String(done);
    bar.dataset.total = String(total);
    $("progress-text").textContent = STATUS_LABELS[job.status] + "：已匹配 " + done + " / " + total + " 份";
    $("cancel-run").disabled = !(job.status === "queued" || job.status === "running");
  }

  function watch(job) {
    stopPolling();
    $("result").hidden = true;
    showProgress(job);
    polling = { runId: job.run_id, timer: null };
    const tick = async () => {
      if (!polling || polling.runId !== job.run_id) return;
      try {
        const now = await api(job.status_url);
        if (!polling || polling.runId !== job.run_id) return;
        showProgress(now);
        if (now.status === "done") {
          stopPolling();
          $("progress-card").hidden = true;
          showRun(now);
          refreshRuns();
        } else if (now.status === "failed" || now.status === "cancelled") {
          stopPolling();
          status(now.status === "failed" ? "error" : "warn",
                 now.status === "failed" ? "分配失败" : "分配已取消", now.error ? now.error.message : "");
          refreshRuns();
        } else {
          polling.timer = setTimeout(tick, POLL_MS);
        }
      } catch (err) {
        stopPolling();
        failure("无法读取分配进度", err);
      }
    };
    polling.timer = setTimeout(tick, POLL_MS);
  }

  function stopPolling() {
    if (polling && polling.timer) clearTimeout(polling.timer);
    polling = null;
  }

  async function cancelRun() {
    const runId = $("progress-run").textContent;
    $("cancel-run").disabled = true;
    try {
      const job = await api("/v1/routing/runs/" + encodeURIComponent(runId) + "/cancel", { method: "POST" });
      stopPolling();
      showProgress(job);
      status("warn", "分配已取消", job.error ? job.error.message : "");
      refreshRuns();
    } catch (err) {
      failure("无法取消", err);
    }
  }

  // -- earlier runs ---------------------------------------------------------------------------
  async function refreshRuns() {
    try {
      renderRuns((await api("/v1/routing/runs")).runs);
    } catch (err) {
      failure("无法读取历史分配", err);
    }
  }

  function renderRuns(runs) {
    const body = $("runs").tBodies[0];
    body.replaceChildren();
    if (!runs.length) {
      body.append(el("tr", {}, [el("td", { colspan: "8", class: "hint", text: "还没有分配。" })]));
      return;
    }
    for (const r of runs) {
      const open = el("button", { type: "button", class: "secondary small open-run", text: r.status === "done" ? "打开" : "查看进度" });
      open.addEventListener("click", () => openRun(r.run_id));
      const finished = r.status === "done" || r.status === "failed" || r.status === "cancelled";
      const remove = finished ? el("button", { type: "button", class: "secondary small delete-run", text: "删除" }) : null;
      if (remove) remove.addEventListener("click", () => deleteRun(r.run_id));
      body.append(el("tr", { dataset: { runId: r.run_id, status: r.status } }, [
        el("td", { class: "run-id", text: r.run_id }),
        el("td", {}, [el("span", { class: "status-label " + r.status, text: STATUS_LABELS[r.status] || r.status,
                                   title: r.error ? r.error.message : null })]),
        el("td", { class: "num", text: r.created_at.replace("T", " ").replace("+00:00", "") }),
        el("td", { text: r.actor }),
        el("td", { text: r.source || "" }),
        el("td", { class: "num", text: String(r.n_proposals) }),
        el("td", { class: "num", text: r.n_flagged === null ? "—" : String(r.n_flagged) }),
        el("td", { class: "actions" }, [r.status === "failed" || r.status === "cancelled" ? null : open, remove]),
      ]));
    }
  }

  async function openRun(runId) {
    try {
      const body = await api("/v1/routing/runs/" + encodeURIComponent(runId));
      hide($("status"));
      if (body.status === "done") {
        stopPolling();
        $("progress-card").hidden = true;
        showRun(body);
      } else {
        watch(body);
      }
    } catch (err) {
      failure("无法打开分配", err);
    }
  }

  async function deleteRun(runId) {
    if (!window.confirm("删除分配 " + runId + "？其分配结果、人工调整和申报书内容将一并删除（审计记录保留）。")) return;
    try {
      await api("/v1/routing/runs/" + encodeURIComponent(runId), { method: "DELETE" });
      if (run && run.run_id === runId) {
        run = null;
        $("result").hidden = true;
      }
      status("info", "已删除分配 " + runId, "");
      refreshRuns();
    } catch (err) {
      failure("无法删除", err);
    }
  }

  // -- the result -----------------------------------------------------------------------------
  function panelName(id) {
    const p = run && run.panels.find((x) => x.id === id);
    return p && p.name ? id + " " + p.name : id;
  }

  function showRun(body) {
    run = body;
    $("result").hidden = false;
    $("result-run").textContent = run.run_id;
    $("run-meta").textContent = "提交人：" + run.actor + "　来源：" + (run.source || "—") + "　申报书 " + run.n_proposals +
      " 份，待人工审核 " + run.n_flagged + " 份，人工调整 " + run.overrides.length + " 次。";
    $("run-notes").replaceChildren(...run.notes.map((n) => el("li", { text: n })));
    renderLoads();
    const panelFilter = $("filter-panel");
    const chosen = panelFilter.value;
    panelFilter.replaceChildren(el("option", { value: "", text: "全部" }), el("option", { value: "-", text: "待人工审核" }),
      ...run.panels.map((p) => el("option", { value: p.id, text: panelName(p.id) })));
    panelFilter.value = [...panelFilter.options].some((o) => o.value === chosen) ? chosen : "";
    renderProposals();
  }

  function renderLoads() {
    const box = $("loads");
    box.replaceChildren();
    const scale = Math.max(1, ...run.panels.map((p) => Math.max(p.max, p.load)));
    const pct = (n) => (100 * n / scale).toFixed(2) + "%";
    for (const p of run.panels) {
      const state = p.max === 0 ? "closed" : p.load < p.min ? "below" : p.load > p.max ? "over" : "ok";
      const fill = el("div", { class: "load-fill " + state });
      fill.style.setProperty("width", pct(p.load));
      const track = el("div", { class: "load-track", role: "img",
                                "aria-label": panelName(p.id) + " 已分配 " + p.load + "，最少 " + p.min + "，最多 " + p.max }, [fill]);
      for (const mark of [p.min, p.max]) {
        const m = el("div", { class: "load-mark" });
        m.style.setProperty("left", pct(mark));
        track.append(m);
      }
      const text = p.max === 0 ? "本次关闭" : p.load + "（" + p.min + "–" + p.max + "）";
      box.append(el("div", { class: "load-label", text: panelName(p.id) }), track,
                 el("div", { class: "load-value " + state, dataset: { panel: p.id, load: String(p.load) }, text: text }));
    }
  }

  function visibleRows() {
    const panel = $("filter-panel").value;
    const direction = $("filter-direction").value;
    const flaggedOnly = $("filter-flagged").checked;
    let rows = run.assignments.map((a, i) => Object.assign({ seq: i }, a));
    rows = rows.filter((a) => {
      if (flaggedOnly && !a.flagged) return false;
      if (panel === "-" && a.panel_id) return false;
      if (panel && panel !== "-" && a.panel_id !== panel) return false;
      if (direction) {
        const top = a.directions.length ? a.directions[0].id : null;
        const judged = a.officer_direction ? a.officer_direction.direction : null;
        if (String(top) !== direction && String(judged) !== direction) return false;
      }
      return true;
    });
    const by = $("sort").value;
    const cmp = {
      flagged: (a, b) => (b.flagged - a.flagged) || (a.seq - b.seq),
      "affinity-asc": (a, b) => (a.affinity - b.affinity) || (a.seq - b.seq),
      "affinity-desc": (a, b) => (b.affinity - a.affinity) || (a.seq - b.seq),
      id: (a, b) => a.proposal_id.localeCompare(b.proposal_id, "zh-CN", { numeric: true }),
      panel: (a, b) => (a.panel_id || "~").localeCompare(b.panel_id || "~") || (a.seq - b.seq),
    }[by];
    return rows.sort(cmp);
  }

  function renderProposals() {
    const body = $("proposals").tBodies[0];
    const rows = visibleRows();
    body.replaceChildren(...rows.map(proposalRow));
    $("shown-count").textContent = "显示 " + rows.length + " / " + run.assignments.length + " 份";
  }

  function directionLabel(id) {
    return id === null ? "不属于任何支持方向" : "方向" + id + " " + (directions[id] || "");
  }

  function proposalRow(a) {
    const badges = [];
    if (a.flagged) badges.push(el("span", { class: "badge flag", text: "待人工审核" }));
    if (a.overridden) badges.push(el("span", { class: "badge moved", text: "已人工调整" }));
    if (a.officer_direction) {
      badges.push(el("span", { class: "badge judged officer-direction", dataset: { direction: String(a.officer_direction.direction) },
                               text: "人工判断：" + directionLabel(a.officer_direction.direction) }));
    }
    const dirs = a.directions.map((d) => el("div", { class: "dir" }, [
      el("span", { text: "方向" + d.id + " " + d.title + " " }),
      el("span", { class: "score", text: d.score.toFixed(2) }),
      d.matched_terms.length ? el("div", { class: "terms" }, d.matched_terms.slice(0, 6).map((t) => el("span", { class: "chip", text: t }))) : null,
    ]));
    const conflicts = a.recused.map((r) => el("div", { class: "conflict", text: r.panel_id + " 回避：" + r.members.join("、") }));
    const move = el("button", { type: "button", class: "secondary small move", text: "调整评审组" });
    move.addEventListener("click", (e) => openEditor(e.target.closest("tr"), a, "move"));
    const judge = el("button", { type: "button", class: "secondary small judge", text: "记录方向" });
    judge.addEventListener("click", (e) => openEditor(e.target.closest("tr"), a, "judge"));
    return el("tr", { class: a.flagged ? "flagged" : null,
                      dataset: { proposalId: a.proposal_id, panel: a.panel_id || "", flagged: String(a.flagged) } }, [
      el("td", { class: "run-id", text: a.proposal_id }),
      el("td", {}, [el("div", { class: "proposal-title", text: a.title || "" }),
                    el("div", { class: "org", text: [a.applicant_org, ...(a.partner_orgs || [])].filter(Boolean).join("；") }),
                    ...badges]),
      el("td", {}, [el("div", { class: "panel", text: a.panel_id ? panelName(a.panel_id) : "—" }),
                    el("div", { class: "org", text: "备选：" + (a.backup_panel_id || "—") })]),
      el("td", { class: "num", text: a.affinity.toFixed(2) }),
      el("td", {}, dirs.length ? dirs : [el("span", { class: "hint", text: "无法匹配" })]),
      el("td", {}, conflicts.length ? conflicts : [el("span", { class: "hint", text: "无" })]),
      el("td", { class: "reason", text: a.reason }),
      el("td", { class: "actions" }, [move, judge]),
    ]);
  }

  function directionSelect(selected, withNone) {
    const select = el("select", { class: "direction-choice" });
    if (withNone) select.append(el("option", { value: "", text: "（不填写）" }));
    else select.append(el("option", { value: "none", text: "不属于任何支持方向" }));
    for (const id of Object.keys(directions)) {
      select.append(el("option", { value: id, text: directionLabel(Number(id)) }));
    }
    if (selected !== null && selected !== undefined) select.value = String(selected);
    return select;
  }

  function bestDirectionIn(a, panelId) {
    const panel = run.panels.find((p) => p.id === panelId);
    if (!panel || !panel.directions) return null;
    const hit = a.directions.find((d) => panel.directions.includes(d.id));
    return hit ? hit.id : null;
  }

  function openEditor(tr, a, kind) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("editor")) next.remove();
    const refusal = el("div", { class: "refusal", role: "alert", hidden: "" });
    const cancel = el("button", { type: "button", class: "secondary small", text: "取消" });
    const submit = el("button", { type: "submit", class: "primary small", text: kind === "move" ? "确认调整" : "保存方向" });
    let fields;
    let send;
    if (kind === "move") {
      const target = el("select", { class: "target-panel", "aria-label": "调至评审组" },
        run.panels.filter((p) => p.id !== a.panel_id).map((p) => el("option", { value: p.id, text: panelName(p.id) })));
      const direction = directionSelect(bestDirectionIn(a, target.value), true);
      target.addEventListener("change", () => { direction.value = String(bestDirectionIn(a, target.value) || ""); });
      const reason = el("input", { type: "text", class: "move-reason", maxlength: "2000", placeholder: "调整理由（必填）" });
      const force = el("input", { type: "checkbox", class: "force" });
      fields = [el("label", {}, ["调至 ", target]), el("label", {}, ["方向 ", direction]), reason,
                el("label", {}, [force, " 允许超出容量或低于最少"])];
      send = async () => {
        const body = { proposal_id: a.proposal_id, panel_id: target.value, reason: reason.value.trim(), force: force.checked };
        if (direction.value) body.direction = Number(direction.value);
        if (!body.reason) throw new ApiError(422, { message: "请填写调整理由。" });
        const out = await api(run.status_url + "/overrides", { method: "POST", json: body });
        showRun(out.run);
        status("info", "已将 " + a.proposal_id + " 调至 " + panelName(body.panel_id),
               out.warnings.length ? "提示：" + out.warnings.join("；") : "");
      };
    } else {
      const judged = a.officer_direction ? a.officer_direction.direction : (a.directions[0] || {}).id;
      const direction = directionSelect(judged === null ? "none" : judged, false);
      fields = [el("label", {}, ["该申报书的支持方向 ", direction])];
      send = async () => {
        const value = direction.value === "none" ? null : Number(direction.value);
        await api(run.status_url + "/directions", { method: "POST", json: { proposal_id: a.proposal_id, direction: value } });
        showRun(await api(run.status_url));
        status("info", "已记录 " + a.proposal_id + " 的方向：" + directionLabel(value), "这一判断将作为标注样本，用于改进匹配。");
      };
    }
    const form = el("form", { class: "editor-form" }, [...fields, submit, cancel, refusal]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        await send();
      } catch (err) {
        if (err.httpStatus === 401) return;
        refusal.hidden = false;
        const heading = err.code === "override_refused" ? "无法调整：" : err.code === "run_not_done" ? "分配尚未完成：" : "未能保存：";
        refusal.replaceChildren(el("strong", { text: heading }), el("pre", { text: err.message }));
        submit.disabled = false;
      }
    });
    cancel.addEventListener("click", () => editor.remove());
    const editor = el("tr", { class: "editor", dataset: { proposalId: a.proposal_id, kind: kind } },
                      [el("td", { colspan: "8" }, [form])]);
    tr.after(editor);
    const first = form.querySelector("input[type=text], select");
    if (first) first.focus();
  }

  // -- downloads (fetched with the key, so that it never appears in a URL) --------------------
  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function downloadXlsx() {
    try {
      const response = await api(run.export_url, { raw: true });
      save(await response.blob(), "routing-" + run.run_id + ".xlsx");
    } catch (err) {
      failure("无法下载分配表", err);
    }
  }

  async function downloadJson() {
    try {
      const body = await api(run.status_url);
      save(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }), "routing-" + run.run_id + ".json");
    } catch (err) {
      failure("无法下载 JSON", err);
    }
  }

  // -- wiring ---------------------------------------------------------------------------------
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = $("api-key").value.trim();
    if (!candidate) {
      show($("signin-status"), "warn", "请输入密钥", "");
      return;
    }
    $("signin-button").disabled = true;
    signIn(candidate).finally(() => { $("signin-button").disabled = false; });
  });
  $("signout").addEventListener("click", () => signOut());
  $("run-form").addEventListener("submit", startRun);
  $("cancel-run").addEventListener("click", cancelRun);
  for (const radio of document.querySelectorAll('input[name="panels-choice"]')) radio.addEventListener("change", onPanelsChoice);
  $("panels-file").addEventListener("change", onPanelsFile);
  for (const id of ["filter-panel", "filter-direction", "filter-flagged", "sort"]) {
    $(id).addEventListener("change", () => { if (run) renderProposals(); });
  }
  $("download-xlsx").addEventListener("click", downloadXlsx);
  $("download-json").addEventListener("click", downloadJson);

  const stored = sessionStorage.getItem(KEY_NAME);
  if (stored) signIn(stored);
})();
