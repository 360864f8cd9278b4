// Pages for fans and operators, drawn from the JSON API (docs/api.md). No framework, no CDN.
// Words and formats come from i18n.js (loaded first): t() gives text, h() gives HTML with every
// parameter escaped; won(), when() and count() format for the chosen language in Seoul time.
"use strict";

const app = document.getElementById("app");
const flashBox = document.getElementById("flash");
const timers = [];
const every = (ms, fn) => { const id = setInterval(fn, ms); timers.push(id); return id; };
// The most seats one hold may take (TICKETING_MAX_SEATS_PER_HOLD): the server writes it into the page.
const MAX_SEATS_PER_HOLD = Number(document.querySelector('meta[name="max-seats-per-hold"]')?.content) || 4;
// A seat the service just refused stays grey this long even if the seat list, cached for a moment
// on the server, still calls it free.
const REFUSED_SEAT_MS = 10_000;
// The refund terms (TICKETING_REFUND_CUTOFF_HOURS, TICKETING_MAX_REFUNDS_PER_FAN_PER_DATE), told
// before the fan pays and beside each booking: the server writes them into the page.
const metaNumber = (name, fallback) => {
  const value = Number(document.querySelector(`meta[name="${name}"]`)?.content);
  return Number.isInteger(value) ? value : fallback;
};
const REFUND_CUTOFF_HOURS = metaNumber("refund-cutoff-hours", 24);
const MAX_REFUNDS_PER_DATE = metaNumber("max-refunds-per-date", 2);
const refundDeadline = (startsAt) => new Date(new Date(startsAt).getTime() - REFUND_CUTOFF_HOURS * 3600_000).toISOString();
// What the sale page knows of the concert and its dates, to name them on the hold and the receipt.
const sale = { title: "", startsAt: new Map() };
const nonce = () => `${Date.now()}-${Math.random().toString(36).slice(2)}`;

// Every live view (the queue, the seat and zone maps, the door count, the dashboard) refreshes
// through live(): `fn` runs now and again `ms` after each run (or after the number of ms it
// returns). A run that fails for the network or the server (no answer, 5xx, 429) is retried after
// 1 s, doubling to 10 s, with "reconnecting…" shown (role=status) and the live parts greyed, so a
// stale page never looks live; the first run that succeeds clears both. Coming back online or to
// the tab retries at once. A refusal (another 4xx) is the page's to handle: fn's `onFatal` gets it
// and the loop stops. Returns { stop(), now() }.
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10_000;
const failingLoops = new Set();
const transient = (error) => !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
function setReconnecting(loop, failing) {
  if (failing) failingLoops.add(loop); else failingLoops.delete(loop);
  const box = document.getElementById("live-status");
  const on = failingLoops.size > 0;
  document.body.classList.toggle("reconnecting", on);
  if (box && box.hidden === on) {
    box.textContent = on ? t("reconnecting") : "";
    box.hidden = !on;
  }
}
function live(fn, { ms = 3000, onFatal = showError } = {}) {
  const loop = {};
  let timer = null;
  let stopped = false;
  let retry = 0;
  let running = false;
  let again = false; // now() while a run is in flight: run once more right after it
  const schedule = (delay) => { clearTimeout(timer); if (!stopped) timer = setTimeout(run, delay); };
  const run = async () => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = true;
    again = false;
    clearTimeout(timer);
    try {
      const next = await fn();
      retry = 0;
      setReconnecting(loop, false);
      schedule(again ? 0 : typeof next === "number" ? next : ms);
    } catch (error) {
      if (!transient(error)) { loop.stop(); onFatal(error); return; }
      retry = retry ? Math.min(RETRY_MAX_MS, retry * 2) : RETRY_FIRST_MS;
      setReconnecting(loop, true);
      schedule(retry);
    } finally { running = false; }
  };
  const wake = () => { if (failingLoops.has(loop) || document.visibilityState === "visible") run(); };
  loop.stop = () => {
    stopped = true;
    clearTimeout(timer);
    setReconnecting(loop, false);
    window.removeEventListener("online", wake);
    document.removeEventListener("visibilitychange", wake);
  };
  loop.now = run;
  window.addEventListener("online", wake);
  document.addEventListener("visibilitychange", wake);
  run();
  return loop;
}

// The push channel (Server-Sent Events, GET /api/v1/events; docs/live-pages.md): the queue page's
// place and a date's seat changes arrive as they happen, instead of a poll every few seconds.
// EventSource cannot send headers, so a single-use ticket is asked for first with the headers the
// polled endpoints take (bearer, X-Queue-Token); neither ever goes into the stream's URL. Polling
// (live()) stays on underneath, slowed to PUSHED_POLL_MS while the channel is open, and back to
// its own pace (and its "reconnecting…" state) the moment the channel is lost: `lost` runs then.
// A closed channel is tried again later with backoff; a "bye" (its life is over) at once.
// `handlers`: event name -> fn(data). Returns { open, close() }.
const PUSHED_POLL_MS = 30_000;
function pushChannel(body, queueToken, handlers, lost) {
  let source = null;
  let closed = false;
  let retryTimer = null;
  let failures = 0;
  let open = false;
  const drop = () => {
    const was = open;
    open = false;
    if (source) source.close();
    source = null;
    if (was) lost();
  };
  const later = () => {
    failures += 1;
    clearTimeout(retryTimer);
    if (!closed) retryTimer = setTimeout(connect, Math.min(RETRY_MAX_MS * 3, 2000 * 2 ** failures));
  };
  async function connect() {
    if (closed || !("EventSource" in window)) return;
    let issued;
    try {
      issued = await api("POST", "/api/v1/events/tickets", { body, queueToken });
    } catch (error) { return later(); } // polling carries on; a refused pass is the loop's to say
    if (closed) return;
    source = new EventSource(issued.url);
    source.onopen = () => { open = true; failures = 0; };
    for (const [name, fn] of Object.entries(handlers)) source.addEventListener(name, (event) => fn(JSON.parse(event.data)));
    source.addEventListener("bye", (event) => { drop(); if (JSON.parse(event.data).reconnect) connect(); else later(); });
    source.addEventListener("end", () => { drop(); closed = true; lost(); }); // the loop hears why
    source.onerror = () => { drop(); later(); };
  }
  connect();
  return {
    get open() { return open; },
    close() { closed = true; clearTimeout(retryTimer); open = false; if (source) source.close(); source = null; },
  };
}
// A live() loop that a push channel drives: stopping the one closes the other.
function pushed(loop, channel) {
  const stop = loop.stop;
  loop.stop = () => { channel.close(); stop(); };
  return loop;
}

class ApiError extends Error {
  constructor(status, body) {
    super(errorText(body && body.code) || (body && body.detail) || t("request_failed", { status }));
    this.status = status;
    this.code = body && body.code;
    this.body = body || {}; // the problem's extra members: unavailable_seat_ids, checked_in_at, ...
  }
}

const session = {
  get token() { return localStorage.getItem("access_token"); },
  get user() { return JSON.parse(localStorage.getItem("user") || "null"); },
  save(token, user) { localStorage.setItem("access_token", token); localStorage.setItem("user", JSON.stringify(user)); },
  clear() { localStorage.removeItem("access_token"); localStorage.removeItem("user"); },
  queueToken(concertId) { return sessionStorage.getItem(`queue:${concertId}`); },
  setQueueToken(concertId, token) { if (token) sessionStorage.setItem(`queue:${concertId}`, token); else sessionStorage.removeItem(`queue:${concertId}`); },
  // The fan's live hold, so that a reload (a language switch) shows it again instead of the seat map.
  heldIds(concertId) { return JSON.parse(sessionStorage.getItem(`hold:${concertId}`) || "[]"); },
  setHeldIds(concertId, ids) { if (ids.length) sessionStorage.setItem(`hold:${concertId}`, JSON.stringify(ids)); else sessionStorage.removeItem(`hold:${concertId}`); },
};

// The proof-of-work gate (docs/security.md): a 428 CHALLENGE_REQUIRED carries an ALTCHA
// challenge; find n in 0..maxnumber with SHA-256(salt + n) == challenge (about a second of a phone
// at the service's default), then send the request again with the solution in X-Altcha.
const CHALLENGE_BATCH = 500; // digests in flight at once: crypto.subtle is asynchronous
async function solveChallenge(challenge, onProgress) {
  const encoder = new TextEncoder();
  const target = Uint8Array.from(challenge.challenge.match(/../g) || [], (byte) => parseInt(byte, 16));
  const matches = (digest) => { const bytes = new Uint8Array(digest); return bytes.every((b, i) => b === target[i]); };
  for (let start = 0; start <= challenge.maxnumber; start += CHALLENGE_BATCH) {
    const end = Math.min(start + CHALLENGE_BATCH, challenge.maxnumber + 1);
    const digests = [];
    for (let n = start; n < end; n++) digests.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
    const found = (await Promise.all(digests)).findIndex(matches);
    if (found >= 0) {
      const payload = { algorithm: challenge.algorithm, challenge: challenge.challenge, number: start + found, salt: challenge.salt, signature: challenge.signature };
      return btoa(JSON.stringify(payload));
    }
    onProgress(end / (challenge.maxnumber + 1));
  }
  throw new Error("no solution");
}

