"""``--live``: the script injected into HTML pages, served at ``/__simplewsgi__/live.js``.

One file, two roles. In a page, it knows the generation of the worker that served the page
(``data-generation``) and reacts to the events of :mod:`.livehub`: reload when a newer worker
says hello or when templates changed, swap stylesheets in place when only they changed, and
show the reloader's error page over the page while the last reload failed (in a sandboxed
frame: no script of the error page runs, none of the page's reaches it). Run as a
SharedWorker (the same URL), it holds the one event stream that all the tabs of a browser
share: one stream per tab would use up the browser's six connections per host, and the
seventh tab would hang. Browsers without SharedWorker get one stream per tab.
"""

SCRIPT = r"""// simplewsgi --live: refresh this page when the server's code or files change.
(function () {
  "use strict";
  var KINDS = ["hello", "reload", "css", "failed"];
  var RETRY_MS = 1000;

  function follow(url, deliver) {
    // An EventSource that comes back after the server answered something else than a stream
    // (a restart without --live, a 503): EventSource itself gives up on those.
    var source = new EventSource(url);
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (e) { deliver(kind, JSON.parse(e.data)); });
    });
    source.addEventListener("bye", function () {  // that worker stops: the next one serves
      source.close();
      deliver("lost", null);
      follow(url, deliver);
    });
    source.onerror = function () {
      deliver("lost", null);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(function () { follow(url, deliver); }, RETRY_MS);
      }
    };
  }

  if (typeof document === "undefined") {  // the SharedWorker: one stream for every tab
    var ports = [], last = null;
    var send = function (message) {
      ports.forEach(function (port) { port.postMessage(message); });
    };
    follow(new URL("events", self.location.href).href, function (kind, data) {
      if (kind === "lost") { last = null; return; }
      if (kind === "hello") { last = {kind: kind, data: data}; }
      if (kind === "failed" && last) { last.data.failed = true; }
      if ((kind === "reload" || kind === "css") && last) { last.data.changes = data.changes; }
      send({kind: kind, data: data});
    });
    self.onconnect = function (e) {
      var port = e.ports[0];
      ports.push(port);
      port.onmessage = function (m) {  // the page went away, or came back (back/forward)
        ports = ports.filter(function (p) { return p !== port; });
        if (m.data === "back") { ports.push(port); if (last) { port.postMessage(last); } }
      };
      port.start();
      if (last) { port.postMessage(last); }
    };
    return;
  }

  var me = document.currentScript;
  if (!me || window.__simplewsgiLive) { return; }
  window.__simplewsgiLive = true;
  var generation = Number(me.getAttribute("data-generation"));
  var changes = Number(me.getAttribute("data-changes"));
  var base = me.src.replace(/[^/]*$/, "");
  var overlay = null;

  function showError() {
    var src = base + "error?t=" + Date.now();
    if (!overlay) {
      overlay = document.createElement("iframe");
      overlay.id = "simplewsgi-live-error";
      overlay.title = "simplewsgi: the last reload failed";
      overlay.setAttribute("sandbox", "");
      overlay.style.cssText = "position:fixed;top:0;left:0;width:100vw;height:100vh;border:0;" +
        "margin:0;z-index:2147483647;background:#fff";
      document.documentElement.appendChild(overlay);
    }
    overlay.src = src;
  }

  function swapCss(files) {
    var links = [].slice.call(document.querySelectorAll('link[rel~="stylesheet"][href]'));
    var named = links.filter(function (link) {
      return files.indexOf(new URL(link.href).pathname.split("/").pop()) >= 0;
    });
    (named.length ? named : links).forEach(function (old) {
      var url = new URL(old.href);
      url.searchParams.set("simplewsgi-live", String(Date.now()));
      var fresh = old.cloneNode(false);
      fresh.href = url.href;
      fresh.onload = fresh.onerror = function () { old.remove(); };
      old.parentNode.insertBefore(fresh, old.nextSibling);
    });
  }

  function handle(kind, data) {
    if (kind === "hello") {  // a newer worker, or changes made while this page loaded
      window.__simplewsgiLive = "connected";  // for tests, and for the curious
      var stale = data.generation > generation ||
        (data.generation === generation && data.changes > changes);
      if (stale) { location.reload(); }
      else if (data.failed) { showError(); }
    } else if (kind === "reload") {
      location.reload();
    } else if (kind === "css") {
      changes = data.changes;
      swapCss(data.files);
    } else if (kind === "failed") {
      showError();
    }
  }

  if (window.SharedWorker) {
    try {
      var worker = new SharedWorker(me.src, {name: "simplewsgi-live"});
      worker.port.onmessage = function (e) { handle(e.data.kind, e.data.data); };
      worker.port.start();
      window.addEventListener("pagehide", function () { worker.port.postMessage("bye"); });
      window.addEventListener("pageshow", function (e) {
        if (e.persisted) { worker.port.postMessage("back"); }
      });
      return;
    } catch (error) { /* blocked (a sandboxed page, file://): one stream for this tab */ }
  }
  follow(base + "events", handle);
})();
"""
