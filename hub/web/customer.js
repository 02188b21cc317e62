// The customer app at /app (ES module): browse restaurants near a point, a menu, a cart, checkout (card or cash),
// the live order view, order history. Screens are `#/…` routes of one page:
//   #/                 restaurants          #/restaurants/{id}  a menu         #/cart   cart and checkout
//   #/orders           order history        #/orders/{id}       one order, live
// Browsing is public; checkout and orders ask to sign in first.
import { createSession, errorText, money, idempotencyKey, say, busy, el } from './session.js';
import { createOrderView, label, ENDED } from './order-view.js';

const $ = function (id) { return document.getElementById(id); };
const session = createSession('customer', 'customer', function (message) { showSignIn(message); });
const CART_KEY = 'dabba.cart';
const POINT_KEY = 'dabba.point';
const PAYMENT_WORDS = {
  card_declined: 'Your card was declined. Try another card.',
  insufficient_funds: 'The card has insufficient funds. Try another card.',
  provider_unavailable: 'The card service did not answer; nothing was charged. Try again.',
};

let afterSignIn = '#/';

// ---------------------------------------------------------------------------------------------- screens, routing

const VIEWS = ['signin', 'browse', 'menu', 'cart', 'orders', 'order'];

function show(name) {
  const changed = document.body.dataset.view !== name;
  VIEWS.forEach(function (v) { $('view-' + v).hidden = v !== name; });
  document.body.dataset.view = name;
  say($('flash'), '');
  if (name !== 'order') stopFollowing();
  // A new screen: keyboard and screen-reader users start at its heading (sign-in focuses its first field).
  const heading = $('view-' + name).querySelector('h2');
  if (changed && heading && name !== 'signin') {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function flash(message) { say($('flash'), message); }

function showSignIn(reason) {
  afterSignIn = location.hash || '#/';
  show('signin');
  $('signin-reason').textContent = reason || 'Sign in, or create an account, to order.';
  $('signout').hidden = true;
  $('signin-email').focus();
}

function needsSignIn() {
  if (session.signedIn()) return false;
  showSignIn('Sign in, or create an account, to see your orders and to order.');
  return true;
}

async function route() {
  $('signout').hidden = !session.signedIn();
  const parts = (location.hash || '#/').slice(2).split('/').map(decodeURIComponent);
  if (parts[0] === 'restaurants' && parts[1]) return showMenu(parts[1]);
  if (parts[0] === 'cart') return showCart();
  if (parts[0] === 'orders' && parts[1]) return needsSignIn() || showOrder(parts[1]);
  if (parts[0] === 'orders') return needsSignIn() || showOrders();
  if (parts[0] === 'signin') return showSignIn('');
  return showBrowse();
}

window.addEventListener('hashchange', route);
window.addEventListener('offline', function () { DabbaLive.showConnection('failed', 'Offline'); });
window.addEventListener('online', function () { if (!following) DabbaLive.showConnection('idle', 'Online'); });

// ---------------------------------------------------------------------------------------------------- sign in

$('signin').addEventListener('submit', async function (event) {
  event.preventDefault();
  await busy(event.submitter || event.target.querySelector('button'), async function () {
    const error = await session.signIn($('signin-email').value.trim(), $('signin-password').value);
    $('signin-error').textContent = error || '';
    if (!error) signedIn();
  });
});

$('register').addEventListener('submit', async function (event) {
  event.preventDefault();
  await busy(event.submitter || event.target.querySelector('button'), async function () {
    const error = await session.register(
      $('register-name').value.trim(), $('register-email').value.trim(), $('register-password').value);
    $('register-error').textContent = error || '';
    if (!error) signedIn();
  });
});

function signedIn() {
  $('signin-password').value = '';
  $('register-password').value = '';
  $('signout').hidden = false;
  const target = afterSignIn && afterSignIn !== '#/signin' ? afterSignIn : '#/';
  if (location.hash === target) route(); else location.hash = target;
}

$('signout').addEventListener('click', async function () {
  await session.signOut();
  stopFollowing();
  location.hash = '#/';
  route();
});

// ------------------------------------------------------------------------------------------------- restaurants

let browseNext = null;
let browseGeneration = 0; // answers to an older search are dropped

function savedPoint() {
  try { return JSON.parse(sessionStorage.getItem(POINT_KEY)); } catch (_) { return null; }
}

function showBrowse() {
  show('browse');
  const point = savedPoint();
  if (point && !$('lat').value) { $('lat').value = point.lat; $('lon').value = point.lon; }
  if (!$('restaurants').children.length) loadRestaurants(false);
}

/** The typed point, or null when both fields are empty; throws a sentence when it is not a point. */
function typedPoint() {
  const latText = $('lat').value.trim();
  const lonText = $('lon').value.trim();
  if (!latText && !lonText) return null;
  const lat = Number(latText);
  const lon = Number(lonText);
  if (!latText || !lonText || !isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    throw new Error('Enter a latitude from -90 to 90 and a longitude from -180 to 180, or leave both empty.');
  }
  return { lat, lon };
}

async function loadRestaurants(more) {
  say($('browse-error'), '');
  let point;
  try { point = typedPoint(); } catch (error) { $('browse-error').textContent = error.message; return; }
  if (point) sessionStorage.setItem(POINT_KEY, JSON.stringify(point));
  const query = new URLSearchParams();
  if (point) { query.set('lat', point.lat); query.set('lon', point.lon); query.set('radius_m', '20000'); }
  const q = $('q').value.trim();
  if (q) query.set('q', q);
  if ($('open-now').checked) query.set('open_now', 'true');
  if (more && browseNext) query.set('cursor', browseNext);
  const generation = ++browseGeneration;
  const answer = await session.api('GET', '/v1/restaurants?' + query.toString());
  if (generation !== browseGeneration) return;
  if (answer.status !== 200) { $('browse-error').textContent = errorText(answer); return; }
  if (!more) $('restaurants').replaceChildren();
  answer.json.restaurants.forEach(function (r) { $('restaurants').append(restaurantCard(r)); });
  browseNext = answer.json.next;
  $('restaurants-more').hidden = !browseNext;
  $('restaurants-empty').hidden = $('restaurants').children.length > 0;
}

function restaurantCard(r) {
  const item = el('li', 'card');
  item.dataset.restaurant = r.id;
  const link = el('a', 'title', r.name);
  link.href = '#/restaurants/' + encodeURIComponent(r.id);
  const state = r.paused ? 'Paused' : r.openNow ? 'Open now' : 'Closed';
  const badge = el('span', 'badge ' + (r.openNow ? 'ok' : 'bad'), state);
  const where = el('span', 'muted', r.address + (r.distanceM !== undefined ? ' · ' + (r.distanceM / 1000).toFixed(1) + ' km' : ''));
  item.append(link, badge, where);
  return item;
}

$('browse').addEventListener('submit', function (event) { event.preventDefault(); loadRestaurants(false); });
$('restaurants-more').addEventListener('click', function () { loadRestaurants(true); });
$('locate').addEventListener('click', function () {
  if (!navigator.geolocation) { $('browse-error').textContent = 'This browser cannot tell your location; type it instead.'; return; }
  $('browse-error').textContent = 'Finding you…';
  navigator.geolocation.getCurrentPosition(function (position) {
    $('lat').value = position.coords.latitude.toFixed(5);
    $('lon').value = position.coords.longitude.toFixed(5);
    loadRestaurants(false);
  }, function (error) {
    $('browse-error').textContent = error.code === 1
      ? 'Location permission was refused; type a latitude and longitude instead.'
      : 'Your location is not available; type a latitude and longitude instead.';
  }, { timeout: 15000, maximumAge: 60000 });
});

// -------------------------------------------------------------------------------------------------------- menu

async function showMenu(id) {
  show('menu');
  $('menu').replaceChildren();
  $('menu-error').textContent = '';
  $('menu-title').textContent = 'Menu';
  $('menu-meta').textContent = 'Loading…';
  const [restaurant, menu] = await Promise.all([
    session.api('GET', '/v1/restaurants/' + encodeURIComponent(id)),
    session.api('GET', '/v1/restaurants/' + encodeURIComponent(id) + '/menu'),
  ]);
  if (restaurant.status !== 200 || menu.status !== 200) {
    $('menu-meta').textContent = '';
    $('menu-error').textContent = errorText(restaurant.status !== 200 ? restaurant : menu);
    return;
  }
  const r = restaurant.json;
  $('menu-title').textContent = r.name;
  $('menu-meta').textContent = r.address + ' · ' + (r.paused ? 'paused — not taking orders' : r.openNow ? 'open now' : 'closed now');
  const place = { id: r.id, name: r.name, currency: menu.json.currency, location: r.location };
  menu.json.sections.forEach(function (section) {
    const block = el('section', 'menu-section');
    const headingID = 'section-' + section.id;
    const heading = el('h3', null, section.name);
    heading.id = headingID;
    block.setAttribute('aria-labelledby', headingID);
    const list = el('ul', 'cards');
    (section.items || []).forEach(function (item) { list.append(menuItem(place, item)); });
    block.append(heading, list);
    $('menu').append(block);
  });
  if (!menu.json.sections.length) $('menu').append(el('p', 'muted', 'This restaurant has no menu yet.'));
}

function menuItem(place, item) {
  const row = el('li', 'card item');
  row.dataset.item = item.id;
  row.append(el('span', 'title', item.name), el('span', 'price', money(item.price, place.currency)));
  if (item.description) row.append(el('span', 'muted', item.description));
  if (!item.available) {
    row.append(el('span', 'badge bad', 'Sold out'));
    return row;
  }
  const form = el('form', 'add');
  form.setAttribute('aria-label', 'Add ' + item.name);
  (item.optionGroups || []).forEach(function (group) { form.append(optionGroup(place, item, group)); });
  const qtyID = 'qty-' + item.id;
  const qtyLabel = el('label', null, 'Quantity');
  qtyLabel.htmlFor = qtyID;
  const qty = el('input');
  qty.id = qtyID; qty.type = 'number'; qty.min = '1'; qty.max = '50'; qty.value = '1'; qty.name = 'quantity';
  const add = el('button', null, 'Add to cart');
  add.type = 'submit';
  const error = el('p', 'error');
  error.setAttribute('role', 'alert');
  form.append(qtyLabel, qty, add, error);
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    error.textContent = addToCart(place, item, form) || '';
  });
  row.append(form);
  return row;
}