async function api(method, path, { body, queueToken, idempotencyKey, altcha, solved = 0 } = {}) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (queueToken) headers["X-Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (altcha) headers["X-Altcha"] = altcha;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  // Solve and send again, at most twice (a solution refused twice is a fault, not a challenge).
  if (response.status === 428 && data && data.code === "CHALLENGE_REQUIRED" && data.challenge && solved < 2) {
    flash(t("challenge_solving", { percent: 0 }), "info", "CHALLENGE_SOLVING");
    const solution = await solveChallenge(data.challenge, (done) => {
      flashBox.textContent = t("challenge_solving", { percent: Math.round(done * 100) });
    });
    flashBox.hidden = true;
    return api(method, path, { body, queueToken, idempotencyKey, altcha: solution, solved: solved + 1 });
  }
  if (!response.ok) {
    if (response.status === 401 && data && data.code === "UNAUTHENTICATED" && session.token && path !== "/api/v1/auth/token") {
      session.clear();
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

// An image only its owner may fetch (a ticket's QR code): an <img src> cannot send the bearer
// token, so it is fetched here and shown as a data: URL, which the page's img-src already allows.
async function privateImage(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const blob = await response.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// `near`: the element the person acted on. The message is then also written next to it (an alert
// region scrolled into view: on a phone the flash at the top is off-screen), and the flash at the
// top shows it without announcing it a second time.
function flash(message, kind = "error", code = kind, near = null) {
  if (near && near.isConnected) {
    const anchor = near.closest(".selection, form, .card, #step") || near;
    let box = anchor.querySelector(":scope > .inline-alert");
    if (!box) {
      box = document.createElement("p");
      box.setAttribute("role", "alert");
      anchor.append(box);
    }
    box.className = `inline-alert ${kind}`;
    box.dataset.code = code;
    box.textContent = message;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
    clearTimeout(box.timer);
    box.timer = setTimeout(() => { box.hidden = true; }, 8000);
    flashBox.setAttribute("role", "none");
  } else {
    flashBox.setAttribute("role", "alert");
  }
  flashBox.textContent = message;
  flashBox.className = kind;
  flashBox.hidden = false;
  flashBox.dataset.code = code;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { flashBox.hidden = true; }, 8000);
}

function showError(error, near = null) {
  if (error instanceof ApiError) flash(error.message, "error", error.code || "", near);
  else flash(t("generic_error"), "error", "error", near);
}

function renderNav() {
  document.querySelector(".brand").textContent = t("brand");
  const user = session.user;
  const links = [`<a href="/">${h("nav_concerts")}</a>`];
  if (user) {
    links.push(`<a href="/tickets">${h("nav_tickets")}</a>`, `<a href="/me">${h("nav_wallet")}</a>`);
    if (user.role === "admin") links.push(`<a href="/admin">${h("nav_operator")}</a>`, `<a href="/door">${h("nav_door")}</a>`);
    else if (user.role === "door") links.push(`<a href="/door">${h("nav_door")}</a>`);
    links.push(`<span id="who">${esc(user.display_name || user.name)}</span>`, `<a href="#" id="signout">${h("nav_sign_out")}</a>`);
  } else {
    links.push(`<a href="/login">${h("nav_sign_in")}</a>`, `<a href="/signup">${h("nav_sign_up")}</a>`);
  }
  // The switch names the other language in that language, so a fan who cannot read this one finds it.
  const other = LANG === "ko" ? "en" : "ko";
  links.push(`<button type="button" id="lang-switch" class="lang" lang="${other}" title="${h("language_switch")}">${esc(LANGUAGES[other])}</button>`);
  document.getElementById("nav").innerHTML = links.join("");
  const out = document.getElementById("signout");
  if (out) out.onclick = (e) => { e.preventDefault(); signOut(); };
  document.getElementById("lang-switch").onclick = () => { localStorage.setItem("lang", other); location.reload(); };
}

// Where to go after signing in: a path of this site only. `next` comes from the URL, which anyone
// can link to: `javascript:…` would run script with the fan's token, `//other.site` or
// `/\other.site` would send the fan away (browsers read both as another host).
function safeNext(next) {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  try {
    const url = new URL(next, location.origin);
    // The parser drops tabs and newlines, so "/\t/x" becomes "//x": check what it resolved to.
    return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
  } catch (error) { return "/"; }
}

function requireSignIn() {
  if (session.token) return true;
  location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
  return false;
}

// ---------------------------------------------------------------- fans: account

// Signing out revokes the token on the server (every device's: docs/api.md),
// then forgets it here, whatever the server said (a token already revoked answers 401).
async function signOut() {
  try {
    if (session.token) await api("DELETE", "/api/v1/auth/token");
  } catch (error) { /* forgotten below all the same */ }
  session.clear();
  location.href = "/";
}

async function signIn(name, password) {
  const token = await api("POST", "/api/v1/auth/token", { body: { name, password } });
  localStorage.setItem("access_token", token.access_token);
  const me = await api("GET", "/api/v1/users/me");
  const claims = JSON.parse(atob(token.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  session.save(token.access_token, { ...me, role: claims.role });
}

function accountPage(kind) {
  const signup = kind === "signup";
  document.title = t(signup ? "signup_title" : "signin_title");
  app.innerHTML = `
    <h1>${h(signup ? "signup_title" : "signin_title")}</h1>
    <form id="account" class="card">
      <label>${h("field_name")} <input name="name" autocomplete="username" required minlength="3" maxlength="32"${signup ? ` pattern="[A-Za-z0-9_.\-]{3,32}" aria-describedby="name-hint" title="${h("field_name_hint")}"` : ""}></label>
      ${signup ? `<p id="name-hint" class="muted hint">${h("field_name_hint")}</p>
      <label>${h("field_display_name")} <input name="display_name" autocomplete="nickname" maxlength="20" aria-describedby="display-hint"></label>
      <p id="display-hint" class="muted hint">${h("display_name_hint")}</p>` : ""}
      <label>${h("field_password")} <input name="password" type="password" autocomplete="${signup ? "new-password" : "current-password"}" required minlength="${signup ? 8 : 1}" maxlength="128"></label>
      <button type="submit">${h(signup ? "nav_sign_up" : "nav_sign_in")}</button>
      <p class="muted">${h(signup ? "have_account" : "new_here")}</p>
    </form>`;
  document.getElementById("account").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const name = form.get("name");
    const password = form.get("password");
    const displayName = (form.get("display_name") || "").trim();
    try {
      if (signup) await api("POST", "/api/v1/users", { body: { name, password, ...(displayName ? { display_name: displayName } : {}) } });
      await signIn(name, password);
      location.assign(safeNext(new URLSearchParams(location.search).get("next")));
    } catch (error) { showError(error, event.target); }
  };
}

// ---------------------------------------------------------------- fans: concerts and the sale

// Each concert with where its sale stands (API: sale_state) and, before an opening, a countdown to
// it (sale_opens_at, on the server's clock: the offset from the answer's Date header). The list is
// read again when a countdown reaches zero, so "오픈 예정" turns into "예매 중" by itself.
async function concertsPage() {
  document.title = t("concerts_title");
  const response = await fetch("/api/v1/concerts", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const concerts = await response.json();
  const serverNow = Date.parse(response.headers.get("Date") || "");
  const skew = Number.isFinite(serverNow) ? serverNow - Date.now() : 0; // whole seconds: good enough
  // A paused sale still takes fans into the queue (their place is kept until it resumes).
  const buyable = (c) => ["ON_SALE", "UPCOMING", "PAUSED"].includes(c.sale_state);
  app.innerHTML = `<h1>${h("concerts_title")}</h1><div class="grid">${concerts.map((c) => `
      <div class="card concert" data-concert="${c.id}" data-sale="${esc(c.sale_state || "")}"><h2>${esc(c.title)}</h2>
      ${c.venue ? `<p class="muted">${esc(c.venue)}</p>` : ""}
      ${c.sale_state ? `<p><span class="sale-badge ${esc(c.sale_state)}">${h(`sale_${c.sale_state}`)}</span></p>` : ""}
      ${c.sale_opens_at ? `<p class="opens">${h("sale_opens_at", { at: when(c.sale_opens_at) })}<br>
        <span class="opens-in" role="timer" data-at="${esc(c.sale_opens_at)}"></span></p>` : ""}
      <a class="button${buyable(c) ? "" : " secondary"}" href="/concerts/${c.id}">${h(buyable(c) ? "get_tickets" : "see_concert")}</a></div>`).join("") || `<p class="muted">${h("no_concerts")}</p>`}</div>`;
  const countdowns = [...app.querySelectorAll(".opens-in")];
  if (!countdowns.length) return;
  let reloaded = false;
  const tick = () => {
    for (const el of countdowns) {
      const left = Math.max(0, Math.floor((Date.parse(el.dataset.at) - (Date.now() + skew)) / 1000));
      const clockText = [Math.floor(left / 3600) % 24, Math.floor(left / 60) % 60, left % 60].map((n) => String(n).padStart(2, "0")).join(":");
      const days = Math.floor(left / 86400);
      el.textContent = t("sale_opens_in", { left: days ? t("days_clock", { d: days, clock: clockText }) : clockText });
      if (left === 0 && !reloaded && location.pathname === "/") { reloaded = true; setTimeout(concertsPage, 1000); }
    }
  };
  tick();
  const timer = every(1000, () => (countdowns[0].isConnected ? tick() : clearInterval(timer)));
}

async function salePage(concertId) {
  if (!requireSignIn()) return;
  const concert = await api("GET", `/api/v1/concerts/${concertId}`);
  document.title = concert.title;
  sale.title = concert.title;
  // The pause note is a live region kept across the step's redraws (a region created with its
  // text is not read out): a pause or a resume is announced once, where the fan is.
  app.innerHTML = `<h1>${esc(concert.title)}</h1><p id="sale-paused" class="sale-paused" role="status"></p>
    <div id="step" class="card"></div><div id="wallet" class="muted"></div>`;
  refreshBalance();
  const token = session.queueToken(concertId);
  if (token) return waitInQueue(concertId, token, null);
  const step = document.getElementById("step");
  step.innerHTML = `<p>${h("queue_intro")}</p><button id="join">${h("join")}</button>`;
  document.getElementById("join").onclick = async () => {
    try {
      const issued = await api("POST", `/api/v1/concerts/${concertId}/queue/tokens`);
      session.setQueueToken(concertId, issued.token);
      waitInQueue(concertId, issued.token, issued.pre_queue ? null : issued.position);
    } catch (error) { showError(error, step); }
  };
}

async function refreshBalance() {
  const box = document.getElementById("wallet");
  if (!box || !session.user) return;
  try {
    const wallet = await api("GET", `/api/v1/wallets/${session.user.wallet_id}`);
    box.innerHTML = h("wallet_line", { balance: raw(`<b id="balance">${esc(won(wallet.balance))}</b>`) });
  } catch (error) { /* the balance is a convenience here */ }
}

function waitInQueue(concertId, token, firstPosition) {
  const step = document.getElementById("step");
  let start = firstPosition;
  let shown = null; // what the step shows: the heading is focused when that changes, not on each poll
  const show = (kind, html) => {
    step.innerHTML = html;
    if (shown !== kind) focusStep(step);
    shown = kind;
  };
  let done = false;
  let paused = false;
  const pausedNote = document.getElementById("sale-paused");
  // One answer of token info, polled or pushed: drawn, and the next poll's delay (null: done).
  const apply = (info) => {
    if (done) return null;
    if (info.status !== "WAITING") pausedNote.textContent = "";
    else if (Boolean(info.paused) !== paused) {
      // Said on a change only: "resumed" after a pause, nothing when the page opens unpaused.
      paused = Boolean(info.paused);
      pausedNote.textContent = t(paused ? "queue_paused" : "queue_resumed");
      pausedNote.classList.toggle("resumed", !paused);
    }
    if (info.status === "ACTIVE") { done = true; loop.stop(); chooseDate(concertId, token); return null; }
    if (info.status === "SOLD_OUT") {
      done = true;
      loop.stop();
      show("sold_out", `<h2>${h("sold_out_title")}</h2><p>${h("sold_out_text")}</p>`);
      return null;
    }
    if (info.status !== "WAITING") {
      done = true;
      loop.stop();
      session.setQueueToken(concertId, null);
      show("invalid", `<p>${esc(errorText("TOKEN_INVALID"))}</p><button id="rejoin">${h("rejoin")}</button>`);
      document.getElementById("rejoin").addEventListener("click", () => location.reload());
      return null;
    }
    if (info.pre_queue) {
      // Before the opening nobody has a place yet: the draw gives one to each at the opening.
      start = null;
      show("pre_queue", `<h2>${h("waiting_title")}</h2>
        <p>${h("pre_queue_opens", { opens: raw(`<b id="opens">${esc(when(info.sale_opens_at))}</b>`) })}</p>
        <p class="muted">${h("pre_queue_count", { count: raw(`<span id="pre-queue">${esc(count(info.position))}</span>`) })}</p>`);
      return info.poll_after_ms || 2000;
    }
    start = Math.max(start || info.position, info.position);
    const progress = start > 1 ? Math.round(((start - info.position) / (start - 1)) * 100) : 100;
    show("waiting", `<h2>${h("waiting_title")}</h2>
      <p>${h("your_position", { position: raw(`<span class="big" id="position">${esc(count(info.position))}</span>`) })}</p>
      <p id="ahead">${h("queue_ahead", { ahead: count(Math.max(0, info.position - 1)) })}</p>
      <p class="muted">${h("eta", { eta: raw(`<span id="eta">${esc(formatSeconds(info.eta_seconds))}</span>`) })}</p>
      <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${progress}" aria-label="${h("progress")}"><div></div></div>
      <p class="muted">${h("updated_at", { at: raw(`<span id="updated-at">${esc(clock(new Date()))}</span>`) })}</p>`);
    // Set through the DOM: the Content-Security-Policy refuses inline style attributes.
    step.querySelector(".progress > div").style.width = `${progress}%`;
    // The service says when to ask again (short near the front, longer far back), so that a
    // million waiting fans make a bounded number of requests.
    return info.poll_after_ms || 2000;
  };
  // Pushed as it changes (and "alive" while nothing does: the page says when it last heard);
  // polled at the service's pace whenever the push channel is not open.
  const channel = pushChannel({ concert_id: concertId }, token, {
    queue: apply,
    alive: () => { const at = document.getElementById("updated-at"); if (at) at.textContent = clock(new Date()); },
  }, () => loop.now());
  const loop = pushed(live(async () => {
    const next = apply(await api("GET", "/api/v1/queue/tokens/me", { queueToken: token }));
    return next !== null && channel.open ? PUSHED_POLL_MS : next;
  }, {
    onFatal: (error) => {
      if (error.code === "TOKEN_INVALID") session.setQueueToken(concertId, null);
      showError(error, step);
    },
  }), channel);
}

// A seat button's content: the short label shown (its number) inside the words read out ("3번 좌석,
// 선택 불가"), the rest visually hidden, so that the name read out contains what is shown.
// `key` and `params` give the words; `param` names the one shown.
function spoken(key, params, param) {
  const [before, after = ""] = t(key, { ...params, [param]: "\u0001" }).split("\u0001");
  const hidden = (text) => (text ? `<span class="sr-only">${esc(text)}</span>` : "");
  return `${hidden(before)}${esc(String(params[param]))}${hidden(after)}`;
}

// Black or white, whichever reads better on a background colour (#rgb or #rrggbb; WCAG luminance).
function inkOn(colour) {
  let hex = String(colour).replace("#", "");
  if (hex.length === 3) hex = hex.replace(/./g, "$&$&");
  if (!/^[0-9a-f]{6}$/i.test(hex)) return "#fff";
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) ? "#fff" : "#1d1d1f";
}

// After a step of the sale the page moves focus to the new step's heading (not the top of the page),
// so a keyboard or screen-reader user stays where they are and hears what changed.
function focusStep(box) {
  const heading = box.querySelector("h2, h1");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "nearest" });
}
// "00:32:35" in either language (Korean sites write a time of day this way too), Seoul time.
const clock = (date) => date.toLocaleTimeString("en-GB", { timeZone: VENUE_TIME_ZONE, hourCycle: "h23" });

async function chooseDate(concertId, token) {
  const step = document.getElementById("step");
  try {
    if (await resumeHold(concertId, token)) return;
    const dates = await api("GET", `/api/v1/concerts/${concertId}/schedules`, { queueToken: token });
    for (const d of dates) sale.startsAt.set(d.id, d.starts_at);
    if (!dates.length) { step.innerHTML = `<h2>${h("no_seats_title")}</h2><p>${h("no_seats_text")}</p>`; return; }
    step.innerHTML = `<h2>${h("choose_date")}</h2><div class="dates">${dates.map((d) =>
      `<button class="secondary" data-schedule="${d.id}" data-venue="${d.venue_id ?? ""}">${h("date_button", { date: when(d.starts_at), count: count(d.available_seats) })}</button>`).join("")}</div>
      <div id="seatmap"></div>`;
    focusStep(step);
    step.querySelectorAll("[data-schedule]").forEach((b) => {
      b.onclick = () => {
        step.querySelectorAll("[data-schedule]").forEach((x) => x.classList.toggle("selected", x === b));
        // A date on a venue is chosen zone by zone (or best available); a plain date on its grid.
        (b.dataset.venue ? venueMap : seatMap)(concertId, token, Number(b.dataset.schedule));
      };
    });
  } catch (error) { showError(error, step); }
}

// The hold this tab made before a reload, if any of it is still held: shown again with its countdown.
async function resumeHold(concertId, token) {
  const ids = session.heldIds(concertId);
  if (!ids.length) return false;
  const read = await Promise.all(ids.map((id) => api("GET", `/api/v1/reservations/${id}`).catch(() => null)));
  const held = read.filter((r) => r && r.status === "HELD");
  if (!held.length) { session.setHeldIds(concertId, []); return false; }
  showHold(concertId, token, held);
  return true;
}

// A seat map is one Tab stop (ARIA grid, roving tabindex): Tab enters at the seat last visited,
// the arrow keys move seat by seat (up and down by what is drawn above and below, so the phone's
// 5 columns and the desktop's 10, or a plan's rows, move as they look), Home and End go to the
// row's ends, Enter or Space picks. Taken seats stay reachable (aria-disabled) so they are heard.
// The grid may be redrawn under the fan: `sync()` puts the Tab stop (and the focus, if the grid
// had it) back on the seat they were on. Returns { sync() }.
function rovingGrid(container) {
  let activeId = null;
  const cells = () => [...container.querySelectorAll("[data-seat]")];
  const activate = (cell, focus) => {
    activeId = cell.dataset.seat;
    for (const other of cells()) other.tabIndex = other === cell ? 0 : -1;
    if (focus) cell.focus();
  };
  const lineOf = (cell) => cell.getBoundingClientRect();
  const vertical = (all, from, down) => {
    const here = lineOf(from);
    const centre = here.left + here.width / 2;
    const beyond = all.map((c) => [c, lineOf(c)]).filter(([, r]) => (down ? r.top > here.top + here.height / 2 : r.top < here.top - here.height / 2));
    if (!beyond.length) return null;
    const nearestTop = down ? Math.min(...beyond.map(([, r]) => r.top)) : Math.max(...beyond.map(([, r]) => r.top));
    const line = beyond.filter(([, r]) => Math.abs(r.top - nearestTop) < r.height / 2);
    line.sort(([, a], [, b]) => Math.abs(a.left + a.width / 2 - centre) - Math.abs(b.left + b.width / 2 - centre));
    return line[0][0];
  };
  container.addEventListener("focusin", (event) => {
    const cell = event.target.closest("[data-seat]");
    if (cell && cell.dataset.seat !== activeId) activate(cell, false);
  });
  container.addEventListener("keydown", (event) => {
    const from = event.target.closest("[data-seat]");
    if (!from || event.altKey || event.ctrlKey || event.metaKey) return;
    const all = cells();
    const index = all.indexOf(from);
    const row = (from.closest('[role="row"]') || container).querySelectorAll("[data-seat]");
    const target = {
      ArrowLeft: () => all[index - 1],
      ArrowRight: () => all[index + 1],
      ArrowUp: () => vertical(all, from, false),
      ArrowDown: () => vertical(all, from, true),
      Home: () => row[0],
      End: () => row[row.length - 1],
    }[event.key];
    if (!target) return;
    event.preventDefault();
    const cell = target();
    if (cell) activate(cell, true);
  });
  return {
    sync() {
      const all = cells();
      if (!all.length) return;
      const hadFocus = container.contains(document.activeElement);
      const cell = all.find((c) => c.dataset.seat === activeId) || all.find((c) => !c.classList.contains("taken")) || all[0];
      for (const other of all) other.tabIndex = other === cell ? 0 : -1;
      activeId = cell.dataset.seat;
      if (hadFocus && document.activeElement !== cell && !all.includes(document.activeElement)) cell.focus({ preventScroll: true });
    },
    focus() { const cell = cells().find((c) => c.tabIndex === 0); if (cell) cell.focus(); },
  };
}

let seatLoop = null; // the live seat list or zone map of the date shown
let seatMapShown = 0; // which date choice is the latest: a slower earlier one starts no loop
const stopSeatLoop = () => { if (seatLoop) seatLoop.stop(); seatLoop = null; return ++seatMapShown; };
// Several seats of one date, picked one by one (up to MAX_SEATS_PER_HOLD, and no more than the fan's
// allowance of the date: the per-fan ticket limit less the seats they hold or bought) and held in
// one request: all or nothing. The grid is built once and repainted from the live seat list, so a fan's picks
// survive the refreshes; a picked seat that someone else took is greyed until the hold attempt
// says exactly which seats were lost.
async function seatMap(concertId, token, scheduleId) {
  const box = document.getElementById("seatmap");
  const shown = stopSeatLoop();
  const picked = new Map(); // seat id -> seat
  const refusedAt = new Map(); // seat id -> when the service said it was taken
  let seatsById = new Map();
  let allowance = null; // GET /schedules/{id}/allowance: how many more seats of this date the fan may take
  box.innerHTML = `<h2>${h("choose_seats", { max: MAX_SEATS_PER_HOLD })}</h2><p id="allowance" class="muted"></p><div class="stage">${h("stage")}</div>
    <div class="seats" role="grid" aria-label="${h("seat_grid")}" aria-describedby="seat-help"></div>
    <p class="muted" id="seat-legend"></p><p class="muted sr-only" id="seat-help">${h("seat_grid_help")}</p>
    <div class="selection"><span id="selection"></span><button id="hold" type="button" disabled></button></div>`;
  const grid = box.querySelector(".seats");
  const roving = rovingGrid(grid);
  const holdButton = document.getElementById("hold");
  const isTaken = (seat) => !seat.available || Date.now() - (refusedAt.get(seat.id) ?? -Infinity) < REFUSED_SEAT_MS;
  const pickedSeats = () => [...picked.values()].sort((a, b) => a.number - b.number);
  const mayPick = () => Math.min(MAX_SEATS_PER_HOLD, allowance ? allowance.remaining : MAX_SEATS_PER_HOLD);
  const readAllowance = async () => {
    try {
      allowance = await api("GET", `/api/v1/schedules/${scheduleId}/allowance`);
    } catch (error) {
      allowance = null; // the hold itself still decides; the page just cannot say it beforehand
      return;
    }
    const line = document.getElementById("allowance");
    line.textContent = allowance.remaining > 0
      ? t("allowance", { max: allowance.max_tickets, remaining: allowance.remaining })
      : t("allowance_none", { max: allowance.max_tickets });
    line.dataset.remaining = String(allowance.remaining);
    // Picks beyond what may still be taken are dropped, the latest first.
    for (const seat of pickedSeats().reverse()) if (picked.size > mayPick()) picked.delete(seat.id);
  };
  const paint = () => {
    for (const button of grid.querySelectorAll("[data-seat]")) {
      const seat = seatsById.get(Number(button.dataset.seat));
      if (!seat) continue;
      const taken = isTaken(seat);
      button.classList.toggle("taken", taken);
      button.classList.toggle("picked", picked.has(seat.id));
      button.setAttribute("aria-pressed", String(picked.has(seat.id)));
      // The state in words, not colour alone ("3번 좌석, 선택 불가"): around the visible number, so
      // that what is read out contains what is shown (voice control users say "3").
      const words = `${t("seat", { number: seat.number })}, ${taken ? t("taken") : t("free")}`;
      if (button.dataset.words !== words) {
        button.innerHTML = spoken("seat_state", { number: seat.number, price: won(seat.price), state: taken ? t("taken") : t("free") }, "number");
        button.dataset.words = words;
      }
      if (taken) button.setAttribute("aria-disabled", "true"); else button.removeAttribute("aria-disabled");
    }
    const seats = pickedSeats();
    const total = seats.reduce((sum, seat) => sum + seat.price, 0);
    document.getElementById("selection").textContent = seats.length
      ? t("selection", { seats: seatsText(seats.map((s) => s.number)), total: won(total) })
      : t("selection_none");
    holdButton.textContent = t("hold_seats", { count: seats.length });
    holdButton.disabled = !seats.length || seats.length > mayPick();
    grid.classList.toggle("full", allowance !== null && allowance.remaining === 0);
  };
  const draw = async () => {
    const seats = await api("GET", `/api/v1/schedules/${scheduleId}/seats`, { queueToken: token });
    seatsById = new Map(seats.map((s) => [s.id, s]));
    for (const [id, seat] of picked) picked.set(id, seatsById.get(id) || seat);
    if (!grid.children.length) {
      // Rows of ten for the grid's structure (role=row, display: contents): what is drawn is the
      // CSS grid's columns (five on a phone), which the up and down keys follow.
      const rows = [];
      for (let i = 0; i < seats.length; i += 10) rows.push(seats.slice(i, i + 10));
      grid.innerHTML = rows.map((row) => `<div role="row">${row.map((s) =>
        `<span role="gridcell"><button type="button" class="seat" tabindex="-1" data-seat="${s.id}" data-number="${s.number}" title="${h("seat_title", { number: s.number, price: won(s.price) })}">${s.number}</button></span>`).join("")}</div>`).join("");
      roving.sync();
      document.getElementById("seat-legend").textContent = t("seat_legend", { price: won(seats[0] ? seats[0].price : 0) });
    }
    paint();
  };
  grid.onclick = (event) => {
    const button = event.target.closest("[data-seat]");
    const seat = button && seatsById.get(Number(button.dataset.seat));
    if (!seat) return;
    if (picked.has(seat.id)) picked.delete(seat.id);
    else if (isTaken(seat)) return flash(t("seat_not_free"), "error", "SEAT_UNAVAILABLE", holdButton);
    else if (allowance && picked.size >= allowance.remaining && allowance.remaining < MAX_SEATS_PER_HOLD) {
      return flash(allowance.remaining > 0
        ? t("allowance_reached", { max: allowance.max_tickets, remaining: allowance.remaining })
        : t("allowance_none", { max: allowance.max_tickets }), "error", "TICKET_LIMIT_REACHED", holdButton);
    }
    else if (picked.size >= MAX_SEATS_PER_HOLD) return flash(t("max_seats", { max: MAX_SEATS_PER_HOLD }), "error", "error", holdButton);
    else picked.set(seat.id, seat);
    paint();
  };
  holdButton.onclick = async () => {
    holdButton.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/reservations", { body: { seat_ids: pickedSeats().map((s) => s.id) }, queueToken: token });
      stopSeatLoop();
      showHold(concertId, token, answer.items || [answer]);
    } catch (error) {
      if (error.code === "SEAT_UNAVAILABLE") {
        // Nothing was held: the answer names the seats that were taken; the others stay picked.
        const lost = error.body.unavailable_seat_ids || [...picked.keys()];
        const numbers = lost.map((id) => seatsById.get(id)?.number).filter((n) => n != null).sort((a, b) => a - b);
        for (const id of lost) { refusedAt.set(id, Date.now()); picked.delete(id); }
        flash(numbers.length ? t("seats_taken", { seats: seatsText(numbers) }) : error.message, "error", error.code, holdButton);
      } else if (error.code === "TICKET_LIMIT_REACHED" || error.code === "HOLD_LIMIT_REACHED") {
        showError(error, holdButton);
        await readAllowance(); // what is left now (another tab or device may have taken seats)
      } else {
        showError(error, holdButton);
      }
      paint();
      // The button is disabled while nothing is picked: the focus goes back to the seat last visited.
      if (holdButton.disabled) roving.focus();
    }
  };
  await readAllowance();
  if (shown !== seatMapShown) return; // another date was chosen meanwhile
  // Live availability: pushed as it changes, polled every 3 s when the push channel is not open.
  const channel = pushChannel({ concert_id: concertId, schedule_id: scheduleId }, token, { seats: () => seatLoop?.now() }, () => seatLoop?.now());
  seatLoop = pushed(live(async () => { await draw(); return channel.open ? PUSHED_POLL_MS : 3000; }, { onFatal: (error) => showError(error, box) }), channel);
}

// A date on a venue: the zones drawn where the plan puts them (SVG; each zone a button that says
// what is left), a legend of the classes with their prices and seats left, a "best available"
// picker, and one zone's seats at a time (by row, in their class's colour, each seat saying its
// row, label, class, price and state in words: never colour alone). The seat map and the zone
// are revalidated by ETag (the browser's cache sends If-None-Match: an unchanged answer is a
// bodiless 304).
async function venueMap(concertId, token, scheduleId) {
  const box = document.getElementById("seatmap");
  stopSeatLoop();
  let zoneId = null;
  let classes = [];
  const picked = new Map(); // seat id -> seat
  let seatsById = new Map();
  box.innerHTML = `<h2>${h("choose_zone")}</h2><div class="stage">${h("stage")}</div>
    <svg id="zone-map" class="zone-map" role="group" aria-label="${h("zone_map")}"></svg>
    <ul id="class-legend" class="legend" aria-label="${h("legend")}"></ul>
    <form id="best" class="best"><label>${h("best_class")} <select name="class"></select></label>
      <label>${h("best_quantity")} <input name="quantity" type="number" min="1" max="${MAX_SEATS_PER_HOLD}" value="2" required></label>
      <button type="submit">${h("best_button")}</button></form>
    <div id="zone-seats"></div>
    <div class="selection"><span id="selection"></span><button id="hold" type="button" disabled></button></div>`;
  const svg = document.getElementById("zone-map");
  const legend = document.getElementById("class-legend");
  const best = document.getElementById("best");
  const zoneBox = document.getElementById("zone-seats");
  const holdButton = document.getElementById("hold");
  const zoneRoving = rovingGrid(zoneBox);
  const colourOf = (name) => classes.find((c) => c.name === name)?.color || "#2fa84f";
  const seatName = (s) => t("venue_seat", { row: s.row, label: s.label });
  const paintSelection = () => {
    const seats = [...picked.values()];
    const total = seats.reduce((sum, seat) => sum + seat.price, 0);
    document.getElementById("selection").textContent = seats.length
      ? t("venue_selection", { seats: seats.map(seatName).join(", "), total: won(total) })
      : t("selection_none");
    holdButton.textContent = t("hold_seats", { count: seats.length });
    holdButton.disabled = !seats.length;
    for (const button of zoneBox.querySelectorAll("[data-seat]")) {
      button.setAttribute("aria-pressed", String(picked.has(Number(button.dataset.seat))));
      button.classList.toggle("picked", picked.has(Number(button.dataset.seat)));
    }
  };
  let zoneNames = new Map();
  const drawZones = (map) => {
    classes = map.classes;
    zoneNames = new Map(map.zones.map((z) => [z.id, z.name]));
    const xs = [...new Set(map.zones.map((z) => z.x))].sort((a, b) => a - b);
    const ys = [...new Set(map.zones.map((z) => z.y))].sort((a, b) => a - b);
    const step = (values) => Math.min(...values.slice(1).map((v, i) => v - values[i]), Infinity);
    const w = Number.isFinite(step(xs)) ? step(xs) * 0.92 : 200;
    const hgt = Number.isFinite(step(ys)) ? step(ys) * 0.9 : 120;
    const left = Math.min(...xs);
    const top = Math.min(...ys);
    const focusedZone = svg.contains(document.activeElement) ? document.activeElement.closest("[data-zone]")?.dataset.zone : null;
    svg.setAttribute("viewBox", `${left} ${top} ${Math.max(...xs) - left + w} ${Math.max(...ys) - top + hgt}`);
    svg.innerHTML = map.zones.map((z) => {
      const share = z.seat_count ? z.available / z.seat_count : 0;
      const fill = share === 0 ? "#6e6e73" : share < 0.2 ? "#a35400" : "#1e7b38"; // white text >= 4.5:1 on each
      const label = t("zone_label", { zone: z.name, left: count(z.available), seats: count(z.seat_count) });
      // The seats left are drawn beside the button, not in it: its name (which says them) must
      // contain the text it shows (WCAG 2.5.3), and "24" alone is not in "24석 중 24석 남음".
      return `<g class="zone${z.id === zoneId ? " selected" : ""}" role="button" tabindex="0" data-zone="${z.id}" aria-label="${esc(label)}">
        <rect x="${z.x}" y="${z.y}" width="${w}" height="${hgt}" rx="8" fill="${fill}"></rect>
        <text x="${z.x + w / 2}" y="${z.y + hgt / 2}" text-anchor="middle" font-size="${hgt / 5}">${esc(z.name)}</text></g>
        <text class="zone-count" aria-hidden="true" x="${z.x + w / 2}" y="${z.y + hgt / 2 + hgt / 4}" text-anchor="middle" font-size="${hgt / 6}">${esc(count(z.available))}</text>`;
    }).join("");
    // Redrawn every few seconds: the zone that had the focus keeps it.
    if (focusedZone) svg.querySelector(`[data-zone="${focusedZone}"]`)?.focus({ preventScroll: true });
    legend.innerHTML = classes.map((c) =>
      `<li><span class="swatch" data-color="${esc(c.color)}"></span>${h("class_line", { name: c.name, price: won(c.price), left: count(c.available) })}</li>`).join("");
    legend.querySelectorAll("[data-color]").forEach((el) => el.style.setProperty("background", el.dataset.color));
    const select = best.elements.class;
    const chosen = select.value;
    select.innerHTML = classes.filter((c) => c.available > 0).map((c) =>
      `<option value="${esc(c.name)}">${h("class_option", { name: c.name, price: won(c.price) })}</option>`).join("");
    if (chosen) select.value = chosen;
  };
  const drawZone = async () => {
    if (zoneId == null) return;
    const zone = await api("GET", `/api/v1/schedules/${scheduleId}/zones/${zoneId}/seats`, { queueToken: token });
    seatsById = new Map(zone.seats.map((s) => [s.id, s]));
    const focusedSeat = zoneBox.contains(document.activeElement) ? document.activeElement.dataset.seat : null;
    const rows = new Map();
    for (const seat of zone.seats) rows.set(seat.row, [...(rows.get(seat.row) || []), seat]);
    zoneBox.innerHTML = `<div role="grid" class="zone-grid" aria-label="${h("zone_seats", { zone: zoneNames.get(zoneId) || "" })}" aria-describedby="seat-help">${[...rows].map(([row, seats]) => `<div class="seat-row" role="row"><span class="row-label" role="rowheader">${h("row", { row })}</span>${seats.map((s) => {
      const state = s.available ? t("free") : t("taken");
      const label = t("seat_label", { row: s.row, label: s.label, class: s["class"], price: won(s.price), state });
      return `<span role="gridcell"><button type="button" tabindex="-1" class="seat${s.available ? "" : " taken"}" data-seat="${s.id}" data-class="${esc(s["class"])}" title="${esc(label)}">${spoken("seat_label", { row: s.row, label: s.label, class: s["class"], price: won(s.price), state }, "label")}</button></span>`;
    }).join("")}</div>`).join("")}</div><p class="muted sr-only" id="seat-help">${h("seat_grid_help")}</p>`;
    zoneBox.querySelectorAll("[data-class]").forEach((b) => {
      if (b.classList.contains("taken")) { b.setAttribute("aria-disabled", "true"); return; }
      const colour = colourOf(b.dataset.class);
      b.style.setProperty("background", colour);
      b.style.setProperty("color", inkOn(colour)); // a plan's colour may be light or dark
    });
    if (focusedSeat) zoneBox.querySelector(`[data-seat="${focusedSeat}"]`)?.focus({ preventScroll: true });
    zoneRoving.sync();
    paintSelection();
  };
  const draw = async () => {
    drawZones(await api("GET", `/api/v1/schedules/${scheduleId}/seat-map`, { queueToken: token }));
    await drawZone();
  };
  const openZone = (g) => { zoneId = Number(g.dataset.zone); seatLoop?.now(); };
  svg.onclick = (event) => { const g = event.target.closest("[data-zone]"); if (g) openZone(g); };
  svg.onkeydown = (event) => {
    const g = event.target.closest("[data-zone]");
    if (g && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); openZone(g); }
  };
  zoneBox.onclick = (event) => {
    const button = event.target.closest("[data-seat]");
    const seat = button && seatsById.get(Number(button.dataset.seat));
    if (!seat) return;
    if (picked.has(seat.id)) picked.delete(seat.id);
    else if (!seat.available) return flash(t("seat_not_free"), "error", "SEAT_UNAVAILABLE", holdButton);
    else if (picked.size >= MAX_SEATS_PER_HOLD) return flash(t("max_seats", { max: MAX_SEATS_PER_HOLD }), "error", "error", holdButton);
    else picked.set(seat.id, seat);
    paintSelection();
  };
  const hold = async (body) => {
    try {
      const answer = await api("POST", "/api/v1/reservations", { body, queueToken: token });
      stopSeatLoop();
      showHold(concertId, token, answer.items || [answer]);
    } catch (error) {
      if (error.code === "SEAT_UNAVAILABLE") for (const id of error.body.unavailable_seat_ids || []) picked.delete(id);
      showError(error, holdButton);
      seatLoop?.now();
    }
  };
  holdButton.onclick = () => { holdButton.disabled = true; hold({ seat_ids: [...picked.keys()] }); };
  best.onsubmit = (event) => {
    event.preventDefault();
    hold({ schedule_id: scheduleId, class: best.elements.class.value, quantity: Number(best.elements.quantity.value) });
  };
  const channel = pushChannel({ concert_id: concertId, schedule_id: scheduleId }, token, { seats: () => seatLoop?.now() }, () => seatLoop?.now());
  seatLoop = pushed(live(async () => { await draw(); return channel.open ? PUSHED_POLL_MS : 3000; }, { onFatal: (error) => showError(error, box) }), channel);
}

