// Progress bar for large files on the upload page: the same POST, sent by XHR so upload
// progress can be shown. A same-origin file rather than an inline script, so the app's
// Content-Security-Policy can refuse all inline script.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var bar = document.getElementById("progress"), text = document.getElementById("progress-text");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false;
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); text.textContent = "Uploading… " + bar.value + "%"; }
    };
    xhr.upload.onload = function () { text.textContent = "Checking and publishing…"; };
    xhr.onload = function () {
      if (xhr.status >= 200 && xhr.status < 400 && xhr.responseURL) { window.location = xhr.responseURL; }
      else { document.open(); document.write(xhr.responseText); document.close(); }
    };
    xhr.onerror = function () { text.textContent = "Upload failed: the connection was closed."; };
    xhr.send(new FormData(form));
  });
  // Tells the browser test the script ran (a policy that refused it would leave this unset).
  document.documentElement.setAttribute("data-upload-ready", "");
})();
