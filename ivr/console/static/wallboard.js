// The wallboard refreshes itself: it polls wallboard.json and writes each figure into the
// element marked with its data-field. Data reaches the DOM only through textContent and
// dataset (never innerHTML), so nothing stored in Redis can become markup or script.
"use strict";

(function () {
  const body = document.body;
  const url = body.dataset.wallboardUrl;
  if (!url) {
    return;
  }
  const every = Number(body.dataset.pollMs) || 3000;
  const rows = document.getElementById("wb-rows");
  const total = document.querySelector("#wb-total .wb-card");
  const blank = document.getElementById("wb-card");
  const status = document.getElementById("wb-status");
  const LEVELS = ["ok", "amber", "red"];
  const WORDS = { ok: "", amber: "near the limit", red: "over the limit" };

  function fill(card, d) {
    card.dataset.dept = d.id;
    card.dataset.level = LEVELS.includes(d.wait_level) ? d.wait_level : "ok";
    card.dataset.overdue = d.callbacks_overdue > 0 ? "yes" : "no";
    card.querySelectorAll("[data-level-words]").forEach((el) => {
      el.textContent = WORDS[card.dataset.level];
    });
    card.querySelectorAll("[data-field]").forEach((el) => {
      const value = d[el.dataset.field];
      el.textContent = value === null || value === undefined ? "–" : String(value);
    });
  }

  function cards(list) {
    const shown = Array.from(rows.children);
    const same = shown.length === list.length &&
      shown.every((card, i) => card.dataset.dept === list[i].id);
    if (!same) { // the departments shown changed: lay the cards out again
      rows.replaceChildren(...list.map(() => blank.content.firstElementChild.cloneNode(true)));
    }
    return Array.from(rows.children);
  }

  function render(data) {
    const shown = cards(data.departments);
    data.departments.forEach((d, i) => fill(shown[i], d));
    fill(total, data.total);
    delete body.dataset.stale;
    status.textContent = "updated " + data.at_text;
    // Heard only when it changes: callers waiting, and queues near or over the limit.
    const parts = [data.total.waiting + " waiting"];
    data.departments.forEach((d) => {
      if (WORDS[d.wait_level]) {
        parts.push(d.name + " " + WORDS[d.wait_level]);
      }
    });
    window.ivrAnnounce(parts.join("; "));
  }

  window.ivrPoll(url, every, render, (err) => {
    body.dataset.stale = "yes";
    if (err && err.message === "HTTP 404") {
      status.textContent = "this wallboard link is no longer valid (revoked): ask a supervisor for a new one";
    } else {
      status.textContent = "connection lost, retrying… (figures may be out of date)";
    }
    window.ivrAnnounce(status.textContent);
  });
}());
