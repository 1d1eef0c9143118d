// crossgenre's page: text, clip, image or microphone searches against /api/search, results with players
// that start at the matched segment, and explanation chips; from the results, more like one song, a mix
// of the ticked songs, a path between two, the list as an M3U playlist, and a queue that plays them all. Plain JS, no framework; all text set with
// textContent (never innerHTML) so song tags cannot inject markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  const textInput = $("text");
  const fileInput = $("file");
  const dropzone = $("dropzone");
  const recordButton = $("record");
  const message = $("message");
  const summary = $("summary");
  const results = $("results");
  const listTools = $("list-tools");
  const PLACEHOLDER = "/static/placeholder.svg";
  const MAX_RECORD_SECONDS = 30;
  const ROUTE_NAMES = {
    sound: "sound", lyrics: "lyrics", cover_text: "cover", joint: "overall feel",
    audio_windows: "audio segment", audio_track: "whole track", cover: "cover art", print: "fingerprint",
    feel: "tempo, key & mood", mood: "mood tags", modifier: "but …",
  };
  let busy = false;

  // -- requests ------------------------------------------------------------------------------
  function filters() {
    const out = {};
    for (const name of ["genre", "artist", "key"]) {
      const v = $(name).value.trim();
      if (v) out[name] = v;
    }
    for (const name of ["year_min", "year_max", "bpm_min", "bpm_max", "energy_min", "energy_max"]) {
      const v = $(name).value.trim();
      if (v) out[name] = Number(v);
    }
    for (const name of ["half_double", "compatible_keys"]) if ($(name).checked) out[name] = true;
    out.k = Number($("k").value);
    out.cross_genre = $("cross_genre").checked;
    return out;
  }

  function post(body, describe) {
    const init = { method: "POST", body: body };
    if (typeof body === "string") init.headers = { "Content-Type": "application/json" };
    return request("/api/search", init, describe);
  }

  async function request(url, init, describe) {
    if (busy) return;
    busy = true;
    setBusy(true);
    showMessage("");
    summary.textContent = "Searching " + describe + "…";
    try {
      const response = await fetch(url, init);
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (!response.ok) {
        const detail = data && data.detail ? data.detail : "the server answered " + response.status;
        summary.textContent = "";
        results.replaceChildren();
        showMessage("Search failed: " + detail + ".");
        return;
      }
      render(data, describe);
    } catch (err) {
      summary.textContent = "";
      showMessage("Could not reach the server (" + err.message + ").");
    } finally {
      busy = false;
      setBusy(false);
    }
  }

  function searchText() {
    const text = textInput.value.trim();
    if (!text) {
      showMessage("Type a description, or drop an audio clip or an image.");
      return;
    }
    post(JSON.stringify(Object.assign({ text: text }, filters())), "“" + text + "”");
  }

  function searchFile(file, name) {
    const kind = fileKind(file);
    const data = new FormData();
    data.append(kind, file, name || file.name || kind);
    const label = kind === "image" ? "image" : "clip";
    const but = $("but").value.trim();
    if (but) { // like this file, but ...: songs like it (POST /api/similar), moved toward the text
      const o = songOptions();
      for (const key of Object.keys(o)) data.append(key, String(o[key]));
      data.append("but", but);
      request("/api/similar", { method: "POST", body: data }, "like the " + label + ", but “" + but + "”");
      return;
    }
    const f = filters();
    for (const key of Object.keys(f)) data.append(key, String(f[key]));
    const shown = name || file.name;
    post(data, shown ? label + " “" + shown + "”" : "the " + label);
  }

  function fileKind(file) {
    const type = (file.type || "").toLowerCase();
    if (type.startsWith("image/")) return "image";
    if (!type && /\.(jpe?g|png|gif|webp|bmp)$/i.test(file.name || "")) return "image";
    return "audio"; // the server reads the real type from the bytes and says so if it is neither
  }

  // -- songs like songs ------------------------------------------------------------------------
  function songOptions() {
    const f = filters();
    const out = { k: f.k, cross_genre: f.cross_genre };
    if (f.genre) out.genre = f.genre;
    if (f.year_min !== undefined) out.year_min = f.year_min;
    if (f.year_max !== undefined) out.year_max = f.year_max;
    if ($("max_per_artist").value) out.max_per_artist = Number($("max_per_artist").value);
    return out;
  }

  function query(params) {
    return Object.keys(params).map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(String(params[k]))).join("&");
  }

  function moreLikeThis(hit) {
    const params = songOptions();
    const but = $("but").value.trim();
    if (but) params.but = but;
    request("/api/songs/" + encodeURIComponent(hit.id) + "/similar?" + query(params), {},
            "like “" + (hit.title || "this song") + "”" + (but ? ", but “" + but + "”" : ""));
  }

  function picked() {
    return Array.from(results.querySelectorAll("li.card input.pick:checked")).map((box) => box.closest("li.card").dataset.id);
  }

  function mixSelected() {
    const ids = picked();
    if (!ids.length) { showMessage("Tick the songs to mix first.", "info"); return; }
    const body = JSON.stringify(Object.assign({ seeds: ids }, songOptions()));
    request("/api/mix", { method: "POST", body: body, headers: { "Content-Type": "application/json" } },
            "a mix of " + ids.length + " songs");
  }

  function pathSelected() {
    const ids = picked();
    if (ids.length !== 2) { showMessage("Tick exactly two songs for a path from one to the other.", "info"); return; }
    const params = Object.assign({ from: ids[0], to: ids[1], steps: 5 }, songOptions());
    delete params.k;
    request("/api/path?" + query(params), {}, "a path between two songs");
  }

  async function saveM3u() {
    const ids = Array.from(results.querySelectorAll("li.card")).map((li) => li.dataset.id);
    if (!ids.length) return;
    const response = await fetch("/api/playlist", {
      method: "POST", body: JSON.stringify({ ids: ids }), headers: { "Content-Type": "application/json" },
    });
    if (!response.ok) { showMessage("The playlist could not be made (" + response.status + ")."); return; }
    const link = el("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "crossgenre.m3u8";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  // The queue: "Play all" plays the results one after another, each whole song from its start.
  let queueOn = false;
  function playFrom(index) {
    const players = Array.from(results.querySelectorAll("li.card audio.player"));
    for (const li of results.querySelectorAll("li.card")) li.classList.remove("playing");
    if (index >= players.length) { queueOn = false; return; }
    const audio = players[index];
    audio.closest("li.card").classList.add("playing");
    audio.currentTime = 0;
    audio.play().catch(() => {});
  }

  function onEnded(audio) {
    if (!queueOn) return;
    const players = Array.from(results.querySelectorAll("li.card audio.player"));
    playFrom(players.indexOf(audio) + 1);
  }

  // -- rendering -----------------------------------------------------------------------------
  function render(data, describe) {
    results.replaceChildren();
    queueOn = false;
    listTools.hidden = true;
    const hits = data.results || [];
    if (!hits.length) {
      summary.textContent = "";
      showMessage("No songs matched " + describe + ". Try fewer filters, or turn cross-genre off.", "info");
      return;
    }
    const q = data.query || {};
    const reading = !q.subject ? ""
      : (q.sound ? "; sound: \u201c" + q.sound + "\u201d," : ";") + " about: \u201c" + q.subject + "\u201d";
    const music = q.music ? "; music: " + q.music : "";
    summary.textContent = hits.length + " songs for " + describe + " (" + Math.round(data.took_ms) + " ms" + reading + music + ")";
    for (const hit of hits) results.appendChild(card(hit));
    listTools.hidden = false;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function card(hit) {
    const li = el("li", "card");
    li.dataset.id = hit.id;

    const img = el("img", "cover");
    img.alt = hit.has_cover ? "Cover of " + (hit.album || hit.title) : "";
    img.loading = "lazy";
    img.width = 96;
    img.height = 96;
    img.addEventListener("error", () => { img.src = PLACEHOLDER; img.classList.add("placeholder"); }, { once: true });
    img.src = hit.has_cover ? "/api/songs/" + encodeURIComponent(hit.id) + "/cover" : PLACEHOLDER;
    if (!hit.has_cover) img.classList.add("placeholder");
    li.appendChild(img);

    const body = el("div", "card-body");
    const head = el("div", "card-head");
    const pick = el("input", "pick");
    pick.type = "checkbox";
    pick.setAttribute("aria-label", "select " + (hit.title || "this song") + " for a mix or a path");
    head.appendChild(pick);
    head.appendChild(el("span", "rank", "#" + hit.rank));
    head.appendChild(el("h2", "title", hit.title || "(untitled)"));
    const more = el("button", "more secondary", "More like this");
    more.type = "button";
    more.addEventListener("click", () => moreLikeThis(hit));
    head.appendChild(more);
    body.appendChild(head);

    const meta = el("p", "meta");
    const parts = [hit.artist, hit.album].filter(Boolean);
    meta.appendChild(el("span", "artist", parts.join(" — ") || "Unknown artist"));
    if (hit.genre) {
      const predicted = hit.genre_source === "predicted";
      const g = el("span", "genre" + (predicted ? " predicted" : ""), hit.genre + (predicted ? "*" : ""));
      if (predicted) g.title = "genre predicted from the audio (no genre tag)";
      meta.appendChild(g);
    }
    if (hit.year) meta.appendChild(el("span", "year", String(hit.year)));
    body.appendChild(meta);

    body.appendChild(player(hit));
    body.appendChild(chips(hit));
    li.appendChild(body);
    return li;
  }

  function player(hit) {
    const audio = el("audio", "player");
    audio.controls = true;
    audio.preload = "metadata";
    const seg = hit.explanation && hit.explanation.segment;
    const start = seg && typeof seg.start === "number" ? seg.start : 0;
    audio.dataset.start = String(start);
    let src = "/api/songs/" + encodeURIComponent(hit.id) + "/audio";
    if (start > 0) src += "#t=" + start.toFixed(2);
    audio.addEventListener("loadedmetadata", () => {
      if (start > 0 && Math.abs(audio.currentTime - start) > 0.05) audio.currentTime = start;
    }, { once: true });
    audio.addEventListener("ended", () => onEnded(audio));
    audio.addEventListener("play", () => {
      for (const other of document.querySelectorAll("audio.player")) if (other !== audio) other.pause();
    });
    audio.src = src;
    return audio;
  }

  function chips(hit) {
    const box = el("div", "chips");
    const ex = hit.explanation || {};
    for (const r of (ex.routes || []).slice(0, 4)) {
      const c = el("span", "chip route", (ROUTE_NAMES[r.route] || r.route) + " " + Math.round(r.share * 100) + "%");
      c.title = r.route + ": similarity " + r.score.toFixed(3) + ", rank " + r.rank + " in this route";
      box.appendChild(c);
    }
    if (ex.seed && typeof ex.seed.position === "number") {
      const where = ex.seed.endpoint ? (ex.seed.position === 0 ? "start" : "end") : Math.round(ex.seed.position * 100) + "% of the way";
      box.appendChild(el("span", "chip step", where));
    }
    if (ex.segment) {
      let text = "matched " + time(ex.segment.start) + "–" + time(ex.segment.end);
      if (ex.segment.seed) text += " ~ " + time(ex.segment.seed.start) + "–" + time(ex.segment.seed.end) + " of the seed";
      const c = el("span", "chip segment", text);
      c.title = "the part of the song closest to the query; the player starts there";
      box.appendChild(c);
    }
    if (ex.lyric && ex.lyric.text) {
      const line = ex.lyric.text.split("\n").find((s) => s.trim()) || "";
      const c = el("span", "chip lyric", "“" + (line.length > 70 ? line.slice(0, 67) + "…" : line) + "”");
      c.title = ex.lyric.text;
      box.appendChild(c);
    }
    if (ex.feel) {
      const c = el("span", "chip feel", ex.feel);
      c.title = "tempo, key (Camelot code in brackets) and feel, measured from the audio";
      box.appendChild(c);
    }
    for (const t of (ex.tags || []).slice(0, 3)) {
      box.appendChild(el("span", "chip tag", t[0]));
    }
    return box;
  }

  function time(seconds) {
    const s = Math.max(0, Math.round(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function showMessage(text, kind) {
    message.textContent = text;
    message.hidden = !text;
    message.className = "message" + (kind === "info" ? " info" : "");
  }

  function setBusy(on) {
    $("search-button").disabled = on;
    document.body.classList.toggle("busy", on);
  }

  // -- input ---------------------------------------------------------------------------------
  form.addEventListener("submit", (e) => { e.preventDefault(); searchText(); });
  fileInput.addEventListener("change", () => {
    if (fileInput.files.length) searchFile(fileInput.files[0]);
    fileInput.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (e) => { e.preventDefault(); dropzone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    dropzone.addEventListener(type, () => dropzone.classList.remove("over"));
  }
  dropzone.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) searchFile(files[0]);
  });
  dropzone.addEventListener("keydown", (e) => {
    if (e.target === dropzone && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); fileInput.click(); }
  });
  $("cross_genre").addEventListener("change", () => { if (textInput.value.trim()) searchText(); });
  $("mix").addEventListener("click", mixSelected);
  $("path").addEventListener("click", pathSelected);
  $("save-m3u").addEventListener("click", saveM3u);
  $("play-all").addEventListener("click", () => { queueOn = true; playFrom(0); });

  // -- microphone ----------------------------------------------------------------------------
  let recorder = null;
  let timer = null;
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder) {
    recordButton.hidden = false;
    recordButton.addEventListener("click", () => (recorder ? recorder.stop() : startRecording()));
  }

  async function startRecording() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      showMessage("The microphone is not available (" + err.message + ").");
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (e) => { if (e.data.size) chunks.push(e.data); });
    recorder.addEventListener("stop", () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(timer);
      const type = recorder.mimeType || "audio/webm";
      recorder = null;
      recordButton.textContent = "Record from microphone";
      recordButton.classList.remove("recording");
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      searchFile(new Blob(chunks, { type: type }), "recording." + ext);
    });
    recorder.start();
    const began = Date.now();
    recordButton.classList.add("recording");
    const tick = () => {
      const s = Math.floor((Date.now() - began) / 1000);
      recordButton.textContent = "Stop recording (" + time(s) + ")";
      if (s >= MAX_RECORD_SECONDS && recorder) recorder.stop();
    };
    tick();
    timer = setInterval(tick, 500);
  }

  // -- index facts ---------------------------------------------------------------------------
  fetch("/api/stats").then((r) => (r.ok ? r.json() : null)).then((s) => {
    if (!s) return;
    $("index-info").textContent = s.songs + " songs indexed" +
      (s.versions && s.versions.profile ? " · " + s.versions.profile + " profile" : "");
    const list = $("genre-list");
    for (const g of Object.keys(s.genres || {})) {
      if (g === "unknown") continue;
      const o = document.createElement("option");
      o.value = g;
      list.appendChild(o);
    }
  }).catch(() => {});
})();
