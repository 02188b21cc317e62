// The operator console at / (ES module): the fleet map with zones and every agent's shift, outbox and cash; orders
// with filters and a detail page (timeline, payments, the dispatch decisions with the candidates' costs, the rider's
// trail, assign and unassign); alerts; the day's cash reconciliation and the ledger; webhook endpoints and their
// delivery log; and a platform-health panel read from the hub's own /metrics. Positions and online states arrive on
// /v1/fleet/live (the badge shows that connection); the rest is read when a screen opens and every few seconds while
// it shows.
import { createSession, errorText, money, minorUnits, idempotencyKey, say, busy, el, wireSignIn } from './session.js';

/** Statuses as operators say them (the customer's page has its own, longer words). */
const LABELS = {
  placed: 'Placed', confirmed: 'Confirmed', rejected: 'Rejected', preparing: 'Preparing', ready_for_pickup: 'Ready for pickup',
  assigned: 'Assigned', picked_up: 'Picked up', delivered: 'Delivered', cancelled: 'Cancelled', failed: 'Failed',
};
function label(status) { return LABELS[status] || status || '—'; }

const $ = function (id) { return document.getElementById(id); };
const session = createSession('operator', 'operator', function (message) { signedOut(message); });
const POLL_MS = { fleet: 10000, orders: 10000, order: 5000, alerts: 15000, health: 5000, money: 30000, webhooks: 15000 };

let live = null;
let map = null;
let zonesLayer = null;
let orderMap = null;
let orderLayer = null;
let fitted = false;
let timer = null;
let alertTimer = null;
let view = null;
let seenAlert = Number(sessionStorage.getItem('dabba.operator.seenAlert') || 0);
const agents = new Map(); // id -> { position, online, record, marker, item }
const restaurants = new Map(); // id -> Restaurant
let ordersNext = null;
let lastMetrics = null; // { at, values }

// MARK: - Small helpers

function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isFinite(d) ? d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : iso;
}

function millisTime(ms) { return time(new Date(ms).toISOString()); }

function row(cells, attributes) {
  const tr = document.createElement('tr');
  Object.keys(attributes || {}).forEach(function (k) { tr.dataset[k] = attributes[k]; });
  cells.forEach(function (cell) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell); else td.textContent = cell === null || cell === undefined ? '—' : String(cell);
    tr.append(td);
  });
  return tr;
}

function link(href, text) {
  const a = el('a', null, text);
  a.href = href;
  return a;
}

function orderLink(id) { return link('#/orders/' + encodeURIComponent(id), id); }

/** Tooltip content as text: Leaflet inserts a string tooltip as HTML, and names come from other users. */
function tip(text) { return el('span', null, text); }

function restaurantName(id) { const r = restaurants.get(id); return r ? r.name : id; }

function fail(answer) { say($('console-error'), errorText(answer)); }

/** GET `path`; the JSON, or null after saying what went wrong. */
async function read(path) {
  const answer = await session.api('GET', path);
  if (answer.status !== 200) { fail(answer); return null; }
  say($('console-error'), '');
  return answer.json;
}

function seconds(value) {
  if (value === null || value === undefined || !isFinite(value)) return '—';
  if (value < 1) return Math.round(value * 1000) + ' ms';
  if (value < 120) return value.toFixed(1) + ' s';
  if (value < 7200) return Math.round(value / 60) + ' min';
  return Math.round(value / 3600) + ' h';
}

// MARK: - Fleet

function agentEntry(id) {
  let agent = agents.get(id);
  if (agent) return agent;
  const item = el('li');
  item.dataset.agent = id;
  item.append(
    el('span', 'id', id), el('span', 'state'), el('span', 'shift muted'), el('span', 'where muted'),
    el('span', 'fix muted'), el('span', 'outbox muted'), el('span', 'cash muted'), el('span', 'load muted'));
  const list = $('agents');
  const after = Array.from(list.children).find(function (li) { return li.dataset.agent > id; });
  list.insertBefore(item, after || null);
  agent = { position: null, online: null, record: null, marker: null, item };
  agents.set(id, agent);
  $('agents-empty').hidden = true;
  $('agent-count').textContent = '(' + agents.size + ')';
  return agent;
}

