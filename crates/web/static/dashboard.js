// Live refresh of /dashboard: every few seconds, fetch the charts (server-rendered HTML, every
// label already escaped) from /dashboard/charts and swap them in. A same-origin file rather than
// an inline script so the page's Content-Security-Policy can refuse all inline script
// (script-src 'self'); with JavaScript off, a <noscript> meta refresh reloads the page instead.
(function () {
  "use strict";
  var charts = document.getElementById("charts");
  if (!charts) { return; }
  var src = charts.getAttribute("data-src");
  var every = Number(charts.getAttribute("data-seconds") || "10") * 1000;
  function later() { setTimeout(refresh, every); }
  function refresh() {
    // A hidden tab asks nothing of the database.
    if (document.hidden) { later(); return; }
    fetch(src, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        charts.innerHTML = html;
        charts.setAttribute("data-refreshed", new Date().toISOString());
      })
      // Keep the charts shown; the next round tries again.
      .catch(function () {})
      .then(later);
  }
  later();
})();