function optionGroup(place, item, group) {
  const set = el('fieldset', 'options');
  set.dataset.group = group.id;
  const single = group.maxChoices === 1;
  const rule = group.minChoices > 0
    ? (group.minChoices === group.maxChoices ? 'choose ' + group.minChoices : 'choose ' + group.minChoices + '–' + group.maxChoices)
    : 'optional, up to ' + group.maxChoices;
  set.append(el('legend', null, group.name + ' (' + rule + ')'));
  group.choices.forEach(function (choice) {
    const label = el('label', 'check');
    const input = el('input');
    input.type = single ? 'radio' : 'checkbox';
    input.name = item.id + '-' + group.id;
    input.value = choice.id;
    input.dataset.name = choice.name;
    input.dataset.price = choice.price;
    label.append(input, document.createTextNode(' ' + choice.name + (choice.price ? ' +' + money(choice.price, place.currency) : '')));
    set.append(label);
  });
  if (single && group.minChoices === 0) {
    const label = el('label', 'check');
    const none = el('input');
    none.type = 'radio'; none.name = item.id + '-' + group.id; none.value = ''; none.checked = true;
    label.append(none, document.createTextNode(' None'));
    set.append(label);
  }
  return set;
}

// -------------------------------------------------------------------------------------------------------- cart