function cashText(record) {
  const held = (record.cash || []).filter(function (c) { return c.held !== 0; });
  const currency = held.length ? held[0].currency : 'INR';
  const limit = money(record.cashLimit, currency);
  if (held.length === 0) return 'cash: none of ' + limit;
  return 'cash: ' + held.map(function (c) { return money(c.held, c.currency); }).join(', ') + ' of ' + limit;
}

function renderAgent(id) {
  const agent = agents.get(id);
  const item = agent.item;
  const online = agent.online;
  const state = item.querySelector('.state');
  state.textContent = online === null ? 'state unknown' : online ? 'online' : 'offline';
  state.className = 'state ' + (online === null ? 'muted' : online ? 'online' : 'offline');
  item.dataset.online = online === null ? '' : String(online);
  const r = agent.record;
  if (r) {
    item.querySelector('.shift').textContent = r.onShift ? 'on shift' : 'off shift';
    item.dataset.shift = r.onShift ? 'on' : 'off';
    item.querySelector('.outbox').textContent = r.outboxDepth === undefined ? 'outbox: not reported'
      : 'outbox: ' + r.outboxDepth + (r.outboxDepth > 0 && r.oldestUnsentAge ? ' (oldest ' + seconds(r.oldestUnsentAge) + ')' : '');
    item.querySelector('.cash').textContent = cashText(r);
    item.dataset.cash = String((r.cash || []).reduce(function (sum, c) { return sum + c.held; }, 0));
    const load = item.querySelector('.load');
    load.textContent = '';
    if ((r.carrying || []).length) {
      load.append('carrying ');
      r.carrying.forEach(function (order, i) { if (i) load.append(', '); load.append(orderLink(order)); });
    }
  }
  const p = agent.position;
  if (p) {
    const lat = Number(p.lat).toFixed(5);
    const lon = Number(p.lon).toFixed(5);
    item.dataset.lat = lat;
    item.dataset.lon = lon;
    item.querySelector('.where').textContent = lat + ', ' + lon;
    item.querySelector('.fix').textContent = 'last fix ' + DabbaLive.age(p.time);
    if (map) {
      const color = online === false ? '#c62828' : r && !r.onShift ? '#5b6570' : '#1a7f37';
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
    (frame.states || []).forEach(function (s) { agentEntry(s.agent).online = s.online === true; renderAgent(s.agent); });
    (frame.positions || []).forEach(function (p) { agentEntry(p.agent).position = p.position; renderAgent(p.agent); });
    fitOnce();
  } else if (frame.type === 'position' && frame.agent && frame.position) {
    agentEntry(frame.agent).position = frame.position;
    renderAgent(frame.agent);
    fitOnce();
  } else if (frame.type === 'state' && frame.agent && frame.state) {
    agentEntry(frame.agent).online = frame.state.online === true;
    renderAgent(frame.agent);
  }
}

/** Shifts, outboxes, loads and cash (GET /v1/agents) into the fleet list, and the agents for the order screens' pickers;
 * positions and online states come from the live feed. */
async function readAgents() {
  const json = await read('/v1/agents');
  if (!json) return [];
  const list = json.agents || [];
  list.forEach(function (r) {
    const agent = agentEntry(r.id);
    agent.record = r;
    if (agent.online === null) agent.online = r.online;
    if (!agent.position && r.last) agent.position = r.last;
    renderAgent(r.id);
  });
  const online = list.filter(function (r) { return r.online; }).length;
  const onShift = list.filter(function (r) { return r.onShift; }).length;
  const busyAgents = list.filter(function (r) { return (r.carrying || []).length; }).length;
  $('fleet-summary').textContent = online + ' online, ' + onShift + ' on shift, ' + busyAgents + ' carrying orders';
  fitOnce();
  return list;
}

async function readZones() {
  const json = await read('/v1/zones?limit=100');
  if (!json || !map) return;
  if (zonesLayer) zonesLayer.remove();
  zonesLayer = L.layerGroup().addTo(map);
  (json.zones || []).forEach(function (z) {
    const ring = (z.polygon || []).map(function (p) { return [p[1], p[0]]; });
    L.polygon(ring, {
      color: z.active ? '#0b6bcb' : '#9aa4ae', weight: 2, fillOpacity: 0.05, dashArray: z.active ? null : '4', className: 'zone',
    })
      .bindTooltip(tip(z.name + ' · fee ' + money(z.deliveryFee, z.currency) + (z.active ? '' : ' (inactive)')))
      .addTo(zonesLayer);
  });
  $('map').dataset.zones = String((json.zones || []).length);
}

async function showFleet() {
  if (!map) map = DabbaLive.makeMap($('map'));
  map.invalidateSize();
  await readAgents();
  await readZones();
}

// MARK: - Orders

async function readRestaurants() {
  if (restaurants.size) return;
  let cursor = null;
  for (let page = 0; page < 20; page += 1) {
    const json = await read('/v1/restaurants?limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    if (!json) return;
    (json.restaurants || []).forEach(function (r) { restaurants.set(r.id, r); });
    cursor = json.next;
    if (!cursor) break;
  }
  const pick = $('filter-restaurant');
  Array.from(restaurants.values()).sort(function (a, b) { return a.name.localeCompare(b.name); }).forEach(function (r) {
    const option = el('option', null, r.name);
    option.value = r.id;
    pick.append(option);
  });
}

function fillAgentPicks(list) {
  const filter = $('filter-agent');
  const chosen = filter.value;
  filter.replaceChildren(Object.assign(el('option', null, 'Any'), { value: '' }));
  list.forEach(function (r) { filter.append(Object.assign(el('option', null, r.id + (r.name ? ' — ' + r.name : '')), { value: r.id })); });
  filter.value = chosen;
}

function ordersQuery() {
  const parts = ['limit=50'];
  if ($('filter-status').value) parts.push('status=' + encodeURIComponent($('filter-status').value));
  if ($('filter-restaurant').value) parts.push('restaurant=' + encodeURIComponent($('filter-restaurant').value));
  if ($('filter-agent').value) parts.push('agent=' + encodeURIComponent($('filter-agent').value));
  return '/v1/orders?' + parts.join('&');
}

function orderRow(o) {
  return row([time(o.createdAt), orderLink(o.id), restaurantName(o.restaurant), o.agent || '—', money(o.total, o.currency), label(o.status)],
    { order: o.id, status: o.status });
}

async function readOrders(more) {
  const json = await read(ordersQuery() + (more && ordersNext ? '&cursor=' + encodeURIComponent(ordersNext) : ''));
  if (!json) return;
  const rows = (json.orders || []).map(orderRow);
  if (more) $('orders').append.apply($('orders'), rows); else $('orders').replaceChildren.apply($('orders'), rows);
  ordersNext = json.next || null;
  $('orders-more').hidden = !ordersNext;
  $('orders-empty').hidden = $('orders').children.length > 0;
}

async function showOrders() {
  await readRestaurants();
  if ($('filter-agent').options.length <= 1) fillAgentPicks(await readAgents());
  await readOrders(false);
}

// MARK: - One order

let shownOrder = null;

function summaryEntry(term, value) {
  const dt = el('dt', null, term);
  const dd = el('dd');
  if (value instanceof Node) dd.append(value); else dd.textContent = value === null || value === undefined ? '—' : String(value);
  return [dt, dd];
}

async function showOrder(id) {
  const [order, events, payments, dispatch] = await Promise.all([
    session.api('GET', '/v1/orders/' + encodeURIComponent(id)),
    session.api('GET', '/v1/orders/' + encodeURIComponent(id) + '/events'),
    session.api('GET', '/v1/orders/' + encodeURIComponent(id) + '/payments'),
    session.api('GET', '/v1/orders/' + encodeURIComponent(id) + '/dispatch'),
  ]);
  if (order.status !== 200) {
    say($('order-error'), errorText(order));
    $('order-title').textContent = 'Order ' + id;
    return;
  }
  say($('order-error'), '');
  await readRestaurants();
  const o = order.json;
  const view = $('view-order');
  view.dataset.order = o.id;
  view.dataset.status = o.status;
  $('order-title').textContent = 'Order ' + o.id + ' — ' + label(o.status);
  const summary = [];
  [
    ['Restaurant', restaurantName(o.restaurant)], ['Customer', 'user ' + o.customer], ['Deliver to', o.address],
    ['Agent', o.agent || 'none'], ['Payment', o.paymentMethod === 'cod' ? 'cash on delivery' : 'card'],
    ['Total', money(o.total, o.currency) + ' (items ' + money(o.subtotal, o.currency) + ', delivery ' + money(o.deliveryFee, o.currency) + ', tax ' + money(o.tax, o.currency) + ')'],
    ['Placed', time(o.createdAt)], ['Prep', o.prepMinutes ? o.prepMinutes + ' min' : null],
  ].forEach(function (pair) { summary.push.apply(summary, summaryEntry(pair[0], pair[1])); });
  $('order-summary').replaceChildren.apply($('order-summary'), summary);
  $('order-items').replaceChildren.apply($('order-items'), (o.items || []).map(function (item) {
    const li = el('li', 'line');
    li.append(el('span', 'title', item.quantity + ' × ' + item.name
      + ((item.options || []).length ? ' (' + item.options.map(function (x) { return x.name; }).join(', ') + ')' : '')),
    el('span', 'price', money(item.lineTotal, o.currency)));
    return li;
  }));

  const trail = events.status === 200 ? events.json.events || [] : [];
  $('order-events').replaceChildren.apply($('order-events'), trail.map(function (e) {
    const note = [e.reason, e.cashCollected !== undefined ? 'cash collected ' + money(e.cashCollected, o.currency) : null]
      .filter(Boolean).join('; ');
    const what = e.action === 'unassign' ? 'Unassigned — back to ' + label(e.status).toLowerCase() : label(e.status);
    return row([time(e.time), what, e.actor + (e.agent && e.actor !== 'agent:' + e.agent ? ' (agent ' + e.agent + ')' : ''), note || ''],
      { status: e.status, action: e.action || '' });
  }));

  const pays = payments.status === 200 ? payments.json.payments || [] : [];
  $('order-payments').replaceChildren.apply($('order-payments'), pays.length ? pays.map(function (p) {
    return row([p.id, p.method === 'cod' ? 'cash' : 'card' + (p.cardLast4 ? ' …' + p.cardLast4 : ''),
      p.state.replace(/_/g, ' ') + (p.failure ? ' (' + p.failure.replace(/_/g, ' ') + ')' : ''),
      money(p.amount, p.currency), money(p.captured || 0, p.currency), money(p.refunded || 0, p.currency)], { payment: p.id });
  }) : [row(['No payment yet', '', '', '', '', ''])]);

  const decisions = dispatch.status === 200 ? dispatch.json.decisions || [] : [];
  $('order-decisions').replaceChildren.apply($('order-decisions'), decisions.length ? decisions.map(function (d) {
    const candidates = el('ol', 'candidates');
    (d.candidates || []).forEach(function (c) {
      const li = el('li', null, c.agent + ': cost ' + Number(c.cost).toFixed(1) + ', ETA ' + seconds(c.etaSeconds));
      li.dataset.agent = c.agent;
      candidates.append(li);
    });
    const outcome = d.outcome.replace(/_/g, ' ') + (d.reason ? ' — ' + d.reason : '') + ' (' + d.policy + ')';
    return row([time(d.time), outcome, d.agent || '—', (d.candidates || []).length ? candidates : 'no candidate'], { outcome: d.outcome });
  }) : [row(['No decision yet', '', '', ''])]);
  const offers = dispatch.status === 200 ? dispatch.json.offers || [] : [];
  $('order-offers').replaceChildren.apply($('order-offers'), offers.map(function (f) {
    return el('li', 'line', f.agent + ': ' + f.state + ' (offered ' + time(f.created) + ', answer by ' + time(f.deadline) + ')'
      + (f.reason ? ' — ' + f.reason : ''));
  }));

  const canAssign = ['confirmed', 'preparing', 'ready_for_pickup'].includes(o.status) && !o.agent;
  $('assign').hidden = !canAssign;
  $('unassign').hidden = o.status !== 'assigned';
  if (canAssign && shownOrder !== o.id + ':assign') {
    const list = await readAgents();
    const pick = $('assign-agent');
    pick.replaceChildren.apply(pick, list.filter(function (r) { return r.onShift && r.online; }).map(function (r) {
      return Object.assign(el('option', null, r.id + (r.carrying && r.carrying.length ? ' (carrying ' + r.carrying.length + ')' : '')), { value: r.id });
    }));
    if (!pick.options.length) pick.append(Object.assign(el('option', null, 'No agent is online and on shift'), { value: '' }));
  }
  shownOrder = o.id + (canAssign ? ':assign' : '');
  await drawTrail(o, trail);
}

/** The restaurant, the destination and the rider's track from assignment to delivery (or now). */
async function drawTrail(o, trail) {
  if (!orderMap) orderMap = DabbaLive.makeMap($('order-map'));
  orderMap.invalidateSize();
  if (orderLayer) orderLayer.remove();
  orderLayer = L.layerGroup().addTo(orderMap);
  const points = [[o.lat, o.lon]];
  L.circleMarker([o.lat, o.lon], { radius: 8, color: '#c62828' }).bindTooltip('Destination').addTo(orderLayer);
  const restaurant = restaurants.get(o.restaurant);
  if (restaurant) {
    points.push([restaurant.location.lat, restaurant.location.lon]);
    L.circleMarker([restaurant.location.lat, restaurant.location.lon], { radius: 8, color: '#9a6700' })
      .bindTooltip(tip(restaurant.name)).addTo(orderLayer);
  }
  const assigned = trail.filter(function (e) { return e.status === 'assigned'; }).pop();
  const agent = o.agent || (assigned && assigned.agent);
  $('order-track').textContent = '';
  if (assigned && agent) {
    const end = trail.find(function (e) { return ['delivered', 'failed', 'cancelled'].includes(e.status) && e.time >= assigned.time; });
    const path = '/v1/agents/' + encodeURIComponent(agent) + '/track?since=' + encodeURIComponent(assigned.time)
      + (end ? '&until=' + encodeURIComponent(new Date(Date.parse(end.time) + 1000).toISOString()) : '');
    const answer = await session.api('GET', path);
    if (answer.status === 200 && answer.json) {
      const coordinates = answer.json.geometry ? answer.json.geometry.coordinates : [];
      const line = coordinates.map(function (c) { return [c[1], c[0]]; });
      if (line.length) {
        L.polyline(line, { color: '#0b6bcb', weight: 3 }).addTo(orderLayer);
        points.push.apply(points, line);
      }
      const count = answer.json.properties.count;
      $('order-track').textContent = agent + "'s track since the assignment: " + count + (count === 1 ? ' fix' : ' fixes')
        + (answer.json.properties.truncated ? ' (first 10,000)' : '');
      $('order-map').dataset.trackPoints = String(answer.json.properties.count);
    }
  }
  orderMap.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 16 });
}

