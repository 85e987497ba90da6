// The search page: plain DOM, no framework, nothing loaded from outside this server.
// All text from the index is inserted with textContent (never innerHTML), so documents cannot inject markup.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let key = localStorage.getItem("ek-key") || sessionStorage.getItem("ek-key") || "";
  let hits = [], selected = -1, lastQuery = "";

  async function api(path, body) {
    const headers = { "Content-Type": "application/json" };
    if (key) headers["Authorization"] = "Bearer " + key;
    const res = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401) { askKey(data && data.error ? data.error.message : ""); throw new Error("an API key is needed"); }
    if (!res.ok) throw new Error(data && data.error ? data.error.message : res.status + " " + res.statusText);
    return data;
  }

  function askKey(message) {
    $("search-form").hidden = true;
    $("key-form").hidden = false;
    $("key-error").textContent = key ? message : "";
    $("key").focus();
  }

  async function start() {
    let health = {};
    try { health = await (await fetch("/health")).json(); } catch (e) { /* shown below */ }
    if (health.auth && !key) return askKey("");
    try {
      const info = await api("/v1/info");
      const sel = $("mode");
      sel.textContent = "";
      for (const m of info.modes) { const o = document.createElement("option"); o.value = o.textContent = m; sel.appendChild(o); }
      if (info.modes.length > 2) {
        const o = document.createElement("option"); o.value = o.textContent = info.modes.slice(1).join("+");
        if (info.modes.length > 3) sel.appendChild(o);
      }
      $("rerank-wrap").hidden = !info.reranker;
      const s = info.stats;
      $("index-info").textContent = `${s.documents} documents · ${s.chunks} chunks · model ${s.model} · generation ${s.generation}`;
      $("key-form").hidden = true;
      $("search-form").hidden = false;
      const q = new URLSearchParams(location.search).get("q");
      if (q) { $("q").value = q; search(); } else $("q").focus();
    } catch (e) { $("error").textContent = e.message; }
  }

  function marked(text, spans) {
    // text with <mark> around each [start, end] span (spans sorted, non-overlapping)
    const frag = document.createDocumentFragment();
    let pos = 0;
    for (const [s, e] of spans) {
      if (s < pos) continue;
      frag.appendChild(document.createTextNode(text.slice(pos, s)));
      const m = document.createElement("mark"); m.textContent = text.slice(s, e); frag.appendChild(m);
      pos = e;
    }
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  function explainTable(stages, final) {
    const t = document.createElement("table");
    const head = t.insertRow();
    for (const h of ["stage", "rank", "score", "chunk"]) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    for (const [name, st] of Object.entries(stages)) {
      const r = t.insertRow();
      for (const v of [name, st.rank, st.score.toFixed(4), st.chunk_id]) r.insertCell().textContent = v;
    }
    const r = t.insertRow();
    for (const v of ["final", final.rank, final.score.toFixed(4), final.chunk_id]) r.insertCell().textContent = v;
    return t;
  }

  function render(data) {
    const list = $("results");
    list.textContent = "";
    hits = data.hits;
    const t = data.timings_ms || {};
    const total = Object.values(t).reduce((a, b) => a + b, 0);
    const parts = Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ");
    $("status").textContent = hits.length
      ? `${hits.length} results for “${data.query}” (${data.mode}; ${total.toFixed(1)} ms: ${parts})`
      : `No results for “${data.query}”.`;
    hits.forEach((h, i) => {
      const li = document.createElement("li");
      li.tabIndex = -1;
      li.dataset.i = i;
      const head = document.createElement("div"); head.className = "hit-head";
      const rank = document.createElement("span"); rank.className = "hit-rank"; rank.textContent = h.rank + ".";
      const title = document.createElement("span"); title.className = "hit-title"; title.textContent = h.title || h.doc_id;
      head.append(rank, title);
      if (h.path) { const p = document.createElement("span"); p.className = "hit-path"; p.textContent = h.path; head.appendChild(p); }
      if (h.section) { const s = document.createElement("span"); s.className = "hit-section"; s.textContent = "§ " + h.section; head.appendChild(s); }
      const score = document.createElement("span"); score.className = "hit-score"; score.textContent = "score " + h.score.toFixed(4);
      head.appendChild(score);
      const snip = document.createElement("p"); snip.className = "snippet";
      snip.appendChild(marked(h.snippet, h.highlights || []));
      const det = document.createElement("details"); det.className = "explain";
      const sum = document.createElement("summary"); sum.textContent = "why this result (per stage)";
      det.append(sum, explainTable(h.stages || {}, h));
      li.append(head, snip, det);
      li.addEventListener("click", (ev) => { if (!det.contains(ev.target)) { select(i); openDoc(); } });
      list.appendChild(li);
    });
    select(hits.length ? 0 : -1, false);
  }

  function select(i, focus = true) {
    const items = $("results").children;
    if (selected >= 0 && items[selected]) items[selected].classList.remove("selected");
    selected = i;
    if (i >= 0 && items[i]) {
      items[i].classList.add("selected");
      if (focus) { items[i].focus(); items[i].scrollIntoView({ block: "nearest" }); }
    }
  }

  async function search() {
    const q = $("q").value.trim();
    if (!q) return;
    lastQuery = q;
    $("error").textContent = "";
    $("status").textContent = "Searching…";
    closeDoc(false);
    try {
      const data = await api("/v1/search", { query: q, mode: $("mode").value, k: parseInt($("k").value, 10), rerank: $("rerank").checked });
      history.replaceState(null, "", "?q=" + encodeURIComponent(q));
      render(data);
    } catch (e) { $("status").textContent = ""; $("error").textContent = e.message; }
  }

  async function openDoc() {
    const h = hits[selected];
    if (!h) return;
    try {
      const doc = await api("/v1/documents/" + encodeURIComponent(h.doc_id));
      $("doc-title").textContent = doc.title || doc.doc_id;
      $("doc-path").textContent = [doc.path, `${doc.n_chars} characters`, `matching passage at ${h.snippet_start}–${h.snippet_end}`].filter(Boolean).join(" · ");
      const pre = $("doc-text");
      pre.textContent = "";
      const text = doc.text;
      const s = Math.max(0, h.snippet_start), e = Math.min(text.length, h.snippet_end);
      pre.appendChild(document.createTextNode(text.slice(0, s)));
      const m = document.createElement("mark"); m.id = "match"; m.textContent = text.slice(s, e); pre.appendChild(m);
      pre.appendChild(document.createTextNode(text.slice(e)));
      $("results").hidden = true;
      $("doc").hidden = false;
      pre.focus();
      m.scrollIntoView({ block: "center" });
    } catch (err) { $("error").textContent = err.message; }
  }

  function closeDoc(focus = true) {
    if ($("doc").hidden) return;
    $("doc").hidden = true;
    $("results").hidden = false;
    if (focus) select(selected);
  }

  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    key = $("key").value.trim();
    localStorage.removeItem("ek-key"); sessionStorage.removeItem("ek-key");
    ($("remember").checked ? localStorage : sessionStorage).setItem("ek-key", key);
    start();
  });
  $("doc-close").addEventListener("click", () => closeDoc());
  document.addEventListener("keydown", (ev) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (ev.key === "Escape") { if (!$("doc").hidden) closeDoc(); else if (typing) document.activeElement.blur(); return; }
    if (ev.key === "/" && !typing) { ev.preventDefault(); closeDoc(false); $("q").focus(); $("q").select(); return; }
    if (typing && ev.key !== "ArrowDown") return;
    if (!$("doc").hidden || !hits.length) return;
    if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); select(Math.min(hits.length - 1, selected + (typing ? 0 : 1))); }
    else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); select(Math.max(0, selected - 1)); }
    else if (ev.key === "Enter" || ev.key === "o") { ev.preventDefault(); openDoc(); }
    else if (ev.key === "e") { const d = $("results").children[selected]?.querySelector("details"); if (d) d.open = !d.open; }
  });
  start();
})();
