// fanhub manager: a little progressive enhancement; every page works without it.
(function () {
  "use strict";
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }

  // Forms and buttons that ask before doing something irreversible.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // "Select all" checkbox for bulk actions.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll('input[name="' + box.getAttribute("data-select-all") + '"]').forEach(function (c) { c.checked = box.checked; });
    });
  });

  // Files larger than one request may be are sent in parts, one after the other.
  var up = document.getElementById("upload-form");
  if (up && up.getAttribute("data-part-size")) {
    up.addEventListener("submit", function (e) {
      var input = up.querySelector("input[type=file]");
      var file = input && input.files && input.files[0];
      var size = parseInt(up.getAttribute("data-part-size"), 10);
      if (!file || !size || file.size <= size) { return; }
      e.preventDefault();
      var bar = document.getElementById("upload-progress");
      var err = document.getElementById("upload-part-error");
      var parts = Math.ceil(file.size / size), uploadId = "";
      bar.hidden = false;
      var send = function (index) {
        var data = new FormData();
        data.append("csrf_token", csrf());
        data.append("upload_id", uploadId);
        data.append("index", String(index));
        data.append("last", index === parts - 1 ? "1" : "0");
        data.append("filename", file.name);
        data.append("part", file.slice(index * size, Math.min(file.size, (index + 1) * size)), file.name);
        fetch(up.getAttribute("data-parts-url"), { method: "POST", body: data, credentials: "same-origin" })
          .then(function (r) { return r.json(); }).then(function (j) {
            if (j.error) { err.textContent = j.error; err.hidden = false; return; }
            uploadId = j.upload_id;
            bar.value = Math.round(100 * (index + 1) / parts);
            if (index === parts - 1) { window.location = j.next; } else { send(index + 1); }
          }).catch(function () { err.textContent = "The upload failed; try again."; err.hidden = false; });
      };
      send(0);
    });
  }

  // Connect form: show only the chosen platform's fields.
  var platform = document.querySelector("#connect-form select[name=platform]");
  if (platform) {
    var showPlatform = function () {
      document.querySelectorAll("#connect-form fieldset[data-platform]").forEach(function (f) {
        f.hidden = f.getAttribute("data-platform") !== platform.value;
      });
    };
    platform.addEventListener("change", showPlatform); showPlatform();
  }

  // Import progress: poll the JSON status until the import is done, then reload for the results.
  var bar = document.querySelector("[data-progress-url]");
  if (bar) {
    var poll = function () {
      fetch(bar.getAttribute("data-progress-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (p) {
        bar.value = p.percent;
        var text = document.getElementById("progress-text");
        if (text) { text.textContent = p.percent + "% — " + p.applied_rows + " of " + p.total_rows + " rows applied (" + p.status + ")"; }
        if (p.status === "done" || p.status === "failed") { window.location.reload(); } else { setTimeout(poll, 800); }
      }).catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 500);
  }

  // Live recipient count while the segment builder changes.
  var seg = document.querySelector("[data-count-url]");
  if (seg) {
    var timer = null;
    var update = function () {
      var data = new FormData(seg);
      var params = new URLSearchParams();
      data.forEach(function (v, k) { if (k !== "csrf_token" && typeof v === "string") { params.append(k, v); } });
      fetch(seg.getAttribute("data-count-url") + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(function (c) {
          var out = document.getElementById("recipient-count");
          if (out) { out.textContent = c.text; }
        }).catch(function () {});
    };
    seg.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(update, 250); });
    seg.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 400); });
  }

  // SMS character and segment count (GSM-7 vs UCS-2).
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXT = "^{}\\[~]|€\f";
  document.querySelectorAll("[data-sms-counter]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-sms-counter"));
    var count = function () {
      var text = area.value, units = 0, gsm = true;
      for (var i = 0; i < text.length; i++) {
        var ch = text.charAt(i);
        if (GSM.indexOf(ch) >= 0) { units += 1; } else if (GSM_EXT.indexOf(ch) >= 0) { units += 2; } else { gsm = false; break; }
      }
      var len = gsm ? units : Array.from(text).length;
      var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
      var segments = len === 0 ? 0 : (len <= single ? 1 : Math.ceil(len / multi));
      out.textContent = len + " characters · " + (gsm ? "GSM-7" : "UCS-2 (special characters)") + " · " + segments + " segment" + (segments === 1 ? "" : "s");
    };
    area.addEventListener("input", count); count();
  });

  // Live email preview: re-render the preview frames after typing stops.
  var prev = document.querySelector("[data-preview-url]");
  if (prev) {
    var ptimer = null;
    var refresh = function () {
      var data = new FormData(prev);
      fetch(prev.getAttribute("data-preview-url"), { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } })
        .then(function (r) { return r.text(); }).then(function (markup) {
          document.querySelectorAll("iframe[data-preview]").forEach(function (f) { f.srcdoc = markup; });
        }).catch(function () {});
    };
    prev.addEventListener("input", function () { clearTimeout(ptimer); ptimer = setTimeout(refresh, 500); });
    prev.addEventListener("change", function () { clearTimeout(ptimer); ptimer = setTimeout(refresh, 300); });
    var bodyField = prev.querySelector("textarea[name=body]");
    if (bodyField && bodyField.value.trim()) { refresh(); }
  }
})();
