// The dailies player: frame-accurate stepping on the review movie, a before/after wipe
// against the plate or the previous version, status, notes pinned to source frames,
// publishing. Plain JavaScript, no build step, nothing fetched from elsewhere.
(function () {
  "use strict";
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const player = document.getElementById("player");
  const compare = document.getElementById("compare");
  const source = document.getElementById("compare-source");
  const wipe = document.getElementById("wipe");
  const frameText = document.getElementById("frame");
  const fps = parseFloat(viewer.dataset.fps);
  const first = parseInt(viewer.dataset.first, 10);
  const last = parseInt(viewer.dataset.last, 10);
  const slate = parseInt(viewer.dataset.slate, 10) || 0;
  const count = slate + last - first + 1;   // movie frames, slate included
  let current = 0;                          // movie frame index on screen (0-based)

  // Movie frame i starts at i/fps; seeking to the middle of the frame, (i + 0.5)/fps,
  // lands inside it whatever the decoder's rounding. The small epsilon keeps a timestamp
  // of exactly i/fps (float error: 0.99999...) on frame i.
  const indexAt = (t) => Math.min(count - 1, Math.max(0, Math.floor(t * fps + 1e-3)));
  const clamp = (i) => Math.min(count - 1, Math.max(0, i));
  const sourceFrame = (i) => (i < slate ? null : first + i - slate);

  function show(i) {
    current = i;
    const f = sourceFrame(i);
    frameText.textContent = f === null ? "slate" : String(f);
    frameText.dataset.index = String(i);
  }

  function syncCompare(force) {
    if (compare.hidden || !compare.src) return;
    if (force || Math.abs(compare.currentTime - player.currentTime) > 0.5 / fps) {
      compare.currentTime = player.currentTime;
    }
  }

  function seekTo(i) {
    player.pause();
    current = clamp(i);
    player.currentTime = (current + 0.5) / fps;
    syncCompare(true);
  }

  player.addEventListener("seeked", () => { show(indexAt(player.currentTime)); syncCompare(false); });
  player.addEventListener("timeupdate", () => { if (player.paused) return; show(indexAt(player.currentTime)); syncCompare(false); });
  player.addEventListener("play", () => {
    document.getElementById("play").textContent = "Pause";
    if (!compare.hidden && compare.src) { syncCompare(true); compare.play().catch(() => {}); }
  });
  player.addEventListener("pause", () => {
    document.getElementById("play").textContent = "Play";
    compare.pause();
    syncCompare(true);
  });

  // While playing, the frame on screen comes from the frame the compositor presents
  // (requestVideoFrameCallback), not from timeupdate's coarse ticks.
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_now, meta) => {
      if (!player.paused) { show(indexAt(meta.mediaTime)); syncCompare(false); }
      player.requestVideoFrameCallback(onFrame);
    };
    player.requestVideoFrameCallback(onFrame);
  }

  document.getElementById("play").addEventListener("click", () => {
    if (player.paused) player.play().catch(() => {}); else player.pause();
  });
  document.getElementById("step-back").addEventListener("click", () => seekTo(current - 1));
  document.getElementById("step-forward").addEventListener("click", () => seekTo(current + 1));
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("textarea, input, select")) return;
    if (e.key === "ArrowLeft") { seekTo(current - 1); e.preventDefault(); }
    else if (e.key === "ArrowRight") { seekTo(current + 1); e.preventDefault(); }
    else if (e.key === " ") { document.getElementById("play").click(); e.preventDefault(); }
  });

  // --- wipe: the player on top, clipped to the left of the wipe; the compare movie under it
  function applyWipe() {
    const on = !compare.hidden;
    const cut = 100 - parseFloat(wipe.value);
    player.style.clipPath = on ? "inset(0 " + cut + "% 0 0)" : "none";
    viewer.dataset.wipe = on ? wipe.value : "off";
  }
  function chooseCompare() {
    const url = { plate: viewer.dataset.plate, previous: viewer.dataset.previous }[source.value] || "";
    if (!url) {
      compare.hidden = true;
      compare.pause();
      compare.removeAttribute("src");
      compare.load();
    } else {
      compare.hidden = false;
      if (compare.getAttribute("src") !== url) compare.src = url;
      const align = () => { syncCompare(true); if (!player.paused) compare.play().catch(() => {}); };
      if (compare.readyState >= 1) align(); else compare.addEventListener("loadedmetadata", align, { once: true });
    }
    applyWipe();
  }
  source.addEventListener("change", chooseCompare);
  wipe.addEventListener("input", applyWipe);
  chooseCompare();

  // --- API calls ---------------------------------------------------------------------
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (_e) { data = { error: response.statusText }; }
    return { ok: response.ok, status: response.status, data: data };
  }

  const statusText = document.getElementById("status");
  async function setStatus(value) {
    const r = await post(viewer.dataset.statusUrl, { status: value });
    if (r.ok) { statusText.textContent = r.data.status_label; statusText.dataset.status = r.data.status; }
    else { statusText.textContent = r.data.error || "status not changed"; }
  }
  document.getElementById("approve").addEventListener("click", () => setStatus("approved"));
  document.getElementById("retake").addEventListener("click", () => setStatus("retake"));

  const publishMessage = document.getElementById("publish-message");
  document.getElementById("publish").addEventListener("click", async () => {
    publishMessage.textContent = "Checking licence and provenance...";
    const r = await post(viewer.dataset.publishUrl, {});
    publishMessage.dataset.state = r.ok ? "ok" : "bad";
    publishMessage.textContent = r.ok ? r.data.message : (r.data.error || "Publishing refused.");
  });

  // --- notes -------------------------------------------------------------------------
  const notesList = document.getElementById("notes");
  const noteText = document.getElementById("note-text");
  const noteError = document.getElementById("note-error");

  function noteItem(note) {
    const li = document.createElement("li");
    li.className = "note";
    li.dataset.frame = String(note.frame);
    for (const [cls, text, tag] of [["note-frame", String(note.frame), "span"],
                                     ["note-author", note.author, "span"],
                                     ["note-time", note.time, "time"],
                                     ["note-text", note.text, "span"]]) {
      const el = document.createElement(tag);
      el.className = cls;
      el.textContent = text;   // textContent: a note can never inject markup
      li.appendChild(el);
      li.appendChild(document.createTextNode(" "));
    }
    return li;
  }
  async function reloadNotes() {
    const response = await fetch(viewer.dataset.notesUrl, { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    notesList.replaceChildren(...data.notes.map(noteItem));
  }
  notesList.addEventListener("click", (e) => {
    const li = e.target.closest("li.note");
    if (li) seekTo(parseInt(li.dataset.frame, 10) - first + slate);
  });
  document.getElementById("note-submit").addEventListener("click", async () => {
    const text = noteText.value.trim();
    noteError.textContent = "";
    if (!text) { noteError.textContent = "Write the note first."; return; }
    // a note made on the slate is pinned to the first frame of the shot
    const frame = sourceFrame(current) === null ? first : sourceFrame(current);
    const r = await post(viewer.dataset.notesUrl, { frame: frame, text: text });
    if (!r.ok) { noteError.textContent = r.data.error || "Note not saved."; return; }
    noteText.value = "";
    await reloadNotes();
  });
})();
