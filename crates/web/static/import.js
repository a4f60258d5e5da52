// Live progress on an import's page until every published row is ingested or rejected. A
// same-origin file rather than an inline script (see upload.js); the page hands it the status
// URL and the final statuses as data attributes, escaped like every other value. Once the
// import is final, the banner and the timeline are taken from the page as the server now
// renders it, so their words are always the server's.
(function () {
  "use strict";
  var counts = document.getElementById("counts");
  if (!counts) { return; }
  var FINAL = (counts.getAttribute("data-final") || "").split(" ");
  var src = counts.getAttribute("data-src");
  var status = document.getElementById("c-status");
  function refreshParts() {
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["outcome", "timeline"].forEach(function (id) {
          var now = fresh.getElementById(id), shown = document.getElementById(id);
          if (now && shown) { shown.replaceWith(document.importNode(now, true)); }
        });
        document.documentElement.setAttribute("data-final-shown", "");
      })
      .catch(function () { setTimeout(refreshParts, 2000); });
  }
  (function poll() {
    if (FINAL.indexOf(status.getAttribute("data-status")) >= 0) { return; }
    fetch(src, { cache: "no-store", credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
      ["rows", "unique", "duplicates", "suspicious", "invalid", "cross_file_duplicates", "published", "ingested", "rejected"].forEach(function (k) {
        document.getElementById("c-" + k).textContent = s[k];
      });
      status.textContent = String(s.status).replace(/_/g, " ");
      status.className = "status-" + s.status;
      status.setAttribute("data-status", s.status);
      var bar = document.getElementById("ingest-progress");
      if (bar) { bar.max = s.published; bar.value = s.ingested + s.rejected; }
      if (FINAL.indexOf(s.status) < 0) { setTimeout(poll, 1000); }
      else if (s.rejected > 0) { window.location.reload(); }
      else { refreshParts(); }
    }).catch(function () { setTimeout(poll, 2000); });
  })();
})();
