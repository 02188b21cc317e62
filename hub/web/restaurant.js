// The restaurant console at /restaurant (ES module): new orders as they arrive (highlighted, a chime, the count in
// the tab's title), accept with preparation minutes or reject with a reason, preparing → ready, today's orders,
// pause/unpause, opening hours and the menu. /v1/restaurants/{id}/live says when one of the restaurant's orders
// changed; the console then reads the day's orders from GET /v1/orders (and every SAFETY_READ_MS anyway). The badge
// shows the feed's state (live, reconnecting) as on every page.
import { createSession, errorText, money, minorDigits, minorUnits, say, busy, el, wireSignIn } from './session.js';
import { label } from './order-view.js';

const SAFETY_READ_MS = 30000;
const $ = function (id) { return document.getElementById(id); };
const session = createSession('restaurant', 'restaurant', function (message) { signedOut(message); });
const ACTIVE = ['confirmed', 'preparing', 'ready_for_pickup', 'assigned', 'picked_up'];
const STOPPED = ['rejected', 'cancelled', 'failed'];
let restaurant = null;
let timer = null;
let seen = null; // ids of placed orders already shown (null until the first read)
let orders = [];
let audio = null;
let feed = null;
let reading = null; // the read in flight; a wake-up during it reads once more after it
let again = false;

function signedOut(message) {
  clearTimeout(timer);
  timer = null;
  if (feed) { feed.close(); feed = null; }
  restaurant = null;
  seen = null;
  $('view-console').hidden = true;
  $('view-signin').hidden = false;
  $('signout').hidden = true;
  $('signin-error').textContent = message || '';
  DabbaLive.showConnection('idle', 'Not connected');
  document.title = 'Dabba — restaurant console';
}

wireSignIn(session, start, function () { signedOut(''); }, function () {
  try { audio = audio || new AudioContext(); } catch (_) { audio = null; }
});

async function start() {
  $('view-signin').hidden = true;
  $('view-console').hidden = false;
  $('signout').hidden = false;
  DabbaLive.showConnection('connecting', 'Connecting…');
  const answer = await session.api('GET', '/v1/restaurants?owner=me&limit=100');
  if (answer.status !== 200) { say($('console-error'), errorText(answer)); return; }
  const mine = answer.json.restaurants;
  if (!mine.length) { say($('console-error'), 'No restaurant belongs to this account yet; ask an operator to add it.'); return; }
  const pick = $('restaurant-pick');
  pick.replaceChildren();
  mine.forEach(function (r) { const o = el('option', null, r.name); o.value = r.id; pick.append(o); });
  pick.hidden = mine.length < 2;
  $('restaurant-pick-label').hidden = mine.length < 2;
  choose(mine[0]);
}

$('restaurant-pick').addEventListener('change', async function () {
  const answer = await session.api('GET', '/v1/restaurants/' + encodeURIComponent($('restaurant-pick').value));
  if (answer.status === 200) choose(answer.json); else say($('console-error'), errorText(answer));
});

function choose(r) {
  restaurant = r;
  seen = null;
  renderRestaurant();
  renderHours();
  loadMenu();
  if (feed) feed.close();
  const id = r.id;
  feed = DabbaLive.connect({
    url: function () { return session.socketURL('/v1/restaurants/' + encodeURIComponent(id) + '/live'); },
    onMessage: function () { read(); },
    stopOn: function (event) { return event.code === 1008 ? (event.reason || 'Access ended') + '.' : null; },
    onGiveUp: function (message) { say($('console-error'), message); },
  });
  read();
}

function renderRestaurant() {
  $('restaurant-name').textContent = restaurant.name;
  const state = $('restaurant-state');
  state.textContent = restaurant.paused ? 'Paused — not taking orders' : restaurant.openNow ? 'Open — taking orders' : 'Closed (outside opening hours)';
  state.className = 'badge ' + (restaurant.openNow ? 'ok' : 'bad');
  $('pause').textContent = restaurant.paused ? 'Take orders again' : 'Pause new orders';
}

