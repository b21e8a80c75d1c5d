// Refreshes the public leaderboard from the JSON API every few seconds.
// Builds cells with textContent only, so team names can never become markup.
(function () {
  "use strict";
  var table = document.getElementById("public-board");
  if (!table || !table.dataset.src) { return; }
  function fmt(x, digits) { return x === null || x === undefined ? "n/a" : x.toFixed(digits); }
  function secs(x) {
    if (x === null || x === undefined) { return ""; }
    if (x < 1) { return Math.round(x * 1000) + " ms"; }
    if (x < 120) { return x.toFixed(1) + " s"; }
    return (x / 60).toFixed(1) + " min";
  }
  function when(iso) { return iso.slice(0, 16).replace("T", " ") + " UTC"; }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }
  function draw(rows) {
    var body = document.createElement("tbody");
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.baseline) { tr.className = "baseline"; }
      cell(tr, r.rank === null ? "" : String(r.rank));
      var name = cell(tr, r.team);
      if (r.baseline) {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "baseline";
        name.appendChild(document.createTextNode(" "));
        name.appendChild(badge);
      }
      cell(tr, fmt(r.score, 5), "num");
      cell(tr, fmt(r.auc, 4), "num");
      cell(tr, String(r.entries), "num");
      cell(tr, when(r.last_submission_at));
      cell(tr, secs(r.execution_s), "num");
      body.appendChild(tr);
    });
    if (!rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = cell(tr, "No scored submissions yet.");
      td.colSpan = 7;
      body.appendChild(tr);
    }
    table.replaceChild(body, table.tBodies[0]);
  }
  function refresh() {
    fetch(table.dataset.src, { headers: { Accept: "application/json" }, credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(data.rows); } })
      .catch(function () { /* keep the last table */ });
  }
  setInterval(refresh, 3000);
})();