// The refund terms in words, before paying: until when (the date's start less the cut-off), and
// how many refunds of one date a fan may make.
function refundTerms(startsAt) {
  const times = MAX_REFUNDS_PER_DATE > 0 ? t("refund_times", { max: MAX_REFUNDS_PER_DATE }) : "";
  if (MAX_REFUNDS_PER_DATE === 0) return h("refund_terms_none");
  return startsAt
    ? h("refund_terms", { deadline: when(refundDeadline(startsAt)), hours: REFUND_CUTOFF_HOURS, times })
    : h("refund_terms_plain", { hours: REFUND_CUTOFF_HOURS, times });
}

function showHold(concertId, token, reservations) {
  const step = document.getElementById("step");
  const ids = reservations.map((r) => r.id);
  session.setHeldIds(concertId, ids);
  const numbers = reservations.map((r) => r.seat_number).sort((a, b) => a - b);
  const total = reservations.reduce((sum, r) => sum + r.price, 0);
  const key = `pay-${ids.join("-")}-${nonce()}`;
  const startsAt = sale.startsAt.get(reservations[0].schedule_id) || null;
  const what = [sale.title, startsAt && when(startsAt)].filter(Boolean).join(" · ");
  step.innerHTML = `${what ? `<p class="muted" id="hold-what">${esc(what)}</p>` : ""}<h2 id="hold-title">${h("held_title", { seats: seatsText(numbers) })}</h2>
    <p>${h("pay_before", { countdown: raw('<span class="countdown" id="countdown" role="timer">--:--</span>') })}</p>
    <p id="hold-warning" class="hold-warning" aria-live="assertive"></p>
    <p>${h("total_line", { total: raw(`<b>${esc(won(total))}</b>`) })}</p>
    <p id="refund-terms" class="refund-terms">${refundTerms(startsAt)}</p>
    <button id="pay">${h("pay", { total: won(total) })}</button> <button id="release" class="secondary">${h("release")}</button>`;
  // Seats held together run out together; the earliest deadline is the one to beat.
  const deadline = Math.min(...reservations.map((r) => new Date(r.held_until).getTime()));
  // Warned twice before the hold ends (2 minutes, 30 seconds), each once: the countdown itself is
  // not read out every second.
  const warnings = [[30, "hold_warning_30s"], [120, "hold_warning_2min"]];
  let warned = null;
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const el = document.getElementById("countdown");
    if (el) el.textContent = `${String(Math.floor(left / 60)).padStart(2, "0")}:${String(left % 60).padStart(2, "0")}`;
    const due = warnings.find(([seconds]) => left > 0 && left <= seconds);
    const box = document.getElementById("hold-warning");
    if (due && box && warned !== due[1]) {
      warned = due[1];
      box.textContent = t(due[1]);
      box.dataset.warning = String(due[0]);
    }
    if (left === 0) {
      clearInterval(timer);
      session.setHeldIds(concertId, []);
      step.innerHTML = `<h2 id="hold-title">${h("hold_expired_title")}</h2><p>${esc(errorText("RESERVATION_EXPIRED"))}</p><button id="again">${h("choose_again")}</button>`;
      document.getElementById("again").onclick = () => chooseDate(concertId, token);
      focusStep(step);
    }
  };
  const timer = every(250, tick);
  tick();
  focusStep(step);
  document.getElementById("pay").onclick = async (event) => {
    event.target.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/payments", { body: { reservation_ids: ids }, queueToken: token, idempotencyKey: key });
      const payments = answer.items || [answer];
      clearInterval(timer);
      session.setHeldIds(concertId, []);
      session.setQueueToken(concertId, null);
      const amount = payments.reduce((sum, p) => sum + p.amount, 0);
      step.innerHTML = `<h2>${h("paid_title")}</h2>
        ${what ? `<p id="paid-what"><b>${esc(what)}</b></p>` : ""}
        <p id="confirmation">${h("paid_text", { seats: seatsText(numbers), amount: won(amount), paid_at: when(payments[0].paid_at) })}</p>
        <a class="button" href="/tickets">${h("see_tickets")}</a>`;
      focusStep(step);
      refreshBalance();
    } catch (error) {
      event.target.disabled = false;
      showError(error, event.target);
      if (error.code === "RESERVATION_EXPIRED" || error.code === "RESERVATION_NOT_HELD") {
        clearInterval(timer);
        session.setHeldIds(concertId, []);
        chooseDate(concertId, token);
      }
    }
  };
  document.getElementById("release").onclick = async () => {
    const outcomes = await Promise.allSettled(ids.map((id) => api("DELETE", `/api/v1/reservations/${id}`)));
    // A seat whose hold already ran out or was released is free either way.
    const failure = outcomes.find((o) => o.status === "rejected" && o.reason.code !== "RESERVATION_NOT_HELD");
    if (failure) return showError(failure.reason);
    clearInterval(timer);
    session.setHeldIds(concertId, []);
    flash(t("released"), "ok");
    chooseDate(concertId, token);
  };
}