$('assign').addEventListener('submit', async function (event) {
  event.preventDefault();
  const id = $('view-order').dataset.order;
  if (!$('assign-agent').value) return;
  await busy(event.target.querySelector('button'), async function () {
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(id) + '/assign', { agent: $('assign-agent').value });
    say($('order-error'), answer.status === 200 ? '' : errorText(answer));
  });
  shownOrder = null;
  await showOrder(id);
});

$('unassign').addEventListener('submit', async function (event) {
  event.preventDefault();
  const id = $('view-order').dataset.order;
  await busy(event.target.querySelector('button'), async function () {
    const reason = $('unassign-reason').value.trim();
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(id) + '/unassign', reason ? { reason } : {});
    say($('order-error'), answer.status === 200 ? '' : errorText(answer));
    if (answer.status === 200) $('unassign-reason').value = '';
  });
  shownOrder = null;
  await showOrder(id);
});

// MARK: - Alerts

async function readAlerts() {
  const json = await read('/v1/alerts');
  if (!json) return;
  const alerts = json.alerts || [];
  const fresh = alerts.filter(function (a) { return a.id > seenAlert; }).length;
  $('alert-count').textContent = fresh ? '(' + fresh + ')' : '';
  if (view === 'alerts') {
    $('alerts').replaceChildren.apply($('alerts'), alerts.map(function (a) {
      return row([millisTime(a.time), a.kind.replace(/_/g, ' '), a.agent || '—', a.order ? orderLink(a.order) : '—', a.message],
        { alert: String(a.id), kind: a.kind });
    }));
    $('alerts-empty').hidden = alerts.length > 0;
    if (alerts.length) {
      seenAlert = Math.max(seenAlert, alerts[0].id);
      sessionStorage.setItem('dabba.operator.seenAlert', String(seenAlert));
      $('alert-count').textContent = '';
    }
  }
}

