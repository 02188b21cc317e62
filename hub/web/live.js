// Shared by every page (a classic script, loaded before the pages' modules): a WebSocket that reconnects with bounded backoff, the page's
// connection badge, and a Leaflet map that works without tiles (offline: markers on a blank map).
'use strict';

window.DabbaLive = (function () {
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const MAX_ATTEMPTS = 12;

  /// ws:// or wss:// matching the page, on the page's own host.
  function socketURL(path) {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
  }

  /// Shows `text` in the `#connection` badge; `state` is idle, connecting, live, retrying, closed or failed.
  function showConnection(state, text) {
    const badge = document.getElementById('connection');
    if (!badge) return;
    badge.dataset.state = state;
    badge.textContent = text;
  }

  /// Opens a socket to `await options.url()` and keeps it open: after a drop it waits 1 s, 2 s, 4 s … (capped at
  /// 30 s, with jitter) and gives up after 12 failed attempts in a row. `options.onMessage(object)` gets each JSON
  /// frame; `options.onOpen()` each (re)connection; `options.stopOn(closeEvent)` returns a message to stop with
  /// (no retry) or null; `options.onGiveUp(message)` is called once when it stops. Returns `{ close() }`.
  function connect(options) {
    let socket = null;
    let attempts = 0;
    let timer = null;
    let stopped = false;

    function stop(message, state) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close(1000);
      showConnection(state || 'closed', message);
      if (options.onGiveUp) options.onGiveUp(message);
    }

    function retry() {
      attempts += 1;
      if (attempts > MAX_ATTEMPTS) {
        stop('Disconnected — reload the page to try again', 'failed');
        return;
      }
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempts - 1));
      const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
      showConnection('retrying', 'Reconnecting in ' + Math.ceil(jittered / 1000) + ' s (attempt ' + attempts + ' of ' + MAX_ATTEMPTS + ')');
      timer = setTimeout(open, jittered);
    }

    async function open() {
      if (stopped) return;
      showConnection('connecting', 'Connecting…');
      let url;
      try {
        url = await options.url();
      } catch (error) {
        if (error && error.fatal) { stop(error.message); return; }
        retry();
        return;
      }
      if (stopped) return;
      socket = new WebSocket(url);
      socket.addEventListener('open', function () {
        attempts = 0;
        showConnection('live', 'Live');
        if (options.onOpen) options.onOpen();
      });
      socket.addEventListener('message', function (event) {
        let frame;
        try { frame = JSON.parse(event.data); } catch (_) { return; }
        options.onMessage(frame);
      });
      socket.addEventListener('close', function (event) {
        socket = null;
        if (stopped) return;
        const message = options.stopOn ? options.stopOn(event) : null;
        if (message) stop(message);
        else retry();
      });
    }

    open();
    return { close: function () { stop('Disconnected', 'closed'); } };
  }

  let configPromise = null;

  /// The hub's page configuration (`GET /v1/web-config`, fetched once): `mapTilesURL`, `mapAttribution`,
  /// `paymentMethods`, `testCards`. `{}` when the hub cannot be reached.
  function config() {
    if (!configPromise) {
      configPromise = fetch('/v1/web-config', { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .catch(function () { return {}; });
    }
    return configPromise;
  }

  /// A Leaflet map in `element` with the tiles of the hub's `map-tiles-url` (none when it is empty or the tiles are
  /// unreachable: markers, routes and zones still show on a blank map).
  function makeMap(element, center) {
    const map = L.map(element, { zoomControl: true }).setView(center || [22.3149, 87.3105], 13);
    config().then(function (c) {
      if (!c.mapTilesURL) return;
      L.tileLayer(c.mapTilesURL, {
        maxZoom: 19,
        attribution: c.mapAttribution || '',
        referrerPolicy: 'no-referrer',
      }).addTo(map);
    });
    return map;
  }

  /// "12 s ago", "3 min ago", "2 h ago" for an ISO 8601 time.
  function age(time) {
    const ms = Date.now() - Date.parse(time);
    if (!isFinite(ms)) return 'unknown';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }

  return { socketURL, showConnection, connect, config, makeMap, age };
})();