$('pause').addEventListener('click', async function (event) {
  await busy(event.target, async function () {
    const action = restaurant.paused ? 'unpause' : 'pause';
    const answer = await session.api('POST', '/v1/restaurants/' + encodeURIComponent(restaurant.id) + '/' + action);
    if (answer.status !== 200) { say($('console-error'), errorText(answer)); return; }
    say($('console-error'), '');
    restaurant = answer.json;
    renderRestaurant();
  });
});

// ------------------------------------------------------------------------------------------------------ orders

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

/** Reads the day's orders now (once more after a read in flight), and again in SAFETY_READ_MS at the latest. */
function read() {
  if (reading) { again = true; return reading; }
  reading = poll().finally(function () {
    reading = null;
    if (again) { again = false; read(); }
  });
  return reading;
}

async function poll() {
  clearTimeout(timer);
  if (!restaurant) return;
  const id = restaurant.id;
  const query = new URLSearchParams({ restaurant: id, since: startOfToday(), limit: '200' });
  const answer = await session.api('GET', '/v1/orders?' + query.toString());
  if (!restaurant || restaurant.id !== id) return;
  if (answer.status === 200) {
    orders = answer.json.orders;
    render();
    $('orders-read').textContent = 'Orders read at ' + new Date().toLocaleTimeString() + '.';
  } else if (answer.status !== 401) {
    $('orders-read').textContent = errorText(answer) + ' Trying again shortly.';
  }
  if (session.signedIn()) timer = setTimeout(read, SAFETY_READ_MS);
}

function render() {
  const placed = orders.filter(function (o) { return o.status === 'placed'; });
  // Orders not shown before are highlighted (on the first read too: they wait for an answer); the chime is for
  // arrivals while the console is open.
  const fresh = placed.filter(function (o) { return !seen || !seen.has(o.id); });
  if (fresh.length && seen) chime();
  const cue = new Set(fresh.map(function (o) { return o.id; }));
  const stillNew = new Set(Array.from(document.querySelectorAll('#incoming li.new')).map(function (li) { return li.dataset.order; }));
  seen = new Set(placed.map(function (o) { return o.id; }));
  fill($('incoming'), $('incoming-empty'), placed, function (o) { return incomingCard(o, cue.has(o.id) || stillNew.has(o.id)); });
  $('incoming-count').textContent = placed.length ? '(' + placed.length + ')' : '';
  document.title = (placed.length ? '(' + placed.length + ') New orders — ' : '') + 'Dabba — restaurant console';
  const active = orders.filter(function (o) { return ACTIVE.includes(o.status); });
  fill($('active'), $('active-empty'), active, activeCard);
  renderToday();
}

/** Replaces the list's cards, keeping (with focus and typed values) the cards whose order did not change. */
function fill(list, empty, items, make) {
  const old = new Map(Array.from(list.children).map(function (li) { return [li.dataset.key, li]; }));
  const next = items.map(function (o) { return old.get(cardKey(o)) || make(o); });
  if (next.length !== list.children.length || next.some(function (li, i) { return list.children[i] !== li; })) list.replaceChildren(...next);
  empty.hidden = items.length > 0;
}

/** What a card shows depends on: a card is rebuilt when it changes. */
function cardKey(o) { return o.id + '|' + o.status + '|' + (o.readyAt || ''); }

function orderSummary(o) {
  const card = el('li', 'card order');
  card.dataset.key = cardKey(o);
  card.dataset.order = o.id;
  card.dataset.status = o.status;
  const items = (o.items || []).map(function (line) {
    const options = (line.options || []).map(function (x) { return x.name; }).join(', ');
    return line.quantity + ' × ' + line.name + (options ? ' (' + options + ')' : '');
  });
  card.append(
    el('span', 'title', 'Order ' + o.id.slice(-6) + ' · ' + new Date(o.createdAt).toLocaleTimeString()),
    el('span', 'badge', label(o.status)),
    el('span', null, items.join('; ')),
    el('span', 'muted', money(o.subtotal, o.currency) + ' of food · ' + (o.paymentMethod === 'cod' ? 'cash on delivery' : 'paid by card')
      + (o.prepMinutes ? ' · ' + o.prepMinutes + ' min to prepare' : '') + (o.readyAt ? ' · ready' : '')));
  return card;
}