// MARK: - Money

async function showMoney() {
  if (!$('recon-date').value) $('recon-date').value = new Date().toISOString().slice(0, 10);
  const [recon, balances] = await Promise.all([
    read('/v1/ledger/reconciliation?date=' + encodeURIComponent($('recon-date').value)),
    read('/v1/ledger/balances'),
  ]);
  if (recon) {
    const agentsRows = recon.agents || [];
    $('recon').replaceChildren.apply($('recon'), agentsRows.map(function (a) {
      const c = a.currency;
      const check = a.flagged
        ? 'Check: ' + [a.collectionDifference ? 'collected ' + money(a.collectionDifference, c) + ' vs expected' : null,
          a.handInDifference ? 'handed in ' + money(a.handInDifference, c) + ' vs collected' : null].filter(Boolean).join('; ')
        : 'Balanced';
      return row([a.agent, a.orders, money(a.expected, c), money(a.collected, c), money(a.handedIn, c), money(a.heldNow, c), check],
        { agent: a.agent, flagged: String(a.flagged) });
    }));
    $('recon-empty').hidden = agentsRows.length > 0;
  }
  if (balances) {
    $('balances').replaceChildren.apply($('balances'), (balances.accounts || []).map(function (b) {
      return row([b.account, money(b.debits, b.currency), money(b.credits, b.currency), money(b.balance, b.currency)],
        { account: b.account, currency: b.currency });
    }));
    const totals = (balances.totals || []).map(function (t) {
      return t.currency + ': debits ' + money(t.debits, t.currency) + ', credits ' + money(t.credits, t.currency)
        + (t.debits === t.credits ? ' — balanced' : ' — NOT balanced');
    });
    $('ledger-totals').textContent = totals.length ? totals.join('; ') : 'The ledger is empty.';
    $('ledger-totals').dataset.balanced = String((balances.totals || []).every(function (t) { return t.debits === t.credits; }));
  }
}

