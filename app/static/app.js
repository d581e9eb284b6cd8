// Live notifications. The page works without this file (the form posts and
// redirects); with it, new notifications appear as they are sent, and the ones
// sent while the connection was down are fetched when it comes back.
(function () {
  "use strict";

  var list = document.getElementById("notifications");
  var statusEl = document.getElementById("status");
  var form = document.getElementById("notify-form");
  var textEl = document.getElementById("text");
  var errorEl = document.getElementById("form-error");
  var highest = 0; // highest notification id on the page: where catch-up starts

  function idOf(el) { return Number(el.getAttribute("data-id")); }

  function showTime(timeEl) {
    var d = new Date(timeEl.getAttribute("datetime"));
    if (!isNaN(d)) timeEl.textContent = d.toLocaleString();
  }

  // Inserted in id order (newest first) and at most once: live events and the
  // catch-up fetch may deliver the same notification, in either order.
  function insert(n) {
    if (list.querySelector('[data-id="' + n.id + '"]')) return;
    var li = document.createElement("li");
    li.setAttribute("data-id", n.id);
    var p = document.createElement("p");
    p.className = "text";
    p.textContent = n.text;
    var time = document.createElement("time");
    time.setAttribute("datetime", n.created_at);
    time.textContent = n.created_at;
    showTime(time);
    li.append(p, time);
    var before = Array.prototype.find.call(list.children, function (el) { return idOf(el) < n.id; });
    list.insertBefore(li, before || null);
    highest = Math.max(highest, n.id);
  }

  function setStatus(state, text) {
    statusEl.hidden = false;
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  // Pages until one comes back empty, so a long outage is fully caught up.
  function catchUp(pagesLeft) {
    if (pagesLeft === 0) return;
    fetch("/api/notifications/?after=" + highest, { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (items) {
        items.forEach(insert);
        if (items.length) catchUp(pagesLeft - 1);
      })
      .catch(function (err) { console.warn("catch-up failed; retrying on the next reconnect", err); });
  }

  Array.prototype.forEach.call(list.children, function (el) {
    highest = Math.max(highest, idOf(el));
  });
  Array.prototype.forEach.call(list.querySelectorAll("time"), showTime);

  var socket = io();
  setStatus("connecting", "connecting…");
  socket.on("connect", function () {
    setStatus("live", "live");
    catchUp(20);
  });
  socket.on("disconnect", function () { setStatus("reconnecting", "reconnecting…"); });
  socket.on("connect_error", function () { setStatus("reconnecting", "reconnecting…"); });
  socket.on("notification", insert);

  // Sends over the socket when it is up; otherwise the form posts as usual.
  form.addEventListener("submit", function (event) {
    if (!socket.connected) return;
    event.preventDefault();
    errorEl.textContent = "";
    var button = form.querySelector("button");
    button.disabled = true;
    socket.timeout(5000).emit("notify", { text: textEl.value }, function (err, ack) {
      button.disabled = false;
      if (err) {
        errorEl.textContent = "The server did not answer; try again.";
      } else if (!ack.ok) {
        errorEl.textContent = ack.error;
      } else {
        textEl.value = "";
      }
      textEl.focus();
    });
  });
})();