function cart() {
  try { return JSON.parse(localStorage.getItem(CART_KEY)) || { restaurant: null, lines: [] }; } catch (_) { return { restaurant: null, lines: [] }; }
}

function saveCart(value) {
  localStorage.setItem(CART_KEY, JSON.stringify(value));
  renderCartCount();
}

function renderCartCount() {
  const count = cart().lines.reduce(function (n, line) { return n + line.quantity; }, 0);
  $('cart-count').textContent = count ? '(' + count + ')' : '';
}

/** Adds the form's choice to the cart; returns a sentence when it cannot. */
function addToCart(place, item, form) {
  const chosen = [];
  let unitPrice = item.price;
  for (const group of item.optionGroups || []) {
    const picked = Array.from(form.querySelectorAll('fieldset[data-group="' + group.id + '"] input:checked'))
      .filter(function (input) { return input.value; });
    if (picked.length < group.minChoices || picked.length > group.maxChoices) {
      return group.name + ': choose ' + (group.minChoices === group.maxChoices ? group.minChoices
        : 'from ' + group.minChoices + ' to ' + group.maxChoices) + '.';
    }
    picked.forEach(function (input) {
      chosen.push({ id: input.value, name: input.dataset.name });
      unitPrice += Number(input.dataset.price);
    });
  }
  const quantity = Number(form.querySelector('input[name="quantity"]').value);
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 50) return 'Choose a quantity from 1 to 50.';
  const current = cart();
  if (current.restaurant && current.restaurant.id !== place.id && current.lines.length) {
    return 'Your cart holds items from ' + current.restaurant.name + '. Order those first, or empty the cart.';
  }
  current.restaurant = place;
  const key = item.id + '|' + chosen.map(function (c) { return c.id; }).sort().join(',');
  const same = current.lines.find(function (line) { return line.key === key; });
  if (same) same.quantity = Math.min(50, same.quantity + quantity);
  else current.lines.push({ key, item: item.id, name: item.name, options: chosen, unitPrice, quantity });
  saveCart(current);
  flash('Added ' + quantity + ' × ' + item.name + ' to your cart.');
  return null;
}

