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

  function fill(card, d) {
    card.dataset.dept = d.id;
    card.dataset.level = LEVELS.includes(d.wait_level) ? d.wait_level : "ok";
    card.dataset.overdue = d.callbacks_overdue > 0 ? "yes" : "no";
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
  }

  window.ivrPoll(url, every, render, () => {
    body.dataset.stale = "yes";
    status.textContent = "connection lost, retrying… (figures may be out of date)";
  });
}());
