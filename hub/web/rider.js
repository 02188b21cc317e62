// The rider's view at /rider (ES module), for agents whose device is a phone, or as the screen beside a device: sign
// in as the agent; start and end the shift; offers with their countdown, the pickup and drop-off on the map and the
// cash to collect, accepted or rejected; the current deliveries with navigation links, picked up and delivered (cash
// collected). Every action goes through the same code path as the device's events (POST /v1/orders/{id}/offer,
// /pickup, /deliver), so tapping here and on the device never applies twice. The tasks are read from
// GET /v1/agents/{id}/tasks every POLL_MS (and after each action); the badge says when the last read worked.
import { createSession, errorText, money, minorDigits, minorUnits, say, busy, el, wireSignIn } from './session.js';

/** What the rider does next, by the order's status. */
const NEXT = {
  assigned: 'Go to the restaurant and pick it up', picked_up: 'Picked up — take it to the customer',
  confirmed: 'Offered', preparing: 'Offered (being prepared)', ready_for_pickup: 'Offered (ready for pickup)',
};
function label(status) { return NEXT[status] || status; }

const POLL_MS = 3000;
const CASH_EVERY = 5; // polls between reads of the cash held (the payment reactor posts a collection moments after)
let polls = 0;
const $ = function (id) { return document.getElementById(id); };
const session = createSession('rider', 'agent', function (message) { signedOut(message); });
let agent = null;
let onShift = false;
let timer = null;
let ticker = null;
let map = null;
let layer = null;
let failures = 0;
let shown = ''; // the tasks last drawn (JSON): unchanged tasks are not redrawn, so a cash amount being typed stays

function signedOut(message) {
  clearTimeout(timer);
  clearInterval(ticker);
  timer = null;
  agent = null;
  shown = '';
  $('view-rider').hidden = true;
  $('view-signin').hidden = false;
  $('signout').hidden = true;
  $('signin-error').textContent = message || '';
  DabbaLive.showConnection('idle', 'Not connected');
}

wireSignIn(session, start, function () { signedOut(''); });

function start() {
  agent = session.agentID();
  if (!agent) { signedOut('This account is not a rider account.'); return; }
  $('view-signin').hidden = true;
  $('view-rider').hidden = false;
  $('signout').hidden = false;
  $('rider-name').textContent = 'Rider ' + agent;
  DabbaLive.showConnection('connecting', 'Connecting…');
  if (!map) {
    map = DabbaLive.makeMap($('map'));
    layer = L.layerGroup().addTo(map);
  }
  clearInterval(ticker);
  ticker = setInterval(countdowns, 1000);
  read();
  readToday();
}

/** Reads the shift and the tasks now, then again in POLL_MS. */
async function read() {
  clearTimeout(timer);
  if (!agent) return;
  const answer = await session.api('GET', '/v1/agents/' + encodeURIComponent(agent) + '/tasks');
  if (!agent) return;
  if (answer.status === 200) {
    failures = 0;
    polls += 1;
    if (polls % CASH_EVERY === 0) readCash();
    DabbaLive.showConnection('live', 'Live — updated ' + new Date().toLocaleTimeString());
    render(answer.json);
  } else {
    failures += 1;
    DabbaLive.showConnection('reconnecting', 'Reconnecting… (' + errorText(answer) + ')');
  }
  timer = setTimeout(read, failures ? Math.min(30000, POLL_MS * 2 ** failures) : POLL_MS);
}

function render(view) {
  onShift = view.onShift;
  const state = $('shift-state');
  state.textContent = onShift ? 'On shift — taking orders' : 'Off shift';
  state.className = 'badge ' + (onShift ? 'ok' : 'bad');
  $('shift').textContent = onShift ? 'End shift' : 'Start shift';
  const key = JSON.stringify(view.tasks);
  if (key === shown) { countdowns(); return; }
  shown = key;
  const offers = view.tasks.filter(function (t) { return t.type === 'offer'; });
  const current = view.tasks.filter(function (t) { return t.type === 'assigned'; });
  $('offers').replaceChildren(...offers.map(offerCard));
  $('offers-empty').hidden = offers.length > 0;
  $('offers-count').textContent = offers.length ? '(' + offers.length + ')' : '';
  document.title = (offers.length ? '(' + offers.length + ') ' : '') + 'Dabba — rider';
  $('current').replaceChildren(...current.map(currentCard));
  $('current-empty').hidden = current.length > 0;
  showOnMap(offers.concat(current)[0]);
  countdowns();
}

function place(p) {
  if (!p) return '—';
  return [p.name, p.address].filter(Boolean).join(', ') || '—';
}

function cash(task) {
  return task.cashToCollect ? 'Collect ' + money(task.cashToCollect, task.currency || 'INR') + ' in cash' : 'Paid online';
}

