// Times in the reader's own time zone. The server writes every time readable, in UTC with the
// zone named, inside <time datetime="RFC 3339" title="exact instant">; this rewrites the text in
// the browser's zone and keeps the "how long ago" hints current, including in content swapped
// in later (the dashboard's refresh, an import's progress). A same-origin file, not an inline
// script: the app's Content-Security-Policy refuses inline script.
(function () {
  "use strict";
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
  } catch (e) {
    return; // the server's UTC text stays
  }
  function plural(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }
  // The same steps as the server's hints (src/present.rs).
  function ago(ms) {
    var s = Math.floor(ms / 1000);
    if (s < -60) { return null; }
    if (s < 60) { return "just now"; }
    if (s < 3600) { return Math.floor(s / 60) + " min ago"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h ago"; }
    if (s < 604800) { return plural(Math.floor(s / 86400), "day") + " ago"; }
    return null;
  }
  function localise(root, again) {
    var times = root.querySelectorAll ? root.querySelectorAll("time[datetime]") : [];
    Array.prototype.forEach.call(times, function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      if (!el.hasAttribute("data-local")) {
        el.setAttribute("data-local", "");
        el.textContent = format.format(at);
      } else if (!again) {
        return;
      }
      var hint = el.nextElementSibling;
      if (hint && hint.classList.contains("ago")) {
        var text = ago(Date.now() - at.getTime());
        if (text !== null && hint.textContent !== "(" + text + ")") { hint.textContent = "(" + text + ")"; }
      }
    });
  }
  localise(document, false);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      Array.prototype.forEach.call(change.addedNodes, function (node) {
        if (node.nodeType === 1) { localise(node.parentNode || node, false); }
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
  setInterval(function () { localise(document, true); }, 60000);
})();