let checkoutMap = null;
let pin = null;
let orderKey = null;

function showCart() {
  show('cart');
  const current = cart();
  const empty = !current.lines.length;
  $('cart-empty').hidden = !empty;
  $('cart-body').hidden = empty;
  if (empty) return;
  renderCart(current);
  orderKey = idempotencyKey();
  DabbaLive.config().then(function (config) {
    const methods = config.paymentMethods || ['card', 'cod'];
    $('method-card-label').hidden = !methods.includes('card');
    $('method-cod-label').hidden = !methods.includes('cod');
    if (!document.querySelector('input[name="method"]:checked')) {
      const first = $('method-' + methods[0]);
      if (first) first.checked = true;
    }
    $('test-cards').hidden = !config.testCards;
    renderMethod();
  });
  if (!checkoutMap) {
    const start = savedPoint() || current.restaurant.location || { lat: 12.98, lon: 77.6 };
    checkoutMap = DabbaLive.makeMap($('checkout-map'), [start.lat, start.lon]);
    pin = L.marker([start.lat, start.lon], { draggable: true, title: 'Delivery point', alt: 'Delivery point', keyboard: true })
      .addTo(checkoutMap);
    pin.on('dragend', renderPin);
    checkoutMap.on('click', function (event) { pin.setLatLng(event.latlng); renderPin(); });
  }
  setTimeout(function () { checkoutMap.invalidateSize(); }, 0);
  renderPin();
}

function renderPin() {
  const at = pin.getLatLng();
  $('pin-at').textContent = at.lat.toFixed(5) + ', ' + at.lng.toFixed(5);
  orderKey = idempotencyKey();
}

