// devbox's live refresh client. In development mode nginx adds it to every HTML
// page the app serves, so the app's templates stay as they are. It listens to
// devbox's own channel (the refresh hub at /_devbox/events), not to anything of
// the app's, so it works for any app, across reloads and while the app is down.
// `fab watch` sends "css" (stylesheets swapped in place, the page keeps its
// state) or "page" (the page reloads).
//
// A refresh sent while a page loads (two saves close together) reaches no
// page. So the tab keeps the hub's count of refreshes across its reloads, and
// a page that connects to a larger count reloads once more.
(function () {
  "use strict";
  if (window.devboxRefresh) return; // added twice, e.g. by a page that embeds another
  var state = window.devboxRefresh = { connected: false, refreshes: 0 };

  function swapStylesheets() {
    document.querySelectorAll('link[rel~="stylesheet"]').forEach(function (link) {
      var url = new URL(link.href, location.href);
      if (url.origin !== location.origin) return;
      url.searchParams.set("devbox", Date.now());
      link.href = url.href;
    });
  }

  function reloadPage() {
    // replace() loads the URL afresh without resending a form; with a #hash
    // it would only scroll, so then reload.
    if (location.hash) location.reload(); else location.replace(location.href);
  }

  // Keeps the hub's position for this tab; true when the tab missed a refresh before it.
  function record(position) {
    var last = null;
    try { last = sessionStorage.getItem("devboxRefresh"); } catch (e) { /* storage off */ }
    try { sessionStorage.setItem("devboxRefresh", position.hub + ":" + position.refreshes); } catch (e) { /* off */ }
    if (!last) return false;
    var parts = last.split(":");
    return parts[0] === position.hub && Number(parts[1]) < position.refreshes;
  }

  function listen() {
    var events = new EventSource("/_devbox/events");
    events.onopen = function () { state.connected = true; };
    events.onerror = function () {
      state.connected = false;
      // EventSource retries by itself after a dropped connection, but gives up
      // for good on an answer that is not an event stream (nginx's 503 page
      // while the hub restarts): then start over.
      if (events.readyState === EventSource.CLOSED) setTimeout(listen, 1000);
    };
    events.addEventListener("hello", function (event) {
      if (record(JSON.parse(event.data))) { state.refreshes += 1; reloadPage(); }
    });
    events.addEventListener("refresh", function (event) {
      var data = JSON.parse(event.data);
      record(data);
      state.refreshes += 1;
      if (data.action === "css") swapStylesheets(); else reloadPage();
    });
  }

  listen();
})();