function actionError(card, answer) {
  let error = card.querySelector('.error');
  if (!error) { error = el('p', 'error'); error.setAttribute('role', 'alert'); card.append(error); }
  error.textContent = answer ? errorText(answer) : '';
}

async function act(card, action, body) {
  const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(card.dataset.order) + '/' + action, body);
  if (answer.status !== 200) { actionError(card, answer); return; }
  actionError(card, null);
  const index = orders.findIndex(function (o) { return o.id === answer.json.id; });
  if (index >= 0) orders[index] = answer.json;
  render();
}

function incomingCard(o, isNew) {
  const card = orderSummary(o);
  if (isNew) card.classList.add('new');
  const accept = el('form', 'inline');
  const prepID = 'prep-' + o.id;
  const prepLabel = el('label', null, 'Minutes to prepare');
  prepLabel.htmlFor = prepID;
  const prep = el('input');
  prep.id = prepID; prep.type = 'number'; prep.min = '1'; prep.max = '240'; prep.value = '15'; prep.required = true;
  const acceptButton = el('button', null, 'Accept');
  acceptButton.type = 'submit';
  accept.append(prepLabel, prep, acceptButton);
  accept.addEventListener('submit', function (event) {
    event.preventDefault();
    busy(acceptButton, function () { return act(card, 'accept', { prepMinutes: Number(prep.value) }); });
  });
  const reject = el('form', 'inline');
  const reasonID = 'reason-' + o.id;
  const reasonLabel = el('label', null, 'Reason');
  reasonLabel.htmlFor = reasonID;
  const reason = el('select');
  reason.id = reasonID;
  ['Too busy right now', 'An item has run out', 'Closing soon', 'Cannot deliver to this address'].forEach(function (text) {
    reason.append(el('option', null, text));
  });
  const rejectButton = el('button', 'danger', 'Reject');
  rejectButton.type = 'submit';
  reject.append(reasonLabel, reason, rejectButton);
  reject.addEventListener('submit', function (event) {
    event.preventDefault();
    busy(rejectButton, function () { return act(card, 'reject', { reason: reason.value }); });
  });
  card.append(accept, reject);
  card.addEventListener('click', function () { card.classList.remove('new'); });
  card.addEventListener('focusin', function () { card.classList.remove('new'); });
  return card;
}

function activeCard(o) {
  const card = orderSummary(o);
  const buttons = el('div', 'inline');
  if (o.status === 'confirmed') {
    const prepare = el('button', 'secondary', 'Start preparing');
    prepare.type = 'button';
    prepare.addEventListener('click', function () { busy(prepare, function () { return act(card, 'prepare', {}); }); });
    buttons.append(prepare);
  }
  if ((o.status === 'confirmed' || o.status === 'preparing' || o.status === 'assigned') && !o.readyAt) {
    const ready = el('button', null, 'Ready for pickup');
    ready.type = 'button';
    ready.addEventListener('click', function () { busy(ready, function () { return act(card, 'ready', {}); }); });
    buttons.append(ready);
  }
  card.append(buttons);
  return card;
}