function renderCart(current) {
  $('cart-restaurant').textContent = 'From ' + current.restaurant.name;
  const list = $('cart-lines');
  list.replaceChildren();
  let subtotal = 0;
  current.lines.forEach(function (line, index) {
    subtotal += line.unitPrice * line.quantity;
    const row = el('li', 'line');
    const what = line.name + (line.options.length ? ' (' + line.options.map(function (o) { return o.name; }).join(', ') + ')' : '');
    row.append(el('span', 'title', line.quantity + ' × ' + what), el('span', 'price', money(line.unitPrice * line.quantity, current.restaurant.currency)));
    const less = el('button', 'secondary small', '−');
    less.type = 'button';
    less.setAttribute('aria-label', 'One fewer ' + line.name);
    less.addEventListener('click', function () { changeLine(index, -1); });
    const more = el('button', 'secondary small', '+');
    more.type = 'button';
    more.setAttribute('aria-label', 'One more ' + line.name);
    more.addEventListener('click', function () { changeLine(index, 1); });
    row.append(less, more);
    list.append(row);
  });
  $('cart-subtotal').textContent = money(subtotal, current.restaurant.currency);
}

function changeLine(index, delta) {
  const current = cart();
  const line = current.lines[index];
  if (!line) return;
  line.quantity = Math.min(50, line.quantity + delta);
  if (line.quantity <= 0) current.lines.splice(index, 1);
  if (!current.lines.length) current.restaurant = null;
  saveCart(current);
  showCart();
}

function renderMethod() {
  const card = $('method-card').checked;
  $('card-fields').hidden = !card;
  $('card').required = card;
}

$('methods').addEventListener('change', renderMethod);
$('checkout').addEventListener('input', function () { orderKey = idempotencyKey(); });

$('checkout').addEventListener('submit', async function (event) {
  event.preventDefault();
  if (needsSignIn()) { afterSignIn = '#/cart'; return; }
  const error = $('checkout-error');
  error.textContent = '';
  const current = cart();
  const method = document.querySelector('input[name="method"]:checked');
  if (!method) { error.textContent = 'Choose how you will pay.'; return; }
  const card = $('card').value.replace(/\s+/g, '');
  if (method.value === 'card' && !/^[0-9]{12,19}$/.test(card)) { error.textContent = 'Enter the card number (12 to 19 digits).'; return; }
  const at = pin.getLatLng();
  const body = {
    restaurant: current.restaurant.id,
    items: current.lines.map(function (line) {
      return { item: line.item, quantity: line.quantity, options: line.options.map(function (o) { return o.id; }) };
    }),
    address: $('address').value.trim(), lat: Number(at.lat.toFixed(6)), lon: Number(at.lng.toFixed(6)),
    paymentMethod: method.value,
  };
  await busy($('place'), async function () {
    const placed = await session.api('POST', '/v1/orders', body, { headers: { 'Idempotency-Key': orderKey } });
    if (placed.status !== 201) { error.textContent = errorText(placed); return; }
    saveCart({ restaurant: null, lines: [] });
    orderKey = idempotencyKey();
    const order = placed.json;
    if (method.value === 'card') {
      const outcome = await pay(order.id, card);
      sessionStorage.setItem('dabba.payment.' + order.id, outcome);
    }
    $('card').value = '';
    location.hash = '#/orders/' + encodeURIComponent(order.id);
  });
});

/** Authorizes the order's total on `card`; returns a sentence about the outcome. */
async function pay(orderID, card) {
  const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(orderID) + '/payments', { card },
    { headers: { 'Idempotency-Key': idempotencyKey() } });
  if (answer.status === 201) return paymentWords(answer.json);
  return errorText(answer);
}

function paymentWords(payment) {
  switch (payment.state) {
    case 'authorized': case 'captured': return 'Paid by card ending ' + payment.cardLast4 + '.';
    case 'requires_payment': return 'Your bank needs to verify this payment (card ending ' + payment.cardLast4 + '). Waiting for it…';
    case 'failed': return PAYMENT_WORDS[payment.failure] || 'The payment failed (' + (payment.failure || 'no reason given') + '). Try another card.';
    case 'refunded': return 'Refunded.';
    case 'partially_refunded': return 'Partly refunded.';
    case 'cancelled': return 'The payment was cancelled; nothing was charged.';
    default: return payment.state;
  }
}