// ---------------------------------------------------------------- fans: wallet

async function walletPage() {
  if (!requireSignIn()) return;
  document.title = t("wallet_title");
  const user = session.user;
  const [wallet, ledger, payments, reservations, tickets] = await Promise.all([
    api("GET", `/api/v1/wallets/${user.wallet_id}`),
    api("GET", `/api/v1/wallets/${user.wallet_id}/ledger?limit=20`),
    api("GET", "/api/v1/payments?limit=200"),
    api("GET", "/api/v1/reservations?limit=50"),
    api("GET", "/api/v1/tickets?limit=200"),
  ]);
  const bookings = bookingsOf(payments.items, tickets.items);
  const status = (s) => (s ? h(`status_${s}`) : "");
  app.innerHTML = `<h1>${h("wallet_title")}</h1>
    <div class="card"><p>${h("balance")}</p><p class="big" id="balance">${esc(won(wallet.balance))}</p>
      <form id="charge"><label>${h("charge_amount")} <input name="amount" type="number" min="1" max="1000000" step="1" required></label>
      <button type="submit">${h("charge")}</button></form></div>
    <div class="card"><h2>${h("my_reservations")}</h2>${reservations.items.length ? `<table><tr><th>${h("col_number")}</th><th>${h("col_seat")}</th><th>${h("col_status")}</th><th class="num">${h("col_price")}</th><th>${h("col_held_until")}</th></tr>${reservations.items.map((r) =>
      `<tr><td>${r.id}</td><td>${esc(r.seat_number)}</td><td>${status(r.status)}</td><td class="num">${esc(won(r.price))}</td><td>${r.status === "HELD" ? esc(when(r.held_until)) : ""}</td></tr>`).join("")}</table>` : `<p class="muted">${h("no_reservations")}</p>`}</div>
    <div class="card"><h2>${h("my_bookings")}</h2>${bookings.length ? `<div class="table-scroll" tabindex="0" role="region" aria-label="${h("my_bookings")}"><table id="bookings"><tr><th>${h("col_concert")}</th><th>${h("col_date")}</th><th>${h("col_seat")}</th><th class="num">${h("col_amount")}</th><th>${h("col_status")}</th><th>${h("col_refund_until")}</th></tr>${bookings.map((b) =>
      `<tr data-booking="${esc(b.key)}"><td>${esc(b.title)}</td><td>${esc(when(b.startsAt))}</td><td>${esc(b.seats)}</td><td class="num">${esc(won(b.amount))}</td><td>${b.statuses.map(status).join(", ")}</td><td>${b.refundable ? esc(when(refundDeadline(b.startsAt))) : h("refund_closed")}</td></tr>`).join("")}</table></div>` : `<p class="muted">${h("no_payments")}</p>`}</div>
    <div class="card"><h2>${h("my_info")}</h2><form id="display-name">
      <label>${h("field_display_name")} <input name="display_name" autocomplete="nickname" maxlength="20" value="${esc(user.display_name || "")}" aria-describedby="display-hint"></label>
      <p id="display-hint" class="muted hint">${h("display_name_hint")}</p>
      <button type="submit">${h("save")}</button></form></div>
    <div class="card"><h2>${h("wallet_history")}</h2><table><tr><th>${h("col_what")}</th><th class="num">${h("col_amount")}</th><th class="num">${h("col_balance_after")}</th><th>${h("col_when")}</th></tr>${ledger.items.map((e) =>
      `<tr><td>${h(`kind_${e.kind}`)}</td><td class="num">${e.kind === "PAYMENT" ? "−" : "+"}${esc(won(e.amount))}</td><td class="num">${esc(won(e.balance_after))}</td><td>${esc(when(e.created_at))}</td></tr>`).join("")}</table></div>`;
  document.getElementById("display-name").onsubmit = async (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get("display_name").trim();
    try {
      const me = await api("PUT", "/api/v1/users/me/display-name", { body: { display_name: value || null } });
      session.save(session.token, { ...session.user, display_name: me.display_name });
      renderNav();
      flash(t("display_name_saved"), "ok", "ok", event.target);
    } catch (error) { showError(error, event.target); }
  };
  document.getElementById("charge").onsubmit = async (event) => {
    event.preventDefault();
    const amount = Number(new FormData(event.target).get("amount"));
    try {
      await api("POST", `/api/v1/wallets/${user.wallet_id}/charges`, { body: { amount }, idempotencyKey: `charge-${nonce()}` });
      flash(t("charged", { amount: won(amount) }), "ok");
      walletPage();
    } catch (error) { showError(error, event.target); }
  };
}