/** A link that opens turn-by-turn directions to `p` (OpenStreetMap), or nothing without coordinates. */
function directions(p, text) {
  if (!p || typeof p.lat !== 'number' || typeof p.lon !== 'number') return el('span');
  const a = el('a', null, text);
  a.href = 'https://www.openstreetmap.org/directions?to=' + p.lat + ',' + p.lon;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

function offerCard(task) {
  const li = el('li', 'card new');
  li.dataset.order = task.order;
  li.append(el('h3', null, 'Offer: ' + task.order));
  li.append(el('p', null, 'From ' + place(task.pickup)));
  li.append(el('p', null, 'To ' + place(task.dropoff)));
  li.append(el('p', null, cash(task)));
  const left = el('p', 'countdown');
  left.dataset.expires = task.expiresAt || '';
  li.append(left);
  const accept = el('button', null, 'Accept');
  accept.type = 'button';
  accept.addEventListener('click', function () { decide(accept, task.order, 'accept'); });
  const reject = el('button', 'secondary', 'Reject');
  reject.type = 'button';
  reject.addEventListener('click', function () { decide(reject, task.order, 'reject'); });
  li.append(accept, reject);
  return li;
}

function currentCard(task) {
  const li = el('li', 'card');
  li.dataset.order = task.order;
  li.append(el('h3', null, task.order + ' — ' + label(task.status)));
  const from = el('p', null, 'From ' + place(task.pickup) + ' ');
  from.append(directions(task.pickup, 'Directions'));
  const to = el('p', null, 'To ' + place(task.dropoff) + ' ');
  to.append(directions(task.dropoff, 'Directions'));
  li.append(from, to, el('p', null, cash(task)));
  if (task.status === 'picked_up') {
    const deliver = el('button', null, 'Delivered');
    deliver.type = 'button';
    if (task.cashToCollect) {
      // The cash taken, in the currency's units (prefilled with what the order asks for).
      const currency = task.currency || 'INR';
      const id = 'cash-' + task.order;
      const amount = el('label', null, 'Cash collected (' + currency + ')');
      amount.htmlFor = id;
      const input = el('input');
      input.id = id;
      input.inputMode = 'decimal';
      input.value = (task.cashToCollect / 10 ** minorDigits(currency)).toFixed(minorDigits(currency));
      deliver.addEventListener('click', function () {
        const collected = minorUnits(input.value, currency);
        if (collected === null) { say($('rider-error'), 'Cash collected: an amount such as ' + input.defaultValue + '.'); return; }
        act(deliver, task.order, 'deliver', { cashCollected: collected });
      });
      li.append(amount, input);
    } else {
      deliver.addEventListener('click', function () { act(deliver, task.order, 'deliver'); });
    }
    li.append(deliver);
  } else {
    const pickup = el('button', null, 'Picked up');
    pickup.type = 'button';
    pickup.addEventListener('click', function () { act(pickup, task.order, 'pickup'); });
    li.append(pickup);
  }
  return li;
}

/** "Answer within 37 s" on each offer, from its expiresAt. */
function countdowns() {
  document.querySelectorAll('.countdown').forEach(function (p) {
    const left = Math.round((Date.parse(p.dataset.expires) - Date.now()) / 1000);
    p.textContent = isFinite(left) ? (left > 0 ? 'Answer within ' + left + ' s' : 'The offer has lapsed') : '';
  });
}

function showOnMap(task) {
  if (!layer) return;
  layer.clearLayers();
  if (!task) return;
  const points = [];
  [[task.pickup, 'Pickup'], [task.dropoff, 'Drop-off']].forEach(function ([p, what]) {
    if (!p || typeof p.lat !== 'number') return;
    L.marker([p.lat, p.lon], { title: what + ': ' + place(p) }).addTo(layer);
    points.push([p.lat, p.lon]);
  });
  if (points.length) map.fitBounds(points, { padding: [30, 30], maxZoom: 16 });
}

async function decide(button, order, decision) {
  await busy(button, async function () {
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(order) + '/offer', { decision: decision });
    say($('rider-error'), answer.status === 200 ? '' : errorText(answer));
  });
  read();
}

async function act(button, order, action, body) {
  await busy(button, async function () {
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(order) + '/' + action, body);
    say($('rider-error'), answer.status === 200 ? '' : errorText(answer));
  });
  read();
  if (action === 'deliver') { readToday(); setTimeout(readCash, 2000); }
}

$('shift').addEventListener('click', async function (event) {
  await busy(event.target, async function () {
    const answer = await session.api(
      'POST', '/v1/agents/' + encodeURIComponent(agent) + '/shift', { action: onShift ? 'end' : 'start' });
    say($('rider-error'), answer.status === 200 ? '' : errorText(answer));
  });
  read();
});

/** Today's deliveries and the cash collected in them. */
async function readToday() {
  const since = new Date();
  since.setHours(0, 0, 0, 0);
  const answer = await session.api(
    'GET', '/v1/orders?status=delivered&limit=200&since=' + encodeURIComponent(since.toISOString()));
  if (answer.status !== 200) return;
  const orders = answer.json.orders || [];
  const totals = {};
  orders.filter(function (o) { return o.paymentMethod === 'cod'; }).forEach(function (o) {
    totals[o.currency] = (totals[o.currency] || 0) + o.total;
  });
  const cashText = Object.keys(totals).map(function (c) { return money(totals[c], c); }).join(', ');
  $('today').textContent = orders.length + ' deliver' + (orders.length === 1 ? 'y' : 'ies') + ' today'
    + (cashText ? '; cash on delivery ' + cashText : '');
  readCash();
}

/** The cash the rider holds against the limit (`cod-cash-limit`): near it, cash orders are no longer offered. */
async function readCash() {
  const answer = await session.api('GET', '/v1/agents/' + encodeURIComponent(agent));
  if (answer.status !== 200 || !answer.json) return;
  const limit = answer.json.cashLimit;
  const held = (answer.json.cash || []).filter(function (c) { return c.held !== 0; });
  const currency = held.length ? held[0].currency : 'INR';
  $('cash').textContent = held.length === 0
    ? 'Holding no cash (limit ' + money(limit, currency) + ').'
    : 'Holding ' + held.map(function (c) { return money(c.held, c.currency); }).join(', ')
      + ' of cash; limit ' + money(limit, currency) + ' — hand it in to keep taking cash orders.';
  $('cash').dataset.held = String(held.reduce(function (sum, c) { return sum + c.held; }, 0));
}

if (session.signedIn()) start();