// ------------------------------------------------------------------------------------------------------ orders

let ordersNext = null;
const restaurantNames = new Map();

async function restaurantName(id) {
  if (!restaurantNames.has(id)) {
    restaurantNames.set(id, session.api('GET', '/v1/restaurants/' + encodeURIComponent(id))
      .then(function (a) { return a.status === 200 ? a.json.name : id; }));
  }
  return restaurantNames.get(id);
}

async function showOrders(more) {
  show('orders');
  $('orders-error').textContent = '';
  const query = new URLSearchParams({ limit: '20' });
  if (more && ordersNext) query.set('cursor', ordersNext);
  const answer = await session.api('GET', '/v1/orders?' + query.toString());
  if (answer.status !== 200) { $('orders-error').textContent = errorText(answer); return; }
  if (!more) $('orders').replaceChildren();
  for (const order of answer.json.orders) {
    const item = el('li', 'card');
    item.dataset.order = order.id;
    const link = el('a', 'title', await restaurantName(order.restaurant));
    link.href = '#/orders/' + encodeURIComponent(order.id);
    item.append(link, el('span', 'badge', label(order.status)),
      el('span', 'muted', new Date(order.createdAt).toLocaleString() + ' · ' + money(order.total, order.currency)));
    $('orders').append(item);
  }
  ordersNext = answer.json.next;
  $('orders-more').hidden = !ordersNext;
  $('orders-empty').hidden = $('orders').children.length > 0;
}

$('orders-more').addEventListener('click', function () { showOrders(true); });

// ------------------------------------------------------------------------------------------------- live order

let orderMap = null;
let following = null;
let current = null; // { order, view }
let paymentPoll = null;

function stopFollowing() {
  if (following) { following.close(); following = null; }
  clearTimeout(paymentPoll);
  paymentPoll = null;
  DabbaLive.showConnection('idle', navigator.onLine === false ? 'Offline' : 'Online');
}

function orderNotice(message) { say($('order-notice'), message); }

async function showOrder(id) {
  show('order');
  orderNotice('');
  $('order-live').replaceChildren();
  $('order-items').replaceChildren();
  $('order-totals').textContent = '';
  $('share-out').hidden = true;
  $('cancel').hidden = true;
  $('payment').hidden = true;
  $('action-error').textContent = '';
  if (!orderMap) orderMap = DabbaLive.makeMap($('order-map'));
  setTimeout(function () { orderMap.invalidateSize(); }, 0);
  orderMap.eachLayer(function (layer) { if (!(layer instanceof L.TileLayer)) orderMap.removeLayer(layer); });
  const answer = await session.api('GET', '/v1/orders/' + encodeURIComponent(id));
  if (answer.status !== 200) {
    $('view-order').dataset.denied = 'true';
    orderNotice(answer.status === 404 ? 'There is no such order in your account.' : errorText(answer));
    DabbaLive.showConnection('closed', 'Not following');
    return;
  }
  delete $('view-order').dataset.denied;
  const order = answer.json;
  current = { order, view: createOrderView($('order-live'), orderMap) };
  renderOrderDetails(order);
  const saved = sessionStorage.getItem('dabba.payment.' + order.id);
  if (saved) { sessionStorage.removeItem('dabba.payment.' + order.id); }
  if (order.paymentMethod === 'card') refreshPayment(order, saved);
  else { $('payment').hidden = false; $('payment-state').textContent = 'Cash on delivery: pay ' + money(order.total, order.currency) + ' to the rider.'; }
  const view = current.view;
  following = DabbaLive.connect({
    url: function () { return session.socketURL('/v1/orders/' + encodeURIComponent(order.id) + '/live'); },
    onMessage: function (frame) {
      orderNotice('');
      view.onFrame(frame);
      current.order.status = view.status();
      $('cancel').hidden = view.status() !== 'placed';
      if (frame.type === 'status' && order.paymentMethod === 'card') refreshPayment(order);
    },
    stopOn: function (event) {
      if (event.code === 1008) return (event.reason || 'This order can no longer be followed') + '.';
      if (ENDED.includes(view.status())) return 'This order has ended: ' + label(view.status()) + '.';
      orderNotice('Connection lost — trying to reconnect…');
      return null;
    },
    onGiveUp: function (message) { if (!ENDED.includes(view.status())) orderNotice(message); },
  });
}