// The fan's bookings: the payments made together (one date, one moment) with their tickets, each
// naming the concert, date, seats, amount, status and the last moment to refund.
function bookingsOf(payments, tickets) {
  const ticketOf = new Map(tickets.map((ticket) => [ticket.payment_id, ticket]));
  const groups = new Map();
  for (const payment of payments) {
    const ticket = ticketOf.get(payment.id);
    if (!ticket) continue; // beyond the tickets read here (the oldest): the ledger still shows it
    const key = `${ticket.schedule.id}@${payment.paid_at}`;
    const group = groups.get(key) || { key, title: ticket.concert.title, startsAt: ticket.schedule.starts_at, numbers: [], amount: 0, statuses: [] };
    group.numbers.push(ticket.seat.number);
    group.amount += payment.amount;
    if (!group.statuses.includes(ticket.status)) group.statuses.push(ticket.status);
    groups.set(key, group);
  }
  const now = Date.now();
  return [...groups.values()].map((g) => ({
    ...g,
    seats: seatsText(g.numbers.sort((a, b) => a - b)),
    refundable: g.statuses.includes("VALID") && MAX_REFUNDS_PER_DATE > 0 && new Date(refundDeadline(g.startsAt)).getTime() > now,
  }));
}

// ---------------------------------------------------------------- fans: tickets