function renderToday() {
  const filter = $('today-filter').value;
  const shown = orders.filter(function (o) {
    if (filter === 'open') return o.status === 'placed' || ACTIVE.includes(o.status);
    if (filter === 'delivered') return o.status === 'delivered';
    if (filter === 'stopped') return STOPPED.includes(o.status);
    return true;
  });
  $('today').replaceChildren(...shown.map(function (o) {
    const row = el('tr');
    row.dataset.order = o.id;
    row.append(el('td', null, new Date(o.createdAt).toLocaleTimeString()), el('td', null, o.id.slice(-6)),
      el('td', null, (o.items || []).map(function (l) { return l.quantity + ' × ' + l.name; }).join('; ')),
      el('td', null, money(o.subtotal, o.currency)), el('td', null, label(o.status)));
    return row;
  }));
  const delivered = orders.filter(function (o) { return o.status === 'delivered'; });
  const currency = orders.length ? orders[0].currency : null;
  $('today-summary').textContent = orders.length + (orders.length === 1 ? ' order' : ' orders') + ' today, ' + delivered.length + ' delivered'
    + (currency ? ' · food sold ' + money(delivered.reduce(function (n, o) { return n + o.subtotal; }, 0), currency) : '');
}

$('today-filter').addEventListener('change', renderToday);

function chime() {
  if (!audio) return;
  try {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
  } catch (_) { /* no sound: the highlight and the title still tell */ }
}

// ----------------------------------------------------------------------------------------------- opening hours

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'],
  ['sat', 'Saturday'], ['sun', 'Sunday']];

function renderHours() {
  const hours = restaurant.hours || { timezone: 'UTC', hours: {} };
  $('hours-timezone').value = hours.timezone;
  const days = $('hours-days');
  days.replaceChildren();
  DAYS.forEach(function ([key, name]) {
    const label = el('label', null, name);
    label.htmlFor = 'hours-' + key;
    const input = el('input');
    input.id = 'hours-' + key;
    input.dataset.day = key;
    input.setAttribute('aria-describedby', 'hours-help');
    input.value = ((hours.hours || {})[key] || []).map(function (pair) { return pair[0] + '-' + pair[1]; }).join(', ');
    days.append(label, input);
  });
}

/** The days' texts as the API's hours object; throws a sentence naming the day that is not right. */
function typedHours() {
  const result = {};
  DAYS.forEach(function ([key, name]) {
    const text = $('hours-' + key).value.trim();
    if (!text) return;
    result[key] = text.split(',').map(function (part) {
      const match = /^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$/.exec(part);
      if (!match) throw new Error(name + ': write times as 11:00-15:00, separated by commas.');
      return [match[1].padStart(2, '0') + ':' + match[2], match[3].padStart(2, '0') + ':' + match[4]];
    });
  });
  return result;
}

$('hours').addEventListener('submit', async function (event) {
  event.preventDefault();
  say($('hours-error'), '');
  $('hours-status').textContent = '';
  let hours;
  try { hours = typedHours(); } catch (error) { say($('hours-error'), error.message); return; }
  await busy(event.target.querySelector('button[type=submit]'), async function () {
    const answer = await session.api('PATCH', '/v1/restaurants/' + encodeURIComponent(restaurant.id),
      { hours: { timezone: $('hours-timezone').value.trim(), hours } });
    if (answer.status !== 200) { say($('hours-error'), errorText(answer)); return; }
    restaurant = answer.json;
    renderRestaurant();
    renderHours();
    $('hours-status').textContent = 'Saved. ' + (restaurant.openNow ? 'Open now.' : 'Closed now.');
  });
});

// -------------------------------------------------------------------------------------------------------- menu
// Sections and items: availability, add, change name/price/description and option groups, delete; add and delete
// (empty) sections. An item's option groups are written one per line, `Name min-max: Choice, Choice +price, …`
// (prices in the currency's units; `min-max` optional: 0-1), and sent as `optionGroups`, which replaces them all;
// a group or choice keeps its id when its name is unchanged.

function menuPath(rest) { return '/v1/restaurants/' + encodeURIComponent(restaurant.id) + '/menu' + (rest || ''); }

/** A labelled input: returns [label, input]. */
function field(id, text, attributes) {
  const label = el('label', null, text);
  label.htmlFor = id;
  const input = el('input');
  input.id = id;
  Object.assign(input, attributes || {});
  return [label, input];
}

function errorLine() {
  const error = el('p', 'error');
  error.setAttribute('role', 'alert');
  return error;
}

