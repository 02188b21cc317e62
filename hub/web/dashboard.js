// Operator dashboard: sign in, then a live map and list of agents from /v1/fleet/live.
'use strict';

(function () {
  const TOKEN_KEY = 'dabba.accessToken';
  const REFRESH_KEY = 'dabba.refreshToken';
  const $ = function (id) { return document.getElementById(id); };
  const agents = new Map(); // id -> { position, state, marker, item }
  let map = null;
  let live = null;
  let fitted = false;

  function fatal(message) { const e = new Error(message); e.fatal = true; return e; }

  async function postJSON(path, body, token) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const response = await fetch(path, { method: 'POST', headers, body: body ? JSON.stringify(body) : undefined });
    let json = null;
    try { json = await response.json(); } catch (_) { /* empty body */ }
    return { status: response.status, json };
  }

  // A fresh single-use ticket; refreshes the access token once when it expired; signs out when that fails.
  async function ticketURL() {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw fatal('Signed out');
    let answer = await postJSON('/v1/ws-tickets', null, token);
    if (answer.status === 401 && sessionStorage.getItem(REFRESH_KEY)) {
      const refreshed = await postJSON('/v1/auth/refresh', { refreshToken: sessionStorage.getItem(REFRESH_KEY) });
      if (refreshed.status === 200 && refreshed.json && refreshed.json.accessToken) {
        sessionStorage.setItem(TOKEN_KEY, refreshed.json.accessToken);
        if (refreshed.json.refreshToken) sessionStorage.setItem(REFRESH_KEY, refreshed.json.refreshToken);
        token = refreshed.json.accessToken;
        answer = await postJSON('/v1/ws-tickets', null, token);
      }
    }
    if (answer.status === 401 || answer.status === 403) {
      signOut(answer.status === 403 ? 'This account is not an operator.' : 'Your session expired; sign in again.');
      throw fatal('Signed out');
    }
    if (answer.status !== 200 || !answer.json || !answer.json.ticket) throw new Error('no ticket');
    return DabbaLive.socketURL('/v1/fleet/live?ticket=' + encodeURIComponent(answer.json.ticket));
  }

  function entry(id) {
    let agent = agents.get(id);
    if (agent) return agent;
    const item = document.createElement('li');
    item.dataset.agent = id;
    const name = document.createElement('span');
    name.className = 'id';
    name.textContent = id;
    const state = document.createElement('span');
    state.className = 'state';
    const where = document.createElement('span');
    where.className = 'where muted';
    const fix = document.createElement('span');
    fix.className = 'fix muted';
    item.append(name, state, where, fix);
    const list = $('agents');
    const after = Array.from(list.children).find(function (li) { return li.dataset.agent > id; });
    list.insertBefore(item, after || null);
    agent = { position: null, state: null, marker: null, item };
    agents.set(id, agent);
    $('agents-empty').hidden = true;
    $('agent-count').textContent = '(' + agents.size + ')';
    return agent;
  }

  function render(id) {
    const agent = agents.get(id);
    const online = agent.state ? agent.state.online === true : null;
    const state = agent.item.querySelector('.state');
    state.textContent = online === null ? 'state unknown' : online ? 'online' : 'offline';
    state.className = 'state ' + (online === null ? 'muted' : online ? 'online' : 'offline');
    agent.item.dataset.online = online === null ? '' : String(online);
    const p = agent.position;
    if (p) {
      const lat = Number(p.lat).toFixed(5);
      const lon = Number(p.lon).toFixed(5);
      agent.item.dataset.lat = lat;
      agent.item.dataset.lon = lon;
      agent.item.querySelector('.where').textContent = lat + ', ' + lon;
      agent.item.querySelector('.fix').textContent = 'last fix ' + DabbaLive.age(p.time);
      if (map) {
        const color = online === false ? '#c62828' : '#1a7f37';
        if (!agent.marker) {
          agent.marker = L.circleMarker([p.lat, p.lon], { radius: 8, weight: 2, color, fillOpacity: 0.7 })
            .bindTooltip(id).addTo(map);
        } else {
          agent.marker.setLatLng([p.lat, p.lon]).setStyle({ color });
        }
      }
    }
  }

  function fitOnce() {
    if (fitted || !map) return;
    const points = Array.from(agents.values()).filter(function (a) { return a.position; })
      .map(function (a) { return [a.position.lat, a.position.lon]; });
    if (points.length === 0) return;
    fitted = true;
    map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 15 });
  }

  function onFrame(frame) {
    if (frame.type === 'snapshot') {
      (frame.states || []).forEach(function (s) { entry(s.agent).state = s; render(s.agent); });
      (frame.positions || []).forEach(function (p) { entry(p.agent).position = p.position; render(p.agent); });
      fitOnce();
    } else if (frame.type === 'position' && frame.agent && frame.position) {
      entry(frame.agent).position = frame.position;
      render(frame.agent);
      fitOnce();
    } else if (frame.type === 'state' && frame.agent && frame.state) {
      entry(frame.agent).state = frame.state;
      render(frame.agent);
    }
  }

  function showDashboard() {
    $('signin-view').hidden = true;
    $('dashboard-view').hidden = false;
    $('signout').hidden = false;
    if (!map) map = DabbaLive.makeMap($('map'));
    map.invalidateSize();
    live = DabbaLive.connect({ url: ticketURL, onMessage: onFrame });
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    if (live) { live.close(); live = null; }
    DabbaLive.showConnection('idle', 'Not connected');
    $('dashboard-view').hidden = true;
    $('signout').hidden = true;
    $('signin-view').hidden = false;
    $('signin-error').textContent = message || '';
    $('email').focus();
  }

  $('signin').addEventListener('submit', async function (event) {
    event.preventDefault();
    $('signin-error').textContent = '';
    const button = event.target.querySelector('button');
    button.disabled = true;
    try {
      const answer = await postJSON('/v1/auth/login', { email: $('email').value, password: $('password').value });
      if (answer.status !== 200 || !answer.json || !answer.json.accessToken) {
        $('signin-error').textContent = answer.status === 401 ? 'Wrong email or password.' : 'Sign-in failed (' + answer.status + ').';
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, answer.json.accessToken);
      if (answer.json.refreshToken) sessionStorage.setItem(REFRESH_KEY, answer.json.refreshToken);
      $('password').value = '';
      showDashboard();
    } catch (_) {
      $('signin-error').textContent = 'The hub is unreachable.';
    } finally {
      button.disabled = false;
    }
  });
  $('signout').addEventListener('click', function () { signOut(''); });

  // Fix ages keep counting between updates.
  setInterval(function () {
    agents.forEach(function (agent) {
      if (agent.position) agent.item.querySelector('.fix').textContent = 'last fix ' + DabbaLive.age(agent.position.time);
    });
  }, 1000);

  if (sessionStorage.getItem(TOKEN_KEY)) showDashboard();
})();