async function ticketsPage() {
  if (!requireSignIn()) return;
  document.title = t("tickets_title");
  const [first, payments] = await Promise.all([
    api("GET", "/api/v1/tickets?limit=20"),
    // Only for the amount on the refund button: the ticket list works without it.
    api("GET", "/api/v1/payments?limit=200").catch(() => ({ items: [] })),
  ]);
  const amounts = new Map(payments.items.map((p) => [p.id, p.amount]));
  app.innerHTML = `<h1>${h("tickets_title")}</h1><div id="tickets"></div><button id="more" type="button" class="secondary" hidden>${h("more")}</button>`;
  const list = document.getElementById("tickets");
  const more = document.getElementById("more");
  const show = (page) => {
    for (const ticket of page.items) list.append(ticketCard(ticket, amounts.get(ticket.payment_id)));
    more.hidden = !page.next_cursor;
    more.onclick = async () => {
      try { show(await api("GET", `/api/v1/tickets?limit=20&cursor=${encodeURIComponent(page.next_cursor)}`)); } catch (error) { showError(error); }
    };
  };
  if (!first.items.length) list.innerHTML = `<p class="muted">${h("no_tickets")}</p>`;
  show(first);
}

// A code read aloud or typed at the door: in groups of four (the door ignores the spaces).
const groupedCode = (code) => code.replace(/(.{4})(?=.)/g, "$1 ");

