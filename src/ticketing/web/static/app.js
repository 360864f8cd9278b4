// Pages for fans and operators, drawn from the JSON API (../shared/API.md). No framework, no CDN.
"use strict";

// Every error code of the API, as a fan or an operator should read it.
const MESSAGES = {
  VALIDATION_ERROR: "Some of what you entered is not valid.",
  INVALID_AMOUNT: "Enter a whole number of won between 1 and 1,000,000.",
  UNAUTHENTICATED: "Please sign in (or check your name and password).",
  FORBIDDEN: "This page is for operators.",
  USER_NOT_FOUND: "This account no longer exists.",
  USER_NAME_TAKEN: "This name is already taken. Choose another one.",
  WALLET_NOT_FOUND: "Wallet not found.",
  WALLET_USER_MISMATCH: "That wallet belongs to someone else.",
  TOKEN_INVALID: "Your place in the queue has expired. Join the waiting room again.",
  TOKEN_NOT_ADMITTED: "Not yet admitted: please wait for your turn.",
  CONCERT_NOT_FOUND: "This concert does not exist.",
  SCHEDULE_NOT_FOUND: "This date does not exist.",
  SEAT_NOT_FOUND: "This seat does not exist.",
  RESERVATION_NOT_FOUND: "This reservation does not exist.",
  SCHEDULE_NOT_OPEN: "Reservations for this date are not open right now.",
  SEAT_UNAVAILABLE: "Sorry, this seat was just taken. Please choose another one.",
  RESERVATION_EXPIRED: "Your hold expired before payment. Choose a seat again.",
  RESERVATION_NOT_HELD: "This hold is no longer active (paid, released or expired).",
  RESERVATION_USER_MISMATCH: "This hold belongs to someone else.",
  INSUFFICIENT_BALANCE: "Your balance is too low for this seat. Charge your wallet first.",
  HOLD_LIMIT_REACHED: "You already hold the most seats one fan may hold at once.",
  IDEMPOTENCY_KEY_REUSED: "This request was already sent with different details.",
  IDEMPOTENCY_KEY_IN_USE: "Your previous attempt is still being processed. Try again in a moment.",
  RATE_LIMITED: "Too many requests. Slow down a little.",
  SERVICE_UNAVAILABLE: "The service is busy right now. Nothing was changed; please try again.",
  BALANCE_LIMIT_EXCEEDED: "That would take your balance over its limit.",
  PAYLOAD_TOO_LARGE: "That is too much data.",
};

const app = document.getElementById("app");
const flashBox = document.getElementById("flash");
const won = (n) => `₩${Number(n).toLocaleString("en-US")}`;
const when = (iso) => new Date(iso).toLocaleString();
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const timers = [];
const every = (ms, fn) => { const id = setInterval(fn, ms); timers.push(id); return id; };

class ApiError extends Error {
  constructor(status, body) {
    super((body && MESSAGES[body.code]) || (body && body.detail) || `Request failed (${status})`);
    this.status = status;
    this.code = body && body.code;
  }
}

const session = {
  get token() { return localStorage.getItem("access_token"); },
  get user() { return JSON.parse(localStorage.getItem("user") || "null"); },
  save(token, user) { localStorage.setItem("access_token", token); localStorage.setItem("user", JSON.stringify(user)); },
  clear() { localStorage.removeItem("access_token"); localStorage.removeItem("user"); },
  queueToken(concertId) { return sessionStorage.getItem(`queue:${concertId}`); },
  setQueueToken(concertId, token) { if (token) sessionStorage.setItem(`queue:${concertId}`, token); else sessionStorage.removeItem(`queue:${concertId}`); },
};

