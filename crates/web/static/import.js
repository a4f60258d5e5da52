// Live progress on an import's page until every published row is ingested or rejected. A
// same-origin file rather than an inline script (see upload.js); the page hands it the status
// URL and the final statuses as data attributes, escaped like every other value.
(function () {
  "use strict";
  var counts = document.getElementById("counts");
  if (!counts) { return; }
  var FINAL = (counts.getAttribute("data-final") || "").split(" ");
  var src = counts.getAttribute("data-src");
  (function poll() {
    var status = document.getElementById("c-status").textContent;
    if (FINAL.indexOf(status) >= 0) { return; }
    fetch(src, { cache: "no-store", credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
      ["rows", "unique", "duplicates", "suspicious", "invalid", "cross_file_duplicates", "published", "ingested", "rejected", "status"].forEach(function (k) {
        document.getElementById("c-" + k).textContent = s[k];
      });
      document.getElementById("c-status").className = "status-" + s.status;
      var bar = document.getElementById("ingest-progress");
      if (bar) { bar.max = s.published; bar.value = s.ingested + s.rejected; }
      if (FINAL.indexOf(s.status) < 0) { setTimeout(poll, 1000); }
      else if (s.rejected > 0) { window.location.reload(); }
    }).catch(function () { setTimeout(poll, 2000); });
  })();
})();
