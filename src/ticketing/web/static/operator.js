// The operator's pages (/admin, /admin/concerts/{id}), drawn from the admin API. Loaded before
// app.js, whose router calls adminPage() and dashboardPage(); they use its helpers (api(), live(),
// flash(), ...) and the words of i18n.js, all globals of the page by the time the router runs.
"use strict";

// ---------------------------------------------------------------- operators

// The operator types dates in the venue's time (Seoul), whatever the browser's zone.
const venueInputValue = (date) => new Date(date.getTime() + VENUE_UTC_OFFSET_MS).toISOString().slice(0, 16);
const venueInputToIso = (value) => new Date(`${value}:00${VENUE_UTC_OFFSET}`).toISOString();

async function adminPage(selectedConcertId = null) {
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
      <label>${h("field_concert")} <select name="concert">${concerts.map((c) => `<option value="${c.id}"${c.id === selectedConcertId ? " selected" : ""}>${esc(c.title)}</option>`).join("")}</select></label>
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
      // Redrawn with the new concert chosen for "add a date" (it was the first of the list).
      await adminPage(created.id);
      flash(t("concert_created", { title: created.title }), "ok");
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

// ---------------------------------------------------------------- operators: the live sale

// The operator's words (kept here rather than in i18n.js, whose DICTIONARY they join).
Object.assign(DICTIONARY.ko, {
  sale_state: "판매 상태",
  state_on_sale: "예매 중",
  state_upcoming: "오픈 예정",
  state_closed: "판매 종료",
  state_sold_out: "매진",
  sold_out_note: "매진되어 대기실이 입장을 멈췄습니다. 선점된 좌석은 결제되거나 유지 시간이 끝나면 다시 판매됩니다.",
  queue_title: "대기열",
  chart_sales: "판매 추이 (누적 매수)",
  chart_sales_label: "누적 판매 {sold}매, 매출 {revenue}",
  chart_no_sales: "아직 결제가 없습니다.",
  chart_classes: "등급별 판매율",
  class_sell_line: "{date} {name}: {sold}/{seats}석 판매 ({percent}%)",
  per_date: "날짜·등급별 현황",
  col_class: "등급",
  col_free: "남은 좌석",
  top_holders: "선점이 많은 계정·주소 (매점 감시)",
  col_account: "계정",
  col_address: "주소",
  col_accounts: "계정 수",
  col_holds: "선점",
  no_holders: "지금 선점 중인 좌석이 없습니다.",
  export_orders: "주문 내보내기 (CSV)",
  export_scope: "범위",
  export_all_dates: "모든 날짜",
  export_button: "CSV 내려받기",
  export_done: "주문 {rows}건을 내려받았습니다.",
  state_paused: "일시 중지",
  paused_note: "입장을 멈췄습니다. 대기 중인 분들은 순서를 지키고, 이미 입장한 분들은 좌석 선택과 결제를 마칠 수 있습니다.",
  sale_controls: "판매 제어",
  pause_sale: "판매 일시 중지",
  resume_sale: "판매 재개",
  close_sale: "판매 종료",
  close_confirm: "판매를 지금 종료할까요? 열려 있는 날짜의 예매가 끝나고 대기열 입장이 멈춥니다.",
  sale_paused: "판매를 일시 중지했습니다.",
  sale_resumed: "판매를 재개했습니다.",
  sale_closed: "판매를 종료했습니다 (날짜 {count}개).",
  edit_concert: "공연 정보 수정",
  save: "저장",
  concert_saved: "공연 정보를 저장했습니다.",
  chart_queue: "대기열 추이 (최근 2시간)",
  chart_no_queue: "아직 대기열 기록이 없습니다 (5초마다 기록).",
  chart_queue_label: "지금 대기 {waiting}명(파란 선), 입장 중 {active}명(주황 선)",
  chart_rate_label: "입장 속도: 지금 초당 {rate}명",
});
Object.assign(DICTIONARY.en, {
  sale_state: "Sale state",
  state_on_sale: "On sale",
  state_upcoming: "Opens soon",
  state_closed: "Sale closed",
  state_sold_out: "Sold out",
  sold_out_note: "Sold out: the waiting room has stopped admitting. Held seats go back on sale if their hold ends unpaid.",
  queue_title: "Queue",
  chart_sales: "Sales over time (tickets, cumulative)",
  chart_sales_label: "{sold} tickets sold in all, revenue {revenue}",
  chart_no_sales: "No payment yet.",
  chart_classes: "Sell-through per class",
  class_sell_line: "{date} {name}: {sold} of {seats} sold ({percent}%)",
  per_date: "Per date and class",
  col_class: "Class",
  col_free: "Free",
  top_holders: "Most seats held (anti-hoarding)",
  col_account: "Account",
  col_address: "Address",
  col_accounts: "Accounts",
  col_holds: "Holds",
  no_holders: "No seat is held right now.",
  export_orders: "Export orders (CSV)",
  export_scope: "Dates",
  export_all_dates: "Every date",
  export_button: "Download CSV",
  export_done: "Downloaded {rows} orders.",
  state_paused: "Paused",
  paused_note: "Nobody is admitted. Waiting fans keep their places; fans already admitted may finish choosing and paying.",
  sale_controls: "Sale controls",
  pause_sale: "Pause the sale",
  resume_sale: "Resume the sale",
  close_sale: "Close the sale",
  close_confirm: "Close the sale now? The open dates stop taking reservations and the queue stops admitting.",
  sale_paused: "Sale paused.",
  sale_resumed: "Sale resumed.",
  sale_closed: "Sale closed ({count} dates).",
  edit_concert: "Edit the concert",
  save: "Save",
  concert_saved: "Concert saved.",
  chart_queue: "Queue over time (last 2 hours)",
  chart_no_queue: "No queue figures yet (kept every 5 seconds).",
  chart_queue_label: "Waiting now: {waiting} (blue line); admitted now: {active} (orange line)",
  chart_rate_label: "Admission rate: {rate} a second now",
});

// What the operator sees as the sale's state: sold out wins (the queue is closed, so its numbers
// are not shown next to it), then closed (no date open or to open), then paused by the operator;
// otherwise the dates' sale windows say on sale or opens soon.
function saleState(dashboard, windows, now = Date.now()) {
  if (dashboard.queue.sold_out) return "sold_out";
  const open = windows.some((w) => Date.parse(w.reservation_opens_at) <= now && now < Date.parse(w.reservation_closes_at));
  const upcoming = windows.some((w) => now < Date.parse(w.reservation_opens_at));
  if (!open && !upcoming) return "closed";
  if (dashboard.queue.paused) return "paused";
  return open ? "on_sale" : "upcoming";
}

// A tiny SVG drawer (no library: the page must work from a fresh clone, under the script policy).
// Coordinates are in a fixed viewBox and the SVG scales to its box, so the chart fits any width.
const CHART = { width: 640, height: 220, left: 48, right: 12, top: 12, bottom: 28 };
// Lines over time: `lines` is [{ cls, points: [{ at (ms), value }] }], all on one scale from 0.
function lineChart(id, label, lines) {
  const all = lines.flatMap((line) => line.points);
  const x0 = Math.min(...all.map((p) => p.at)), x1 = Math.max(...all.map((p) => p.at));
  const top0 = Math.max(1, ...all.map((p) => p.value));
  const { width, height, left, right, top, bottom } = CHART;
  const x = (at) => left + ((at - x0) / Math.max(1, x1 - x0)) * (width - left - right);
  const y = (n) => height - bottom - (n / top0) * (height - top - bottom);
  const path = (points) => points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join("");
  return `<svg id="${id}" class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">
    <line class="axis" x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}"></line>
    <line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}"></line>
    <text class="tick" x="${left - 6}" y="${y(top0) + 4}" text-anchor="end">${esc(count(top0))}</text>
    <text class="tick" x="${left - 6}" y="${height - bottom + 4}" text-anchor="end">0</text>
    <text class="tick" x="${left}" y="${height - 8}">${esc(clock(new Date(x0)))}</text>
    <text class="tick" x="${width - right}" y="${height - 8}" text-anchor="end">${esc(clock(new Date(x1)))}</text>
    ${lines.map((line) => `<path class="line ${line.cls}" d="${path(line.points)}"></path>`).join("")}</svg>
    <p class="muted">${esc(label)}</p>`;
}

function salesChart(timeline) {
  const points = timeline.points;
  if (!points.length) return `<p class="muted" id="sales-empty">${h("chart_no_sales")}</p>`;
  const bucket = timeline.bucket_seconds * 1000;
  let sold = 0, revenue = 0;
  // Cumulative, from zero at the start of the first payment's bucket.
  const series = [{ at: Date.parse(points[0].at), value: 0 }];
  for (const p of points) { sold += p.tickets; revenue += p.revenue; series.push({ at: Date.parse(p.at) + bucket, value: sold }); }
  return lineChart("sales-chart", t("chart_sales_label", { sold: count(sold), revenue: won(revenue) }), [{ cls: "sold", points: series }]);
}

function queueChart(samples) {
  if (samples.length < 2) return `<p class="muted" id="queue-empty">${h("chart_no_queue")}</p>`;
  const last = samples[samples.length - 1];
  const label = t("chart_queue_label", { waiting: count(last.waiting), active: count(last.active), rate: last.admission_rate_per_second.toFixed(1) });
  const at = (s) => Date.parse(s.at);
  return lineChart("queue-chart", label, [
    { cls: "waiting", points: samples.map((s) => ({ at: at(s), value: s.waiting })) },
    { cls: "active", points: samples.map((s) => ({ at: at(s), value: s.active })) },
  ]) + lineChart("rate-chart", t("chart_rate_label", { rate: last.admission_rate_per_second.toFixed(1) }), [
    { cls: "rate", points: samples.map((s) => ({ at: at(s), value: s.admission_rate_per_second })) },
  ]);
}

function classChart(classes, dateOf) {
  const rows = classes.map((c) => {
    const percent = c.seat_count ? Math.round((c.sold / c.seat_count) * 100) : 0;
    return { c, percent, text: t("class_sell_line", { date: dateOf(c.schedule_id), name: c.name, sold: count(c.sold), seats: count(c.seat_count), percent }) };
  });
  // One bar per class, as a list: each bar is drawn in SVG and its figures are written beside it.
  return `<ul id="class-chart" class="bars">${rows.map((r) => `<li><span class="bar-label">${esc(r.text)}</span>
    <svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">
      <rect class="bar-back" x="0" y="0" width="100" height="8"></rect>
      <rect class="bar-held" x="${r.percent}" y="0" width="${r.c.seat_count ? (r.c.held / r.c.seat_count) * 100 : 0}" height="8"></rect>
      <rect class="bar-sold" x="0" y="0" width="${r.percent}" height="8"></rect></svg></li>`).join("")}</ul>`;
}

function holdersTables(top) {
  if (!top.accounts.length && !top.addresses.length) return `<p class="muted" id="no-holders">${h("no_holders")}</p>`;
  return `<div class="table-scroll" tabindex="0" role="region" aria-label="${h("col_account")}"><table id="top-accounts"><thead><tr><th>${h("col_account")}</th><th class="num">${h("col_holds")}</th></tr></thead><tbody>
    ${top.accounts.map((a) => `<tr><td>${esc(a.name)} <span class="muted">#${a.user_id}</span></td><td class="num">${esc(count(a.holds))}</td></tr>`).join("")}</tbody></table></div>
    <div class="table-scroll" tabindex="0" role="region" aria-label="${h("col_address")}"><table id="top-addresses"><thead><tr><th>${h("col_address")}</th><th class="num">${h("col_accounts")}</th><th class="num">${h("col_holds")}</th></tr></thead><tbody>
    ${top.addresses.map((a) => `<tr><td>${esc(a.address)}</td><td class="num">${esc(count(a.accounts))}</td><td class="num">${esc(count(a.holds))}</td></tr>`).join("")}</tbody></table></div>`;
}

function perDateTable(classes, dateOf) {
  return `<div class="table-scroll" tabindex="0" role="region" aria-label="${h("per_date")}"><table id="per-date"><thead><tr><th>${h("col_date")}</th><th>${h("col_class")}</th>
    <th class="num">${h("stat_sold")}</th><th class="num">${h("stat_held")}</th><th class="num">${h("col_free")}</th><th class="num">${h("stat_revenue")}</th></tr></thead><tbody>
    ${classes.map((c) => `<tr><td>${esc(dateOf(c.schedule_id))}</td><td>${esc(c.name)}</td><td class="num">${esc(count(c.sold))}</td>
      <td class="num">${esc(count(c.held))}</td><td class="num">${esc(count(c.available))}</td><td class="num">${esc(won(c.sold * c.price))}</td></tr>`).join("")}</tbody></table></div>`;
}

// The orders CSV needs the bearer token, which a plain link cannot send: fetched, then saved.
async function downloadOrders(concertId, scheduleId, button) {
  const query = scheduleId ? `?schedule_id=${encodeURIComponent(scheduleId)}` : "";
  const response = await fetch(`/api/v1/admin/concerts/${concertId}/orders.csv${query}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const blob = await response.blob();
  const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/)?.[1] || "orders.csv";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  const rows = Math.max(0, (await blob.text()).trim().split("\r\n").length - 1);
  flash(t("export_done", { rows: count(rows) }), "ok", "EXPORTED", button);
}

