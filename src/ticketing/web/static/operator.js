// The operator's pages (/admin, /admin/concerts/{id}), drawn from the admin API. Loaded before
// app.js, whose router calls adminPage() and dashboardPage(); they use its helpers (api(), live(),
// flash(), ...) and the words of i18n.js, all globals of the page by the time the router runs.
"use strict";

// ---------------------------------------------------------------- operators

// The operator types dates in the venue's time (Seoul), whatever the browser's zone.
const venueInputValue = (date) => new Date(date.getTime() + VENUE_UTC_OFFSET_MS).toISOString().slice(0, 16);
const venueInputToIso = (value) => new Date(`${value}:00${VENUE_UTC_OFFSET}`).toISOString();

async function adminPage() {
  if (!requireSignIn()) return;
  document.title = t("admin_title");
  const concerts = await api("GET", "/api/v1/concerts");
  const now = new Date();
  app.innerHTML = `<h1>${h("admin_title")}</h1>
    <div class="card"><h2>${h("create_concert")}</h2><form id="concert">
      <label>${h("field_title")} <input name="title" required maxlength="200"></label>
      <label>${h("field_venue")} <input name="venue" maxlength="200"></label>
      <button type="submit">${h("create_concert")}</button></form></div>
    <div class="card"><h2>${h("add_date")}</h2><form id="schedule">
      <label>${h("field_concert")} <select name="concert">${concerts.map((c) => `<option value="${c.id}">${esc(c.title)}</option>`).join("")}</select></label>
      <label>${h("field_starts")} <input name="starts_at" type="datetime-local" required value="${venueInputValue(new Date(now.getTime() + 30 * 864e5))}"></label>
      <label>${h("field_opens")} <input name="opens" type="datetime-local" required value="${venueInputValue(now)}"></label>
      <label>${h("field_closes")} <input name="closes" type="datetime-local" required value="${venueInputValue(new Date(now.getTime() + 29 * 864e5))}"></label>
      <label>${h("field_seats")} <input name="seat_count" type="number" min="1" max="10000" value="50" required></label>
      <label>${h("field_price")} <input name="price" type="number" min="1" value="50000" required></label>
      <button type="submit">${h("add_date")}</button></form></div>
    <div class="card"><h2>${h("upload_plan")}</h2><form id="venue">
      <label>${h("field_venue_name")} <input name="name" required maxlength="200"></label>
      <label>${h("field_plan")} <input name="plan" type="file" accept="application/json,.json" required></label>
      <div id="plan-preview" aria-live="polite"></div>
      <button type="submit">${h("create_venue")}</button></form><div id="venue-date"></div></div>
    <div class="card"><h2>${h("live_sales")}</h2><ul>${concerts.map((c) => `<li><a href="/admin/concerts/${c.id}">${esc(c.title)}</a></li>`).join("")}</ul></div>`;
  document.getElementById("concert").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const created = await api("POST", "/api/v1/admin/concerts", { body: { title: form.get("title"), venue: form.get("venue") || null } });
      flash(t("concert_created", { title: created.title }), "ok");
      adminPage();
    } catch (error) { showError(error); }
  };
  document.getElementById("schedule").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const iso = (name) => venueInputToIso(form.get(name));
    try {
      const created = await api("POST", `/api/v1/admin/concerts/${form.get("concert")}/schedules`, { body: {
        starts_at: iso("starts_at"), reservation_opens_at: iso("opens"), reservation_closes_at: iso("closes"),
        seat_count: Number(form.get("seat_count")), price: Number(form.get("price")) } });
      flash(t("date_added", { count: count(created.seats.length) }), "ok");
    } catch (error) { showError(error); }
  };
  venueUpload();
}