function ticketCard(ticket, amount) {
  const card = document.createElement("article");
  card.className = "card ticket";
  card.dataset.ticket = ticket.id;
  card.dataset.status = ticket.status;
  const showQr = ticket.status !== "REFUNDED"; // a refunded ticket opens no door
  card.innerHTML = `
    ${showQr ? `<img class="qr" alt="${h("qr_alt")}">` : ""}
    <div class="ticket-info">
      <h2>${esc(ticket.concert.title)}</h2>
      ${ticket.concert.venue ? `<p class="muted">${esc(ticket.concert.venue)}</p>` : ""}
      <p class="ticket-date">${esc(when(ticket.schedule.starts_at))}</p>
      <p><b class="ticket-seat">${h("seat", { number: ticket.seat.number })}</b> · <span class="status">${h(`status_${ticket.status}`)}</span></p>
      ${ticket.checked_in_at ? `<p class="muted">${h("checked_in_at", { at: when(ticket.checked_in_at) })}</p>` : ""}
      <p class="muted">${h("ticket_code")}: <code class="ticket-code">${esc(groupedCode(ticket.code))}</code></p>
      ${ticket.status === "VALID" ? '<div class="refund-box"></div>' : ""}
    </div>`;
  if (showQr) {
    const img = card.querySelector(".qr");
    privateImage(`/api/v1/tickets/${ticket.id}/qr.svg`)
      .then((url) => { img.src = url; })
      .catch(() => { img.replaceWith(Object.assign(document.createElement("p"), { className: "muted qr-failed", textContent: t("qr_failed") })); });
  }
  const box = card.querySelector(".refund-box");
  if (box) refundButton(box, card, ticket, amount);
  return card;
}