$('recon-form').addEventListener('submit', function (event) { event.preventDefault(); showMoney(); });

// One key per hand-in: a retry after a network failure sends the same key, so the hub records it once.
let handin = { key: null, body: null };

$('handin').addEventListener('submit', async function (event) {
  event.preventDefault();
  const currency = $('handin-currency').value.trim().toUpperCase();
  const amount = minorUnits($('handin-amount').value, currency);
  $('handin-status').textContent = '';
  if (!amount) { say($('handin-error'), 'Amount: a positive amount such as 120 or 120.50.'); return; }
  await busy(event.target.querySelector('button'), async function () {
    const body = { agent: $('handin-agent').value.trim(), amount, currency };
    if ($('handin-note').value.trim()) body.note = $('handin-note').value.trim();
    if (handin.body !== JSON.stringify(body)) handin = { key: idempotencyKey(), body: JSON.stringify(body) };
    const answer = await session.api('POST', '/v1/ledger/cash-handins', body, { headers: { 'Idempotency-Key': handin.key } });
    if (!answer.network) handin = { key: null, body: null };
    if (answer.status !== 201) { say($('handin-error'), errorText(answer)); return; }
    say($('handin-error'), '');
    $('handin-status').textContent = 'Recorded ' + money(amount, currency) + ' from ' + body.agent + '; they hold '
      + money(answer.json.heldNow, currency) + ' now.';
    $('handin-amount').value = '';
    $('handin-note').value = '';
  });
  await showMoney();
});

