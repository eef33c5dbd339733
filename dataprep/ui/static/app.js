// dataprep ui: one small script, no framework. Pages work without it; it only
// (1) reloads a file's page once its index and validation are done, and
// (2) pages with the arrow keys (the links marked rel=prev / rel=next).
"use strict";
(function () {
  var scan = document.getElementById("scan");
  if (scan && scan.dataset.running === "1") {
    var poll = function () {
      fetch(scan.dataset.status, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var indexing = s.index && !s.index.done;
          if (s.validation !== "running" && !indexing) { location.reload(); return; }
          var parts = [];
          if (s.index) parts.push("index: " + s.index.rows.toLocaleString() + " rows so far");
          parts.push(s.validation === "running" ? "validating…" : s.validation);
          scan.textContent = parts.join(" · ");
          setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 700);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.target.closest && ev.target.closest("input, textarea, select")) return;
    var rel = ev.key === "ArrowLeft" ? "prev" : ev.key === "ArrowRight" ? "next" : null;
    var link = rel && document.querySelector("a[rel=" + rel + "]");
    if (link) location.href = link.href;
  });
})();