async function dashboardPage(concertId) {
  if (!requireSignIn()) return;
  let windows = [];
  const dateOf = (id) => when((windows.find((w) => w.schedule_id === id) || {}).starts_at);
  app.innerHTML = `<h1 id="dash-title">${h("loading")}</h1>
    <p id="sale-state" class="state"></p>
    <div id="queue"></div>
    <div class="stats" id="seat-stats"></div>
    <div class="card"><h2>${h("sale_controls")}</h2><div class="controls" id="controls">
      <button type="button" id="pause-sale" class="secondary">${h("pause_sale")}</button>
      <button type="button" id="resume-sale" class="secondary" hidden>${h("resume_sale")}</button>
      <button type="button" id="close-sale" class="danger">${h("close_sale")}</button></div></div>
    <div class="card"><h2>${h("edit_concert")}</h2><form id="edit-concert">
      <label>${h("field_title")} <input name="title" required maxlength="200"></label>
      <label>${h("field_venue")} <input name="venue" maxlength="200"></label>
      <button type="submit">${h("save")}</button></form></div>
    <div class="card"><h2>${h("chart_sales")}</h2><div id="sales"></div></div>
    <div class="card"><h2>${h("chart_queue")}</h2><div id="queue-history"></div></div>
    <div class="card"><h2>${h("chart_classes")}</h2><div id="classes"></div></div>
    <div class="card"><h2>${h("per_date")}</h2><div id="dates"></div></div>
    <div class="card"><h2>${h("top_holders")}</h2><div id="holders"></div></div>
    <div class="card"><h2>${h("export_orders")}</h2><form id="export" class="inline-form">
      <label>${h("export_scope")} <select name="schedule"><option value="">${h("export_all_dates")}</option>
        </select></label>
      <button type="submit" id="export-button">${h("export_button")}</button></form></div>
    <p class="muted">${h("updates_every")}</p>`;
  document.getElementById("export").onsubmit = async (event) => {
    event.preventDefault();
    const button = document.getElementById("export-button");
    button.disabled = true;
    try { await downloadOrders(concertId, event.target.elements.schedule.value, button); } catch (error) { showError(error, button); } finally { button.disabled = false; }
  };
  const edit = document.getElementById("edit-concert");
  const concert = await api("GET", `/api/v1/concerts/${concertId}`);
  edit.elements.title.value = concert.title;
  edit.elements.venue.value = concert.venue || "";
  edit.onsubmit = async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", `/api/v1/admin/concerts/${concertId}`, { body: { title: edit.elements.title.value, venue: edit.elements.venue.value || null } });
      flash(t("concert_saved"), "ok", "SAVED", edit);
      loop.now();
    } catch (error) { showError(error, edit); }
  };
  let loop = null;
  const control = (id, action, done) => {
    const button = document.getElementById(id);
    button.onclick = async () => {
      if (action === "close" && !confirm(t("close_confirm"))) return;
      button.disabled = true;
      try {
        const answer = await api("POST", `/api/v1/admin/concerts/${concertId}/sale/${action}`);
        flash(done(answer), "ok", action.toUpperCase(), document.getElementById("controls"));
        loop.now();
      } catch (error) { showError(error, button); } finally { button.disabled = false; }
    };
  };
  control("pause-sale", "pause", () => t("sale_paused"));
  control("resume-sale", "resume", () => t("sale_resumed"));
  control("close-sale", "close", (answer) => t("sale_closed", { count: count(answer.closed_schedule_ids.length) }));
  const stat = (label, value, id) => `<div class="stat"><span>${h(label)}</span><b${id ? ` id="${id}"` : ""}>${esc(value)}</b></div>`;
  loop = live(async () => {
    const [d, report] = await Promise.all([
      api("GET", `/api/v1/admin/concerts/${concertId}/dashboard`),
      api("GET", `/api/v1/admin/concerts/${concertId}/sales`),
    ]);
    if (!windows.length && d.schedules.length) {
      windows = d.schedules;
      document.querySelector("#export select").insertAdjacentHTML("beforeend",
        windows.map((w) => `<option value="${w.schedule_id}">${esc(when(w.starts_at))}</option>`).join(""));
    }
    windows = d.schedules;
    document.title = t("live_title", { title: d.concert.title });
    document.getElementById("dash-title").textContent = t("live_title", { title: d.concert.title });
    const state = saleState(d, windows);
    const stateBox = document.getElementById("sale-state");
    stateBox.dataset.state = state;
    const note = { sold_out: "sold_out_note", paused: "paused_note" }[state];
    stateBox.innerHTML = `${h("sale_state")}: <b>${h(`state_${state}`)}</b>${note ? ` <span class="muted">${h(note)}</span>` : ""}`;
    document.getElementById("pause-sale").hidden = d.queue.paused;
    document.getElementById("resume-sale").hidden = !d.queue.paused;
    // Queue figures only while the queue admits: next to "sold out" they would read as a live sale.
    document.getElementById("queue").innerHTML = state === "sold_out" ? "" : `<div class="stats" id="queue-stats" aria-label="${h("queue_title")}">
        ${stat("stat_waiting", count(d.queue.waiting), "waiting")}
        ${stat("stat_active", count(d.queue.active), "active")}
        ${stat("stat_rate", t("per_second", { rate: d.queue.admission_rate_per_second.toFixed(1) }))}</div>`;
    document.getElementById("seat-stats").innerHTML = `
        ${stat("stat_available", count(d.seats_available), "available")}
        ${stat("stat_held", count(d.seats_held), "held")}
        ${stat("stat_sold", count(d.seats_sold), "sold")}
        ${stat("stat_revenue", won(d.revenue), "revenue")}`;
    document.getElementById("sales").innerHTML = salesChart(report.timeline);
    document.getElementById("queue-history").innerHTML = queueChart(report.queue);
    document.getElementById("classes").innerHTML = classChart(report.classes, dateOf);
    document.getElementById("dates").innerHTML = perDateTable(report.classes, dateOf);
    document.getElementById("holders").innerHTML = holdersTables(d.top_holders);
  }, { ms: 2000 });
}