/** Sends one change; reloads the menu when it worked, says why in `error` when not. */
async function change(error, method, path, body) {
  const answer = await session.api(method, path, body);
  if (answer.status >= 300) { error.textContent = errorText(answer); return false; }
  error.textContent = '';
  await loadMenu();
  return true;
}

/** An item's option groups as the editor's lines. */
function optionsText(groups, currency) {
  const digits = minorDigits(currency);
  return (groups || []).map(function (g) {
    const choices = g.choices.map(function (c) {
      return c.name + (c.price ? ' +' + (c.price / 10 ** digits).toFixed(digits) : '');
    });
    return g.name + ' ' + g.minChoices + '-' + g.maxChoices + ': ' + choices.join(', ');
  }).join('\n');
}

/**
 * The editor's lines as `optionGroups` (ids kept for unchanged names, from `old`), or a sentence saying what is wrong
 * (a string).
 */
function parseOptions(text, currency, old) {
  const groups = [];
  const lines = text.split('\n').map(function (l) { return l.trim(); }).filter(Boolean);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const colon = line.indexOf(':');
    if (colon < 1) return 'Line ' + (n + 1) + ': write the group, a colon, then its choices (Extras 0-2: Ghee +30, Cheese +40).';
    let name = line.slice(0, colon).trim();
    let min = 0;
    let max = 1;
    const range = /\s+(\d{1,2})\s*-\s*(\d{1,2})$/.exec(name);
    if (range) {
      min = Number(range[1]);
      max = Number(range[2]);
      name = name.slice(0, range.index).trim();
    }
    const choices = [];
    for (const part of line.slice(colon + 1).split(',').map(function (p) { return p.trim(); }).filter(Boolean)) {
      const priced = /^(.*?)\s*\+\s*([\d.,]+)$/.exec(part);
      const choiceName = priced ? priced[1].trim() : part;
      const price = priced ? minorUnits(priced[2], currency) : 0;
      if (!choiceName || price === null) return 'Line ' + (n + 1) + ': "' + part + '" — a choice is a name, with +price when it costs extra.';
      choices.push({ name: choiceName, price: price });
    }
    if (!name || !choices.length) return 'Line ' + (n + 1) + ': a group needs a name and at least one choice.';
    if (max < 1 || min > max || max > choices.length) {
      return 'Line ' + (n + 1) + ': ' + name + ' ' + min + '-' + max + ' — the most choices must be at least 1, at least the fewest, and at most ' + choices.length + '.';
    }
    const before = (old || []).find(function (g) { return g.name === name; });
    const group = { name: name, minChoices: min, maxChoices: max, choices: choices };
    if (before) {
      group.id = before.id;
      choices.forEach(function (c) {
        const same = before.choices.find(function (b) { return b.name === c.name; });
        if (same) c.id = same.id;
      });
    }
    groups.push(group);
  }
  return groups;
}

/** The form for an item's name, price and description (a new one in `section`, or `item`). */
function itemForm(currency, section, item) {
  const key = item ? item.id : 'new-' + section.id;
  const form = el('form', 'inline item-form');
  form.setAttribute('aria-label', item ? 'Change ' + item.name : 'Add an item to ' + section.name);
  const [nameLabel, name] = field('name-' + key, 'Name', { required: true, maxLength: 100, value: item ? item.name : '' });
  const [priceLabel, price] = field('price-' + key, 'Price (' + currency + ')', {
    required: true, inputMode: 'decimal', size: 8, value: item ? (item.price / 10 ** minorDigits(currency)).toFixed(minorDigits(currency)) : '',
  });
  const [textLabel, text] = field('text-' + key, 'Description', { maxLength: 1000, value: item ? item.description || '' : '' });
  const optionsLabel = el('label', null, 'Options, a group per line (Extras 0-2: Ghee +30, Cheese +40)');
  optionsLabel.htmlFor = 'options-' + key;
  const options = el('textarea');
  options.id = 'options-' + key;
  options.rows = 2;
  options.value = item ? optionsText(item.optionGroups, currency) : '';
  const save = el('button', null, item ? 'Save' : 'Add item');
  save.type = 'submit';
  const error = errorLine();
  form.append(nameLabel, name, priceLabel, price, textLabel, text, optionsLabel, options, save, error);
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    const minor = minorUnits(price.value, currency);
    if (minor === null) { error.textContent = 'Enter the price as an amount, such as 120 or 120.50.'; return; }
    const groups = parseOptions(options.value, currency, item ? item.optionGroups : []);
    if (typeof groups === 'string') { error.textContent = groups; return; }
    const body = { name: name.value.trim(), price: minor, description: text.value.trim(), optionGroups: groups };
    if (!item) body.sectionID = section.id;
    busy(save, function () {
      return change(error, item ? 'PATCH' : 'POST', item ? menuPath('/items/' + encodeURIComponent(item.id)) : menuPath('/items'), body);
    });
  });
  return form;
}