// MARK: - Webhooks

let shownWebhook = null;

async function showWebhooks() {
  await readRestaurants();
  const json = await read('/v1/webhooks');
  if (!json) return;
  const hooks = json.webhooks || [];
  $('webhooks').replaceChildren.apply($('webhooks'), hooks.map(function (w) {
    const button = el('button', 'secondary small', 'Delivery log');
    button.type = 'button';
    button.setAttribute('aria-label', 'Delivery log of ' + w.id);
    button.addEventListener('click', function () { shownWebhook = w.id; readDeliveries(); });
    return row([w.id, w.url, w.restaurant ? restaurantName(w.restaurant) : 'every restaurant',
      (w.statuses || []).length ? w.statuses.map(label).join(', ') : 'all', button], { webhook: w.id });
  }));
  $('webhooks-empty').hidden = hooks.length > 0;
  if (shownWebhook) await readDeliveries();
}

async function readDeliveries() {
  const json = await read('/v1/webhooks/' + encodeURIComponent(shownWebhook) + '/deliveries?limit=100');
  if (!json) return;
  $('deliveries-section').hidden = false;
  $('deliveries-section').dataset.webhook = shownWebhook;
  $('deliveries-title').textContent = 'Delivery log of ' + shownWebhook;
  const list = json.deliveries || [];
  $('deliveries').replaceChildren.apply($('deliveries'), list.map(function (d) {
    const answer = d.lastStatus ? 'HTTP ' + d.lastStatus : d.lastError || '—';
    return row([time(d.createdAt), d.event, d.state, d.attempts, answer, d.state === 'pending' ? time(d.nextAttempt) : '—'],
      { delivery: String(d.id), state: d.state });
  }));
  $('deliveries-empty').hidden = list.length > 0;
}