// The operator's seating plan (pretix's JSON): read in the page and drawn (each zone a box around
// its seats, the classes with their seat counts) before anything is sent; then created, then a
// date on it with a price per class, using the concert and times of the form above.
function venueUpload() {
  const form = document.getElementById("venue");
  const preview = document.getElementById("plan-preview");
  let plan = null;
  form.elements.plan.onchange = async () => {
    plan = null;
    preview.innerHTML = "";
    const file = form.elements.plan.files[0];
    if (!file) return;
    try { plan = JSON.parse(await file.text()); } catch { return flash(t("plan_unreadable")); }
    if (!form.elements.name.value && typeof plan.name === "string") form.elements.name.value = plan.name;
    const perClass = new Map();
    const boxes = (plan.zones || []).map((zone) => {
      const zx = zone.position?.x ?? 0, zy = zone.position?.y ?? 0;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, seats = 0;
      for (const row of zone.rows || []) {
        for (const seat of row.seats || []) {
          const x = zx + (row.position?.x ?? 0) + (seat.position?.x ?? 0);
          const y = zy + (row.position?.y ?? 0) + (seat.position?.y ?? 0);
          x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
          seats += 1;
          perClass.set(seat.category, (perClass.get(seat.category) || 0) + 1);
        }
      }
      return { name: zone.name, seats, x0, y0, x1: x1 + 10, y1: y1 + 10 };
    }).filter((b) => b.seats);
    const total = boxes.reduce((sum, b) => sum + b.seats, 0);
    if (!boxes.length) { preview.innerHTML = `<p>${h("plan_summary", { seats: count(0), zones: count(0) })}</p>`; return; }
    const left = Math.min(...boxes.map((b) => b.x0)), top = Math.min(...boxes.map((b) => b.y0));
    const width = Math.max(...boxes.map((b) => b.x1)) - left, height = Math.max(...boxes.map((b) => b.y1)) - top;
    preview.innerHTML = `<p>${h("plan_summary", { seats: count(total), zones: count(boxes.length) })}</p>
      <svg class="zone-map" viewBox="${left} ${top} ${width} ${height}" role="img" aria-label="${h("zone_map")}">${boxes.map((b) =>
        `<g class="zone"><rect x="${b.x0}" y="${b.y0}" width="${b.x1 - b.x0}" height="${b.y1 - b.y0}" rx="6" fill="#2fa84f"></rect>
         <text x="${(b.x0 + b.x1) / 2}" y="${(b.y0 + b.y1) / 2}" text-anchor="middle" font-size="${(b.y1 - b.y0) / 5}">${esc(b.name)} · ${esc(count(b.seats))}</text></g>`).join("")}</svg>
      <ul class="legend">${(plan.categories || []).map((c) =>
        `<li><span class="swatch" data-color="${esc(c.color || "#6e6e73")}"></span>${h("class_seats", { name: c.name, seats: count(perClass.get(c.name) || 0) })}</li>`).join("")}</ul>`;
    preview.querySelectorAll("[data-color]").forEach((el) => el.style.setProperty("background", el.dataset.color));
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (!plan) return flash(t("plan_unreadable"));
    try {
      const venue = await api("POST", "/api/v1/admin/venues", { body: { name: form.elements.name.value, plan } });
      flash(t("venue_created", { name: venue.name, seats: count(venue.seat_count) }), "ok");
      venueDateForm(venue);
    } catch (error) { showError(error); }
  };
}

function venueDateForm(venue) {
  const box = document.getElementById("venue-date");
  box.innerHTML = `<h2>${h("add_venue_date", { name: venue.name })}</h2><form id="venue-schedule">${venue.categories.map((c, i) =>
    `<label>${h("price_for", { name: c.name })} <input name="price-${i}" type="number" min="1" required></label>`).join("")}
    <button type="submit">${h("add_date")}</button></form>`;
  document.getElementById("venue-schedule").onsubmit = async (event) => {
    event.preventDefault();
    const dates = new FormData(document.getElementById("schedule"));
    const prices = Object.fromEntries(venue.categories.map((c, i) => [c.name, Number(event.target.elements[`price-${i}`].value)]));
    const iso = (name) => venueInputToIso(dates.get(name));
    try {
      const created = await api("POST", `/api/v1/admin/concerts/${dates.get("concert")}/schedules`, { body: {
        starts_at: iso("starts_at"), reservation_opens_at: iso("opens"), reservation_closes_at: iso("closes"),
        venue_id: venue.id, prices } });
      flash(t("date_added", { count: count(created.seat_count) }), "ok");
    } catch (error) { showError(error); }
  };
}

async function dashboardPage(concertId) {
  if (!requireSignIn()) return;
  live(async () => {
    const d = await api("GET", `/api/v1/admin/concerts/${concertId}/dashboard`);
    document.title = t("live_title", { title: d.concert.title });
    const stat = (label, value, id) => `<div class="stat">${h(label)}<b${id ? ` id="${id}"` : ""}>${esc(value)}</b></div>`;
    app.innerHTML = `<h1>${h("live_title", { title: d.concert.title })}</h1>
      <div class="stats">
        ${stat("stat_waiting", count(d.queue.waiting), "waiting")}
        ${stat("stat_active", count(d.queue.active))}
        ${stat("stat_rate", t("per_second", { rate: d.queue.admission_rate_per_second.toFixed(1) }))}
        ${stat("stat_available", d.seats_available, "available")}
        ${stat("stat_held", d.seats_held, "held")}
        ${stat("stat_sold", d.seats_sold, "sold")}
        ${stat("stat_revenue", won(d.revenue), "revenue")}
      </div>
      ${d.queue.sold_out ? `<p>${h("dashboard_sold_out")}</p>` : ""}
      <div class="card"><table><tr><th>${h("col_date")}</th><th class="num">${h("stat_available")}</th><th class="num">${h("stat_held")}</th><th class="num">${h("stat_sold")}</th><th class="num">${h("stat_revenue")}</th></tr>
      ${d.schedules.map((s) => `<tr><td>${esc(when(s.starts_at))}</td><td class="num">${s.available}</td><td class="num">${s.held}</td><td class="num">${s.sold}</td><td class="num">${esc(won(s.revenue))}</td></tr>`).join("")}</table></div>
      <p class="muted">${h("updates_every")}</p>`;
  }, { ms: 2000 });
}