function itemRow(currency, item) {
  const row = el('div', 'menu-item');
  row.dataset.item = item.id;
  const available = el('label', 'check');
  const box = el('input');
  box.type = 'checkbox';
  box.checked = item.available;
  box.setAttribute('aria-label', item.name + ' is available');
  available.append(box, document.createTextNode(' ' + item.name + ' · ' + money(item.price, currency) + (item.available ? '' : ' (sold out)')));
  const error = errorLine();
  box.addEventListener('change', async function () {
    box.disabled = true;
    const ok = await change(error, 'PATCH', menuPath('/items/' + encodeURIComponent(item.id)), { available: box.checked });
    if (!ok) { box.disabled = false; box.checked = !box.checked; }
  });
  const edit = el('button', 'secondary small', 'Edit');
  edit.type = 'button';
  edit.setAttribute('aria-label', 'Edit ' + item.name);
  const remove = el('button', 'danger small', 'Delete');
  remove.type = 'button';
  remove.setAttribute('aria-label', 'Delete ' + item.name);
  let form = null;
  edit.addEventListener('click', function () {
    if (form) { form.remove(); form = null; return; }
    form = itemForm(currency, null, item);
    row.append(form);
    form.querySelector('input').focus();
  });
  remove.addEventListener('click', function () {
    busy(remove, function () { return change(error, 'DELETE', menuPath('/items/' + encodeURIComponent(item.id))); });
  });
  const line = el('div', 'inline');
  line.append(available, edit, remove);
  row.append(line, error);
  return row;
}

async function loadMenu() {
  const answer = await session.api('GET', menuPath());
  const menu = $('menu');
  menu.replaceChildren();
  if (answer.status !== 200) { menu.append(el('p', 'error', errorText(answer))); return; }
  const currency = answer.json.currency;
  answer.json.sections.forEach(function (section) {
    const set = el('fieldset', 'options menu-edit');
    set.dataset.section = section.id;
    set.append(el('legend', null, section.name));
    (section.items || []).forEach(function (item) { set.append(itemRow(currency, item)); });
    const adding = el('details');
    adding.append(el('summary', null, 'Add an item to ' + section.name), itemForm(currency, section, null));
    set.append(adding);
    if (!(section.items || []).length) {
      const error = errorLine();
      const drop = el('button', 'danger small', 'Delete this section');
      drop.type = 'button';
      drop.addEventListener('click', function () {
        busy(drop, function () { return change(error, 'DELETE', menuPath('/sections/' + encodeURIComponent(section.id))); });
      });
      set.append(drop, error);
    }
    menu.append(set);
  });
  const form = el('form', 'inline');
  form.id = 'add-section';
  const [label, name] = field('section-name', 'New section', { required: true, maxLength: 60 });
  const add = el('button', 'secondary', 'Add section');
  add.type = 'submit';
  const error = errorLine();
  form.append(label, name, add, error);
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    busy(add, function () { return change(error, 'POST', menuPath('/sections'), { name: name.value.trim() }); });
  });
  menu.append(form);
}

if (session.signedIn()) start();