// MARK: - Health

/** Prometheus text → { name: [{ labels, value }] } (no timestamps, comments skipped). */
function parseMetrics(text) {
  const values = {};
  text.split('\n').forEach(function (line) {
    if (!line || line[0] === '#') return;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) return;
    const labels = {};
    (match[2] || '').replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g, function (_, k, v) { labels[k] = v; return ''; });
    (values[match[1]] = values[match[1]] || []).push({ labels, value: Number(match[3]) });
  });
  return values;
}

function sum(values, name, filter) {
  const samples = values[name];
  if (!samples) return null;
  return samples.filter(function (s) { return !filter || filter(s.labels); }).reduce(function (t, s) { return t + s.value; }, 0);
}

function rate(now, name, filter) {
  if (!lastMetrics) return null;
  const a = sum(lastMetrics.values, name, filter);
  const b = sum(now.values, name, filter);
  const dt = (now.at - lastMetrics.at) / 1000;
  if (dt <= 0) return null;
  if (a === null && b === null) return 0; // nothing counted yet
  if (a === null || b === null) return b === null ? null : b / dt;
  return Math.max(0, b - a) / dt;
}

function fixed(value, digits) { return value === null || value === undefined ? '—' : value.toFixed(digits); }

async function showHealth() {
  let text;
  try {
    const response = await fetch('/metrics', { headers: { Accept: 'text/plain' } });
    if (!response.ok) { say($('console-error'), 'The hub\'s metrics answered ' + response.status + '.'); return; }
    text = await response.text();
  } catch (_) {
    say($('console-error'), 'The service cannot be reached; check your connection and try again.');
    return;
  }
  const now = { at: Date.now(), values: parseMetrics(text) };
  const v = now.values;
  const tiles = [
    ['ingest', 'Fixes and events committed', lastMetrics ? fixed(rate(now, 'dabba_ingest_committed_total'), 1) + ' /s' : 'measuring…'],
    ['rejects', 'Input rejected', lastMetrics ? fixed(rate(now, 'dabba_ingest_rejected_total'), 2) + ' /s' : 'measuring…'],
    ['agents-online', 'Agents online', fixed(sum(v, 'dabba_agents_online'), 0)],
    ['websockets', 'Live WebSockets', fixed(sum(v, 'dabba_ws_connections'), 0)],
    ['dispatch-queue', 'Orders waiting for an agent', fixed(sum(v, 'dabba_dispatch_queue_orders'), 0)],
    ['dispatch-wait', 'Longest wait for an agent', seconds(sum(v, 'dabba_dispatch_queue_oldest_seconds'))],
    ['webhook-backlog', 'Webhook deliveries waiting', fixed(sum(v, 'dabba_webhook_backlog'), 0)],
    ['webhook-oldest', 'Oldest waiting delivery', seconds(sum(v, 'dabba_webhook_backlog_oldest_seconds'))],
    ['payment-lag', 'Payment reactor lag', seconds(sum(v, 'dabba_payment_reactor_lag_seconds'))],
    ['dead-letters', 'Payment dead letters', fixed(sum(v, 'dabba_payment_dead_letters'), 0)],
  ];
  const nodes = [];
  tiles.forEach(function (t) {
    const dt = el('dt', null, t[1]);
    const dd = el('dd', null, t[2]);
    dd.dataset.metric = t[0];
    const wrap = el('div', 'tile');
    wrap.append(dt, dd);
    nodes.push(wrap);
  });
  $('health').replaceChildren.apply($('health'), nodes);
  const reasons = {};
  (v.dabba_ingest_rejected_total || []).forEach(function (s) {
    const reason = s.labels.reason || 'other';
    reasons[reason] = (reasons[reason] || 0) + s.value;
  });
  const keys = Object.keys(reasons).filter(function (k) { return reasons[k] > 0; }).sort();
  $('health-rejects').replaceChildren.apply($('health-rejects'), keys.length ? keys.map(function (k) {
    const li = el('li', 'line', k.replace(/_/g, ' ') + ': ' + reasons[k] + ' since the hub started');
    li.dataset.reason = k;
    return li;
  }) : [el('li', 'line muted', 'None since the hub started.')]);
  lastMetrics = now;
}