function renderOrderDetails(order) {
  const list = $('order-items');
  (order.items || []).forEach(function (line) {
    const options = (line.options || []).map(function (o) { return o.name; }).join(', ');
    const row = el('li', 'line');
    row.append(el('span', 'title', line.quantity + ' × ' + line.name + (options ? ' (' + options + ')' : '')),
      el('span', 'price', money(line.lineTotal, order.currency)));
    list.append(row);
  });
  $('order-totals').textContent = 'Items ' + money(order.subtotal, order.currency) + ' · delivery ' + money(order.deliveryFee, order.currency)
    + ' · tax ' + money(order.tax, order.currency) + ' · total ' + money(order.total, order.currency);
  $('cancel').hidden = order.status !== 'placed';
}

/** Shows the newest payment of a card order; offers to pay while none is authorized and the order is placed. */
async function refreshPayment(order, known) {
  clearTimeout(paymentPoll);
  $('payment').hidden = false;
  if (known) $('payment-state').textContent = known;
  const answer = await session.api('GET', '/v1/orders/' + encodeURIComponent(order.id) + '/payments');
  if (answer.status !== 200) { $('payment-state').textContent = errorText(answer); return; }
  const payments = answer.json.payments;
  const last = payments[payments.length - 1];
  const status = current && current.order.id === order.id ? current.order.status : order.status;
  $('payment-state').textContent = last ? paymentWords(last) : 'Not paid yet.';
  $('payment').dataset.state = last ? last.state : 'none';
  const unpaid = !last || last.state === 'failed' || last.state === 'cancelled';
  $('pay').hidden = !(unpaid && status === 'placed');
  const stillShown = document.body.dataset.view === 'order' && current && current.order.id === order.id;
  if (last && last.state === 'requires_payment' && stillShown) {
    paymentPoll = setTimeout(function () { refreshPayment(order); }, 3000);
  }
}

$('pay').addEventListener('submit', async function (event) {
  event.preventDefault();
  if (!current) return;
  const card = $('pay-card').value.replace(/\s+/g, '');
  if (!/^[0-9]{12,19}$/.test(card)) { $('payment-state').textContent = 'Enter the card number (12 to 19 digits).'; return; }
  await busy(event.target.querySelector('button'), async function () {
    const outcome = await pay(current.order.id, card);
    $('pay-card').value = '';
    await refreshPayment(current.order, outcome);
  });
});

$('share').addEventListener('click', async function (event) {
  if (!current) return;
  await busy(event.target, async function () {
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(current.order.id) + '/share', {});
    if (answer.status !== 201) { $('action-error').textContent = errorText(answer); return; }
    $('share-url').value = location.origin + answer.json.url;
    $('share-out').hidden = false;
    $('share-url').select();
    if (navigator.share) navigator.share({ title: 'Track my Dabba order', url: $('share-url').value }).catch(function () {});
  });
});

$('cancel').addEventListener('submit', async function (event) {
  event.preventDefault();
  if (!current) return;
  await busy(event.target.querySelector('button'), async function () {
    const answer = await session.api('POST', '/v1/orders/' + encodeURIComponent(current.order.id) + '/cancel',
      { reason: $('cancel-reason').value });
    $('action-error').textContent = answer.status === 200 ? '' : errorText(answer);
  });
});

renderCartCount();
route();