// Refund in two taps (a dialog would be one more thing to dismiss). One Idempotency-Key per
// ticket shown: a retried tap after a lost answer cannot refund twice, and gets the first answer.
function refundButton(box, card, ticket, amount) {
  const key = `refund-${ticket.payment_id}-${nonce()}`;
  const offer = () => {
    box.innerHTML = `<button type="button" class="secondary refund">${h("refund")}</button>`;
    box.querySelector(".refund").onclick = askToConfirm;
  };
  const askToConfirm = () => {
    box.innerHTML = `<button type="button" class="danger refund-confirm">${amount != null ? h("refund_confirm", { amount: won(amount) }) : h("refund_confirm_plain")}</button>
      <button type="button" class="secondary refund-keep">${h("refund_keep")}</button>`;
    box.querySelector(".refund-keep").onclick = offer;
    box.querySelector(".refund-confirm").onclick = async (event) => {
      event.target.disabled = true;
      try {
        const refund = await api("POST", `/api/v1/payments/${ticket.payment_id}/refund`, { idempotencyKey: key });
        flash(t("refunded", { amount: won(refund.amount) }), "ok");
        const fresh = await api("GET", `/api/v1/tickets/${ticket.id}`).catch(() => ({ ...ticket, status: "REFUNDED" }));
        card.replaceWith(ticketCard(fresh, amount));
      } catch (error) {
        showError(error, box);
        offer();
      }
    };
  };
  offer();
}

// ---------------------------------------------------------------- operators: the door

// The date this door serves, remembered on this device: a ticket of another date is refused.
const doorDate = {
  get() { return localStorage.getItem("door:schedule") || ""; },
  set(id) { if (id) localStorage.setItem("door:schedule", id); else localStorage.removeItem("door:schedule"); },
};

async function doorPage() {
  if (!requireSignIn()) return;
  document.title = t("door_title");
  const dates = await api("GET", "/api/v1/admin/door/dates");
  const known = dates.some((d) => String(d.schedule_id) === doorDate.get());
  if (!known) doorDate.set("");
  const options = dates.map((d) => `<option value="${d.schedule_id}">${esc(d.concert.title)} · ${esc(when(d.starts_at))}</option>`).join("");
  app.innerHTML = `<h1>${h("door_title")}</h1>
    <div class="card">
      <label>${h("door_date")} <select id="door-date" required><option value="">${h("door_pick_date")}</option>${options}</select></label>
      <p id="door-count" class="door-count" aria-live="polite" hidden></p>
    </div>
    <form id="door" class="card">
      <label>${h("door_code")} <input name="code" autocomplete="off" autocapitalize="off" spellcheck="false" required></label>
      <p class="muted">${h("door_intro")}</p>
      <button type="submit">${h("door_check")}</button>
      <button type="button" id="scan" class="secondary" hidden>${h("door_scan")}</button>
      <video id="camera" muted playsinline hidden></video>
    </form>
    <div id="door-result" class="door-result" aria-live="assertive" hidden></div>`;
  const form = document.getElementById("door");
  const input = form.elements.code;
  const select = document.getElementById("door-date");
  const countBox = document.getElementById("door-count");
  const result = document.getElementById("door-result");
  select.value = doorDate.get();
  // Checked in / sold of the door's date, live (every 2 s, and after each check-in).
  const countLoop = live(async () => {
    const id = doorDate.get();
    if (!id) { countBox.hidden = true; return; }
    let door;
    try { door = await api("GET", `/api/v1/admin/schedules/${encodeURIComponent(id)}/door`); } catch (error) {
      if (transient(error)) throw error;
      countBox.hidden = true; // a date the door may not count: nothing to show, the loop goes on
      return;
    }
    if (String(door.schedule_id) !== doorDate.get()) return; // the date changed meanwhile
    countBox.textContent = t("door_count", { in: door.checked_in, sold: door.sold });
    countBox.dataset.checkedIn = door.checked_in;
    countBox.dataset.sold = door.sold;
    countBox.hidden = false;
  }, { ms: 2000 });
  const drawCount = () => countLoop.now();
  const ready = () => {
    const chosen = Boolean(doorDate.get());
    form.querySelectorAll("button, input").forEach((el) => { el.disabled = !chosen; });
    if (chosen) input.focus(); else select.focus();
  };
  select.onchange = () => { doorDate.set(select.value); result.hidden = true; ready(); drawCount(); };
  ready();
  const answer = (kind, code, headline, detail) => {
    result.className = `door-result ${kind}`;
    result.dataset.code = code;
    result.innerHTML = `<p class="door-headline">${kind === "ok" ? "✓" : "✕"} ${esc(headline)}</p><p>${esc(detail)}</p>`;
    result.hidden = false;
  };
  let busy = false;
  const checkIn = async (typed) => {
    const code = typed.replace(/\s+/g, ""); // pasted from a ticket shown in groups of four
    const scheduleId = Number(doorDate.get());
    if (!code || busy || !scheduleId) return;
    busy = true;
    try {
      const ticket = await api("POST", "/api/v1/admin/check-ins", { body: { code, schedule_id: scheduleId } });
      const seat = ticket.seat ? t("seat", { number: ticket.seat.number }) : "";
      answer("ok", "OK", t("door_ok"), [ticket.concert?.title, when(ticket.schedule?.starts_at), seat].filter(Boolean).join(" · "));
    } catch (error) {
      if (!(error instanceof ApiError)) answer("bad", "", t("door_refused"), t("generic_error"));
      else if (error.code === "TICKET_ALREADY_USED") {
        const at = error.body.checked_in_at;
        answer("bad", error.code, t("door_used"), at ? t("door_used_at", { at: when(at) }) : error.message);
      } else if (error.code === "TICKET_WRONG_SCHEDULE") {
        const at = error.body.ticket_starts_at;
        answer("bad", error.code, t("door_wrong_date"), at ? t("door_wrong_date_at", { at: when(at) }) : error.message);
      } else {
        // A code of the wrong shape (422) is no ticket either.
        const unknown = error.code === "TICKET_NOT_FOUND" || error.code === "VALIDATION_ERROR";
        const headline = error.code === "TICKET_REFUNDED" ? t("door_refunded") : unknown ? t("door_unknown") : t("door_refused");
        answer("bad", error.code || "", headline, error.message);
      }
    } finally {
      busy = false;
      input.value = "";
      input.focus();
      drawCount();
    }
  };
  form.onsubmit = (event) => { event.preventDefault(); checkIn(input.value); };
  cameraScanner(checkIn);
}

// Scanning with the camera where the browser can read QR codes itself (BarcodeDetector); typing
// or pasting the code works everywhere.
function cameraScanner(checkIn) {
  const button = document.getElementById("scan");
  const video = document.getElementById("camera");
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  BarcodeDetector.getSupportedFormats()
    .then((formats) => { button.hidden = !formats.includes("qr_code"); })
    .catch(() => {});
  let stream = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = true;
    button.textContent = t("door_scan");
  };
  const start = async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
    } catch (error) {
      stop();
      flash(t("door_camera_failed"));
      return;
    }
    button.textContent = t("door_stop");
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    // A ticket stays in front of the camera for a while: it is checked in once, and read again
    // only after it has been out of sight for a few seconds.
    let last = { code: null, seenAt: 0 };
    const look = async () => {
      if (!stream) return;
      try {
        const found = await detector.detect(video);
        const code = found.length ? found[0].rawValue : null;
        if (code) {
          const fresh = code !== last.code || Date.now() - last.seenAt > 3000;
          last = { code, seenAt: Date.now() };
          if (fresh) await checkIn(code);
        }
      } catch (error) { /* a frame that could not be read: try the next one */ }
      setTimeout(look, 200);
    };
    look();
  };
  button.onclick = () => (stream ? stop() : start());
}

// ---------------------------------------------------------------- router

async function route() {
  renderNav();
  const path = location.pathname;
  let match;
  try {
    if (path === "/") return await concertsPage();
    if (path === "/login") return accountPage("login");
    if (path === "/signup") return accountPage("signup");
    if (path === "/me") return await walletPage();
    if (path === "/tickets") return await ticketsPage();
    if (path === "/door") return await doorPage();
    if (path === "/admin") return await adminPage();
    if ((match = path.match(/^\/admin\/concerts\/(\d+)$/))) return await dashboardPage(Number(match[1]));
    if ((match = path.match(/^\/concerts\/(\d+)$/))) return await salePage(Number(match[1]));
    // An unknown page URL (the server answered this shell with 404).
    document.title = t("not_found_page");
    app.innerHTML = `<h1 id="not-found">${h("not_found_page")}</h1><p>${h("not_found_text")}</p><a class="button" href="/">${h("nav_concerts")}</a>`;
  } catch (error) {
    showError(error);
    app.innerHTML = `<p class="muted">${h("page_failed")}</p>`;
  }
}

route();
