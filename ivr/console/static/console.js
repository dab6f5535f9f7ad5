// The live view refreshes itself: it polls live.json and writes the figures into the page.
// Data only ever reaches the DOM through textContent and dataset (never innerHTML), so nothing
// a caller or an agent record contains can become markup or script.
"use strict";

// One poller for every self-refreshing page (live view, wallboard, worklist): fetch JSON every
// `every` ms, hand it to `render`; a 401 goes back to the sign-in page; any other failure
// calls `onError` and tries again.
window.ivrPoll = function (url, every, render, onError) {
  async function poll() {
    try {
      const response = await fetch(typeof url === "function" ? url() : url, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.assign(document.body.dataset.loginUrl);
        return;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      render(await response.json());
    } catch (err) {
      onError(err);
    }
    window.setTimeout(poll, every);
  }
  window.setTimeout(poll, every);
};

// Screen readers hear the page's one live region (#announce, in base.html) only when what it
// says has changed: a refresh that changes nothing that matters says nothing.
window.ivrAnnounce = (function () {
  let last = null;
  return function (text) {
    const region = document.getElementById("announce");
    if (!region || text === last) {
      return;
    }
    if (last === null) { // the first figures are the page itself: nothing new to announce
      last = text;
      return;
    }
    last = text;
    region.textContent = text;
  };
}());

window.ivrCell = function (tag, text, cls) {
  const cell = document.createElement(tag);
  cell.textContent = String(text);
  if (cls) {
    cell.className = cls;
  }
  if (tag === "th") {
    cell.scope = "row";
  }
  return cell;
};

(function () {
  const body = document.body;
  const url = body.dataset.liveUrl;
  if (!url) {
    return;
  }
  const every = Number(body.dataset.pollMs) || 2000;
  const deptRows = document.getElementById("dept-rows");
  const agentRows = document.getElementById("agent-rows");
  const stateCounts = document.getElementById("state-counts");
  const total = document.getElementById("waiting-total");
  const status = document.getElementById("live-status");
  const cell = window.ivrCell;

  function waitCell(d) {
    const td = cell("td", "", "wait " + d.wait_level);
    if (d.wait_sign) {
      const sign = document.createElement("span");
      sign.setAttribute("aria-hidden", "true");
      sign.textContent = d.wait_sign + " ";
      td.appendChild(sign);
    }
    td.appendChild(document.createTextNode(d.longest + (d.wait_words ? " (" + d.wait_words + ")" : "")));
    return td;
  }

  function deptRow(d) {
    const tr = document.createElement("tr");
    tr.dataset.dept = d.id;
    tr.dataset.level = d.wait_level;
    tr.append(cell("th", d.name), cell("td", d.waiting, "num"), waitCell(d),
      cell("td", d.offered, "num"), cell("td", d.service_level, "num"),
      cell("td", d.abandoned, "num"), cell("td", d.average_answer, "num"));
    return tr;
  }

  function agentRow(a) {
    const tr = document.createElement("tr");
    tr.dataset.agent = a.id;
    tr.append(cell("th", a.name, "name"), cell("td", a.state_label, "state " + a.state),
      cell("td", a.in_state), cell("td", a.calls, "num"), cell("td", a.handle_time, "num"),
      cell("td", a.occupancy, "num"), cell("td", a.fcr, "num"), cell("td", a.callbacks, "num"));
    return tr;
  }

  // What a listener hears: callers waiting, and which queues are near or over the limit.
  function summary(data) {
    const parts = [data.waiting + " waiting"];
    data.departments.forEach((d) => {
      if (d.wait_words) {
        parts.push(d.name + " " + d.wait_words);
      }
    });
    return parts.join("; ");
  }

  function render(data) {
    total.textContent = String(data.waiting);
    deptRows.replaceChildren(...data.departments.map(deptRow));
    if (data.agents.length) {
      agentRows.replaceChildren(...data.agents.map(agentRow));
    } else {
      const empty = document.createElement("tr");
      const td = cell("td", "No agents.");
      td.colSpan = 8;
      empty.appendChild(td);
      agentRows.replaceChildren(empty);
    }
    stateCounts.replaceChildren(...data.states.map((s) => {
      const li = document.createElement("li");
      li.className = "state " + s.state;
      li.textContent = s.label + ": " + s.count;
      return li;
    }));
    status.textContent = "updated " + new Date(data.at * 1000).toLocaleTimeString("en-GB");
    window.ivrAnnounce(summary(data));
  }

  window.ivrPoll(url, every, render, () => {
    status.textContent = "connection lost, retrying…";
    window.ivrAnnounce("Connection lost; the figures may be out of date.");
  });
}());

// The worklist: each open card shows its call's progress (ringing the advisor, calling the
// resident, the last attempt's result) without a reload; each card's own polite live region
// speaks only when its text changes.
(function () {
  const body = document.body;
  const url = body.dataset.progressUrl;
  if (!url) {
    return;
  }
  const cards = Array.from(document.querySelectorAll("article.task[data-task]"))
    .filter((card) => card.querySelector("[data-progress]"));
  if (!cards.length) {
    return;
  }
  const ids = cards.map((card) => card.dataset.task).join(",");
  const every = Number(body.dataset.pollMs) || 3000;

  function render(data) {
    cards.forEach((card) => {
      const found = data[card.dataset.task];
      const line = card.querySelector("[data-progress]");
      if (!found || !line) {
        return;
      }
      let text = found.progress;
      if (card.dataset.dialling === "yes" && !found.dialling) {
        text += ". Reload the list to act on it.";
      }
      card.dataset.dialling = found.dialling ? "yes" : "no";
      if (line.textContent !== text) {
        line.textContent = text;
      }
    });
  }

  window.ivrPoll(url + "?ids=" + encodeURIComponent(ids), every, render, () => {});
}());