// MARK: - Screens

const SCREENS = {
  fleet: showFleet, orders: showOrders, alerts: readAlerts, money: showMoney, webhooks: showWebhooks, health: showHealth,
};

function route() {
  if (!session.signedIn()) return;
  const parts = (location.hash || '#/fleet').slice(2).split('/');
  const name = parts[0] === 'orders' && parts[1] ? 'order' : SCREENS[parts[0]] ? parts[0] : 'fleet';
  const changed = name !== view;
  view = name;
  document.querySelectorAll('main[data-view]').forEach(function (m) { m.hidden = m.dataset.view !== name; });
  document.querySelectorAll('#nav a').forEach(function (a) {
    if (a.dataset.view === name || (name === 'order' && a.dataset.view === 'orders')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.body.dataset.view = name;
  if (changed) {
    lastMetrics = null;
    const heading = document.querySelector('main[data-view="' + name + '"] h2');
    if (heading && document.activeElement && document.activeElement.tagName === 'A') heading.focus();
  }
  refresh();
}

/** Reads the screen shown now, then again after its interval (one timer; a screen change restarts it). */
async function refresh() {
  clearTimeout(timer);
  const name = view;
  try {
    if (name === 'order') await showOrder(decodeURIComponent(location.hash.split('/')[2] || ''));
    else await SCREENS[name]();
  } finally {
    if (name === view && session.signedIn()) timer = setTimeout(refresh, POLL_MS[name] || 10000);
  }
}

function start() {
  $('view-signin').hidden = true;
  $('nav').hidden = false;
  $('signout').hidden = false;
  if (!live) {
    live = DabbaLive.connect({
      url: function () { return session.socketURL('/v1/fleet/live'); },
      onMessage: onFrame,
      onGiveUp: function () { live = null; },
    });
  }
  clearInterval(alertTimer);
  alertTimer = setInterval(function () { if (view !== 'alerts') readAlerts(); }, POLL_MS.alerts);
  readAlerts();
  route();
}

function signedOut(message) {
  clearTimeout(timer);
  clearInterval(alertTimer);
  if (live) { live.close(); live = null; }
  view = null;
  DabbaLive.showConnection('idle', 'Not connected');
  document.querySelectorAll('main[data-view]').forEach(function (m) { m.hidden = true; });
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('view-signin').hidden = false;
  $('signin-error').textContent = message || '';
  $('email').focus();
}

window.addEventListener('hashchange', route);
$('order-filters').addEventListener('submit', function (event) { event.preventDefault(); readOrders(false); });
$('orders-more').addEventListener('click', function () { readOrders(true); });
wireSignIn(session, start, function () { signedOut(''); });

// Fix ages keep counting between updates.
setInterval(function () {
  agents.forEach(function (agent) {
    if (agent.position) agent.item.querySelector('.fix').textContent = 'last fix ' + DabbaLive.age(agent.position.time);
  });
}, 1000);

if (session.signedIn()) start();
