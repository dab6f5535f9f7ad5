// The live view refreshes itself: it polls live.json and writes the figures into the page.
// Data only ever reaches the DOM through textContent and dataset (never innerHTML), so nothing
// a caller or an agent record contains can become markup or script.
"use strict";

// One poller for every self-refreshing page (live view, wallboard): fetch JSON every `every`
// ms, hand it to `render`; a 401 goes back to the sign-in page; any other failure calls
// `onError` and tries again.
window.ivrPoll = function (url, every, render, onError) {
  async function poll() {
    try {
      const response = await fetch(url, {
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

  function row(cells, attrs) {
    const tr = document.createElement("tr");
    Object.entries(attrs).forEach(([key, value]) => { tr.dataset[key] = value; });
    cells.forEach(([text, cls]) => {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (cls) {
        td.className = cls;
      }
      tr.appendChild(td);
    });
    return tr;
  }

  function render(data) {
    total.textContent = String(data.waiting);
    deptRows.replaceChildren(...data.departments.map((d) =>
      row([[d.name], [d.waiting, "num"], [d.longest]], { dept: d.id })));
    if (data.agents.length) {
      agentRows.replaceChildren(...data.agents.map((a) =>
        row([[a.name], [a.state_label, "state " + a.state], [a.in_state]], { agent: a.id })));
    } else {
      const empty = row([["No agents."]], {});
      empty.firstChild.colSpan = 3;
      agentRows.replaceChildren(empty);
    }
    stateCounts.replaceChildren(...data.states.map((s) => {
      const li = document.createElement("li");
      li.className = "state " + s.state;
      li.textContent = s.label + ": " + s.count;
      return li;
    }));
    status.textContent = "updated " + new Date(data.at * 1000).toLocaleTimeString("en-GB");
  }

  window.ivrPoll(url, every, render, () => {
    status.textContent = "connection lost, retrying…";
  });
}());