async function api(method, path, { body, queueToken, idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (queueToken) headers["X-Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && data && data.code === "UNAUTHENTICATED" && session.token && path !== "/api/v1/auth/token") {
      session.clear();
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

function flash(message, kind = "error") {
  flashBox.textContent = message;
  flashBox.className = kind;
  flashBox.hidden = false;
  flashBox.dataset.code = kind;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { flashBox.hidden = true; }, 8000);
}

function showError(error) {
  flash(error instanceof ApiError ? error.message : "Something went wrong. Please try again.");
  if (error instanceof ApiError) flashBox.dataset.code = error.code || "";
}

function renderNav() {
  const user = session.user;
  const links = [`<a href="/">Concerts</a>`];
  if (user) {
    links.push(`<a href="/me">My wallet &amp; tickets</a>`);
    if (user.role === "admin") links.push(`<a href="/admin">Operator</a>`);
    links.push(`<span>${esc(user.name)}</span>`, `<a href="#" id="signout">Sign out</a>`);
  } else {
    links.push(`<a href="/login">Sign in</a>`, `<a href="/signup">Sign up</a>`);
  }
  document.getElementById("nav").innerHTML = links.join("");
  const out = document.getElementById("signout");
  if (out) out.onclick = (e) => { e.preventDefault(); session.clear(); location.href = "/"; };
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

async function signIn(name, password) {
  const token = await api("POST", "/api/v1/auth/token", { body: { name, password } });
  localStorage.setItem("access_token", token.access_token);
  const me = await api("GET", "/api/v1/users/me");
  const claims = JSON.parse(atob(token.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  session.save(token.access_token, { ...me, role: claims.role });
}

function accountPage(kind) {
  const signup = kind === "signup";
  document.title = signup ? "Sign up" : "Sign in";
  app.innerHTML = `
    <h1>${signup ? "Create your account" : "Sign in"}</h1>
    <form id="account" class="card">
      <label>Name <input name="name" autocomplete="username" required minlength="3" maxlength="32"></label>
      <label>Password <input name="password" type="password" autocomplete="${signup ? "new-password" : "current-password"}" required minlength="${signup ? 8 : 1}" maxlength="128"></label>
      <button type="submit">${signup ? "Sign up" : "Sign in"}</button>
      <p class="muted">${signup ? 'Already have an account? <a href="/login">Sign in</a>' : 'New here? <a href="/signup">Create an account</a>'}</p>
    </form>`;
  document.getElementById("account").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const name = form.get("name");
    const password = form.get("password");
    try {
      if (signup) await api("POST", "/api/v1/users", { body: { name, password } });
      await signIn(name, password);
      location.assign(safeNext(new URLSearchParams(location.search).get("next")));
    } catch (error) { showError(error); }
  };
}

// ---------------------------------------------------------------- fans: concerts and the sale

async function concertsPage() {
  document.title = "Concerts";
  const concerts = await api("GET", "/api/v1/concerts");
  app.innerHTML = `<h1>Concerts</h1><div class="grid">${concerts.map((c) => `
      <div class="card"><h2>${esc(c.title)}</h2><p class="muted">${esc(c.venue || "")}</p>
      <a class="button" href="/concerts/${c.id}">Get tickets</a></div>`).join("") || '<p class="muted">No concerts yet.</p>'}</div>`;
}

async function salePage(concertId) {
  if (!requireSignIn()) return;
  const concert = await api("GET", `/api/v1/concerts/${concertId}`);
  document.title = concert.title;
  app.innerHTML = `<h1>${esc(concert.title)}</h1><div id="step" class="card"></div><div id="wallet" class="muted"></div>`;
  refreshBalance();
  const token = session.queueToken(concertId);
  if (token) return waitInQueue(concertId, token, null);
  const step = document.getElementById("step");
  step.innerHTML = `<p>Tickets are sold through a fair waiting room: fans are let in in the order they arrive.</p>
    <button id="join">Join the waiting room</button>`;
  document.getElementById("join").onclick = async () => {
    try {
      const issued = await api("POST", `/api/v1/concerts/${concertId}/queue/tokens`);
      session.setQueueToken(concertId, issued.token);
      waitInQueue(concertId, issued.token, issued.position);
    } catch (error) { showError(error); }
  };
}

async function refreshBalance() {
  const box = document.getElementById("wallet");
  if (!box || !session.user) return;
  try {
    const wallet = await api("GET", `/api/v1/wallets/${session.user.wallet_id}`);
    box.innerHTML = `Wallet balance: <b id="balance">${won(wallet.balance)}</b> · <a href="/me">charge</a>`;
  } catch (error) { /* the balance is a convenience here */ }
}

function waitInQueue(concertId, token, firstPosition) {
  const step = document.getElementById("step");
  let start = firstPosition;
  let delay = 1000;
  const poll = async () => {
    try {
      const info = await api("GET", "/api/v1/queue/tokens/me", { queueToken: token });
      if (info.status === "ACTIVE") return chooseDate(concertId, token);
      if (info.status === "SOLD_OUT") {
        step.innerHTML = `<h2>Sold out</h2><p>Every seat of this concert has been sold. Sorry!</p>`;
        return;
      }
      if (info.status !== "WAITING") {
        session.setQueueToken(concertId, null);
        step.innerHTML = `<p>${MESSAGES.TOKEN_INVALID}</p><button id="rejoin">Join again</button>`;
        document.getElementById("rejoin").addEventListener("click", () => location.reload());
        return;
      }
      start = Math.max(start || info.position, info.position);
      const done = start > 1 ? Math.round(((start - info.position) / (start - 1)) * 100) : 100;
      step.innerHTML = `<h2>You are in the waiting room</h2>
        <p>Your position: <span class="big" id="position">${info.position.toLocaleString()}</span></p>
        <p class="muted">Estimated wait: <span id="eta">${formatSeconds(info.eta_seconds)}</span>. Keep this page open: we let you in automatically.</p>
        <div class="progress" aria-label="progress"><div></div></div>`;
      // Set through the DOM: the Content-Security-Policy refuses inline style attributes.
      step.querySelector(".progress > div").style.width = `${done}%`;
      // The service says when to ask again (short near the front, longer far back), so that a
      // million waiting fans make a bounded number of requests.
      delay = info.poll_after_ms || 2000;
      setTimeout(poll, delay);
    } catch (error) {
      if (error.code === "TOKEN_INVALID") { session.setQueueToken(concertId, null); }
      showError(error);
      setTimeout(poll, Math.min(10000, (delay *= 2)));
    }
  };
  poll();
}

const formatSeconds = (s) => (s == null ? "—" : s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`);

async function chooseDate(concertId, token) {
  const step = document.getElementById("step");
  try {
    const dates = await api("GET", `/api/v1/concerts/${concertId}/schedules`, { queueToken: token });
    if (!dates.length) { step.innerHTML = `<h2>No seats left</h2><p>All dates are sold out or fully held right now.</p>`; return; }
    step.innerHTML = `<h2>You're in! Choose a date</h2><div class="dates">${dates.map((d) =>
      `<button class="secondary" data-schedule="${d.id}">${when(d.starts_at)} · ${d.available_seats} seats left</button>`).join("")}</div>
      <div id="seatmap"></div>`;
    step.querySelectorAll("[data-schedule]").forEach((b) => {
      b.onclick = () => {
        step.querySelectorAll("[data-schedule]").forEach((x) => x.classList.toggle("selected", x === b));
        seatMap(concertId, token, Number(b.dataset.schedule));
      };
    });
  } catch (error) { showError(error); }
}

let seatTimer = null;
async function seatMap(concertId, token, scheduleId) {
  const box = document.getElementById("seatmap");
  clearInterval(seatTimer);
  const draw = async () => {
    try {
      const seats = await api("GET", `/api/v1/schedules/${scheduleId}/seats`, { queueToken: token });
      box.innerHTML = `<h2>Choose a seat</h2><div class="stage">STAGE</div><div class="seats">${seats.map((s) =>
        `<button class="seat ${s.available ? "" : "taken"}" data-seat="${s.id}" data-number="${s.number}" title="Seat ${s.number} · ${won(s.price)}" aria-label="Seat ${s.number}">${s.number}</button>`).join("")}</div>
        <p class="muted">Green seats are free. ${won(seats[0] ? seats[0].price : 0)} per seat.</p>`;
      box.querySelectorAll("[data-seat]").forEach((b) => { b.onclick = () => hold(concertId, token, Number(b.dataset.seat)); });
    } catch (error) { clearInterval(seatTimer); showError(error); }
  };
  await draw();
  seatTimer = every(3000, draw); // live availability without hammering the server
}

async function hold(concertId, token, seatId) {
  try {
    const reservation = await api("POST", "/api/v1/reservations", { body: { seat_id: seatId }, queueToken: token });
    clearInterval(seatTimer);
    showHold(concertId, token, reservation);
  } catch (error) {
    showError(error);
  }
}

function showHold(concertId, token, reservation) {
  const step = document.getElementById("step");
  const key = `pay-${reservation.id}-${Math.random().toString(36).slice(2)}`;
  step.innerHTML = `<h2 id="hold-title">Seat ${reservation.seat_number} is held for you</h2>
    <p>Pay before the timer runs out: <span class="countdown" id="countdown">--:--</span></p>
    <p>Price: <b>${won(reservation.price)}</b></p>
    <button id="pay">Pay ${won(reservation.price)}</button> <button id="release" class="secondary">Release</button>`;
  const deadline = new Date(reservation.held_until).getTime();
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const el = document.getElementById("countdown");
    if (el) el.textContent = `${String(Math.floor(left / 60)).padStart(2, "0")}:${String(left % 60).padStart(2, "0")}`;
    if (left === 0) {
      clearInterval(timer);
      step.innerHTML = `<h2 id="hold-title">Your hold expired</h2><p>${MESSAGES.RESERVATION_EXPIRED}</p><button id="again">Choose a seat again</button>`;
      document.getElementById("again").onclick = () => chooseDate(concertId, token);
    }
  };
  const timer = every(250, tick);
  tick();
  document.getElementById("pay").onclick = async (event) => {
    event.target.disabled = true;
    try {
      const payment = await api("POST", "/api/v1/payments", { body: { reservation_id: reservation.id }, queueToken: token, idempotencyKey: key });
      clearInterval(timer);
      session.setQueueToken(concertId, null);
      step.innerHTML = `<h2>Paid — enjoy the show!</h2><p id="confirmation">Seat ${reservation.seat_number}, ${won(payment.amount)}, paid ${when(payment.paid_at)}.</p>
        <a class="button" href="/me">My tickets</a>`;
      refreshBalance();
    } catch (error) {
      event.target.disabled = false;
      showError(error);
      if (error.code === "RESERVATION_EXPIRED" || error.code === "RESERVATION_NOT_HELD") { clearInterval(timer); chooseDate(concertId, token); }
    }
  };
  document.getElementById("release").onclick = async () => {
    try {
      await api("DELETE", `/api/v1/reservations/${reservation.id}`);
      clearInterval(timer);
      flash("Seat released.", "ok");
      chooseDate(concertId, token);
    } catch (error) { showError(error); }
  };
}

// ---------------------------------------------------------------- fans: wallet and tickets

async function walletPage() {
  if (!requireSignIn()) return;
  document.title = "My wallet and tickets";
  const user = session.user;
  const [wallet, ledger, payments, reservations] = await Promise.all([
    api("GET", `/api/v1/wallets/${user.wallet_id}`),
    api("GET", `/api/v1/wallets/${user.wallet_id}/ledger?limit=20`),
    api("GET", "/api/v1/payments?limit=50"),
    api("GET", "/api/v1/reservations?limit=50"),
  ]);
  app.innerHTML = `<h1>My wallet &amp; tickets</h1>
    <div class="card"><p>Balance</p><p class="big" id="balance">${won(wallet.balance)}</p>
      <form id="charge"><label>Charge (won) <input name="amount" type="number" min="1" max="1000000" step="1" required></label>
      <button type="submit">Charge</button></form></div>
    <div class="card"><h2>My reservations</h2>${reservations.items.length ? `<table><tr><th>#</th><th>Seat</th><th>Status</th><th class="num">Price</th><th>Held until</th></tr>${reservations.items.map((r) =>
      `<tr><td>${r.id}</td><td>${r.seat_number}</td><td>${r.status}</td><td class="num">${won(r.price)}</td><td>${r.status === "HELD" ? when(r.held_until) : ""}</td></tr>`).join("")}</table>` : '<p class="muted">No reservations yet.</p>'}</div>
    <div class="card"><h2>My payments</h2>${payments.items.length ? `<table><tr><th>Reservation</th><th class="num">Amount</th><th>Paid</th></tr>${payments.items.map((p) =>
      `<tr><td>#${p.reservation_id}</td><td class="num">${won(p.amount)}</td><td>${when(p.paid_at)}</td></tr>`).join("")}</table>` : '<p class="muted">No tickets yet.</p>'}</div>
    <div class="card"><h2>Wallet history</h2><table><tr><th>What</th><th class="num">Amount</th><th class="num">Balance after</th><th>When</th></tr>${ledger.items.map((e) =>
      `<tr><td>${e.kind}</td><td class="num">${e.kind === "PAYMENT" ? "−" : "+"}${won(e.amount)}</td><td class="num">${won(e.balance_after)}</td><td>${when(e.created_at)}</td></tr>`).join("")}</table></div>`;
  document.getElementById("charge").onsubmit = async (event) => {
    event.preventDefault();
    const amount = Number(new FormData(event.target).get("amount"));
    try {
      await api("POST", `/api/v1/wallets/${user.wallet_id}/charges`, { body: { amount }, idempotencyKey: `charge-${Date.now()}-${Math.random()}` });
      flash(`Charged ${won(amount)}.`, "ok");
      walletPage();
    } catch (error) { showError(error); }
  };
}

// ---------------------------------------------------------------- operators

async function adminPage() {
  if (!requireSignIn()) return;
  document.title = "Operator";
  const concerts = await api("GET", "/api/v1/concerts");
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const now = new Date();
  app.innerHTML = `<h1>Operator</h1>
    <div class="card"><h2>Create a concert</h2><form id="concert">
      <label>Title <input name="title" required maxlength="200"></label>
      <label>Venue <input name="venue" maxlength="200"></label>
      <button type="submit">Create concert</button></form></div>
    <div class="card"><h2>Add a date</h2><form id="schedule">
      <label>Concert <select name="concert">${concerts.map((c) => `<option value="${c.id}">${esc(c.title)}</option>`).join("")}</select></label>
      <label>Starts <input name="starts_at" type="datetime-local" required value="${local(new Date(now.getTime() + 30 * 864e5))}"></label>
      <label>Reservations open <input name="opens" type="datetime-local" required value="${local(now)}"></label>
      <label>Reservations close <input name="closes" type="datetime-local" required value="${local(new Date(now.getTime() + 29 * 864e5))}"></label>
      <label>Seats <input name="seat_count" type="number" min="1" max="10000" value="50" required></label>
      <label>Price (won) <input name="price" type="number" min="1" value="50000" required></label>
      <button type="submit">Add date</button></form></div>
    <div class="card"><h2>Live sales</h2><ul>${concerts.map((c) => `<li><a href="/admin/concerts/${c.id}">${esc(c.title)}</a></li>`).join("")}</ul></div>`;
  document.getElementById("concert").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const created = await api("POST", "/api/v1/admin/concerts", { body: { title: form.get("title"), venue: form.get("venue") || null } });
      flash(`Concert "${created.title}" created.`, "ok");
      adminPage();
    } catch (error) { showError(error); }
  };
  document.getElementById("schedule").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const iso = (name) => new Date(form.get(name)).toISOString();
    try {
      const created = await api("POST", `/api/v1/admin/concerts/${form.get("concert")}/schedules`, { body: {
        starts_at: iso("starts_at"), reservation_opens_at: iso("opens"), reservation_closes_at: iso("closes"),
        seat_count: Number(form.get("seat_count")), price: Number(form.get("price")) } });
      flash(`Date added with ${created.seats.length} seats.`, "ok");
    } catch (error) { showError(error); }
  };
}

async function dashboardPage(concertId) {
  if (!requireSignIn()) return;
  const draw = async () => {
    try {
      const d = await api("GET", `/api/v1/admin/concerts/${concertId}/dashboard`);
      document.title = `Live: ${d.concert.title}`;
      app.innerHTML = `<h1>Live sale: ${esc(d.concert.title)}</h1>
        <div class="stats">
          <div class="stat">Waiting<b id="waiting">${d.queue.waiting.toLocaleString()}</b></div>
          <div class="stat">Admitted now<b>${d.queue.active.toLocaleString()}</b></div>
          <div class="stat">Admission rate<b>${d.queue.admission_rate_per_second.toFixed(1)}/s</b></div>
          <div class="stat">Available<b id="available">${d.seats_available}</b></div>
          <div class="stat">Held<b id="held">${d.seats_held}</b></div>
          <div class="stat">Sold<b id="sold">${d.seats_sold}</b></div>
          <div class="stat">Revenue<b id="revenue">${won(d.revenue)}</b></div>
        </div>
        ${d.queue.sold_out ? "<p><b>Sold out</b> — the waiting room has stopped admitting.</p>" : ""}
        <div class="card"><table><tr><th>Date</th><th class="num">Available</th><th class="num">Held</th><th class="num">Sold</th><th class="num">Revenue</th></tr>
        ${d.schedules.map((s) => `<tr><td>${when(s.starts_at)}</td><td class="num">${s.available}</td><td class="num">${s.held}</td><td class="num">${s.sold}</td><td class="num">${won(s.revenue)}</td></tr>`).join("")}</table></div>
        <p class="muted">Updates every 2 seconds.</p>`;
    } catch (error) { showError(error); }
  };
  await draw();
  every(2000, draw);
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
    if (path === "/admin") return await adminPage();
    if ((match = path.match(/^\/admin\/concerts\/(\d+)$/))) return await dashboardPage(Number(match[1]));
    if ((match = path.match(/^\/concerts\/(\d+)$/))) return await salePage(Number(match[1]));
    app.innerHTML = "<h1>Not found</h1>";
  } catch (error) {
    showError(error);
    app.innerHTML = `<p class="muted">This page could not be loaded.</p>`;
  }
}

route();
