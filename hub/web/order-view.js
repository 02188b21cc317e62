// One order's live view (ES module), shared by the tracking page and the customer app: status, timeline, the
// restaurant and destination, the rider's position and ETA on a Leaflet map, from the frames of
// /v1/orders/{id}/live and /v1/track/{token}/live (OrderLiveFrame in openapi.yaml).

export const LABELS = {
  placed: 'Order placed', confirmed: 'Confirmed by the restaurant', rejected: 'Rejected by the restaurant',
  preparing: 'Being prepared', ready_for_pickup: 'Ready for pickup', assigned: 'A rider is on the way to the restaurant',
  picked_up: 'Picked up — on its way to you', delivered: 'Delivered', cancelled: 'Cancelled', failed: 'Delivery failed',
};
/** Statuses after which nothing changes any more. */
export const ENDED = ['delivered', 'cancelled', 'failed', 'rejected'];

export function label(status) { return LABELS[status] || status || '—'; }

/** An element with attributes and children (strings become text). */
function node(tag, attributes, children) {
  const element = document.createElement(tag);
  Object.entries(attributes || {}).forEach(function ([name, value]) { element.setAttribute(name, value); });
  (children || []).forEach(function (child) { element.append(child); });
  return element;
}

/** The panel's sections (status with ETA and rider, timeline, from and to), headings labelled by ids under `root.id`. */
function skeleton(root) {
  const id = function (name) { return root.id + '-' + name; };
  return [
    node('section', { 'aria-labelledby': id('status') }, [
      node('h2', { id: id('status') }, ['Status: ', node('span', { 'data-field': 'status' }, ['—'])]),
      node('p', { 'data-field': 'eta', class: 'eta', 'aria-live': 'polite' }),
      node('p', { 'data-field': 'agent', class: 'muted' }),
    ]),
    node('section', { 'aria-labelledby': id('timeline') }, [
      node('h2', { id: id('timeline') }, ['Timeline']),
      node('ol', { 'data-field': 'timeline', class: 'timeline' }),
    ]),
    node('section', { 'aria-labelledby': id('places') }, [
      node('h2', { id: id('places') }, ['From and to']),
      node('dl', { class: 'places' }, [
        node('dt', {}, ['Restaurant']), node('dd', { 'data-field': 'restaurant' }, ['—']),
        node('dt', {}, ['Delivery address']), node('dd', { 'data-field': 'destination' }, ['—']),
      ]),
    ]),
  ];
}

/**
 * Fills `root` (an element with an id) with the order's panel and renders frames into it (its `data-status` and
 * `data-rider-at` follow them), with markers on `map`. Returns `{ onFrame(frame), status(), fit() }`.
 */
export function createOrderView(root, map) {
  root.replaceChildren(...skeleton(root));
  delete root.dataset.status;
  delete root.dataset.riderAt;
  const field = function (name) { return root.querySelector('[data-field="' + name + '"]'); };
  const markers = { restaurant: null, destination: null, agent: null };
  let status = null;
  let timeline = [];

  function place(kind, value) {
    if (!value) return;
    field(kind).textContent = (value.name ? value.name + ' — ' : '') + value.address;
    const title = kind === 'restaurant' ? 'Restaurant' : 'Delivery address';
    if (!markers[kind]) {
      markers[kind] = L.marker([value.lat, value.lon], { title, alt: title, keyboard: true }).bindTooltip(title).addTo(map);
    } else {
      markers[kind].setLatLng([value.lat, value.lon]);
    }
  }

  function renderTimeline() {
    const list = field('timeline');
    list.replaceChildren();
    timeline.forEach(function (step) {
      const item = document.createElement('li');
      item.dataset.status = step.status;
      const time = new Date(step.time);
      item.textContent = label(step.status) + ' · ' + (isFinite(time) ? time.toLocaleTimeString() : step.time)
        + (step.reason ? ' (' + step.reason + ')' : '');
      list.append(item);
    });
  }

  function renderAgent(frame) {
    if (frame.agent) {
      field('agent').textContent = 'Your rider: ' + frame.agent.firstName + (frame.agent.vehicle ? ' (' + frame.agent.vehicle + ')' : '');
    } else if (frame.type !== 'position') {
      field('agent').textContent = '';
    }
    if (frame.position) {
      const at = [frame.position.lat, frame.position.lon];
      if (!markers.agent) {
        markers.agent = L.circleMarker(at, { radius: 9, weight: 3, color: '#0b6bcb', fillOpacity: 0.8 })
          .bindTooltip('Your rider').addTo(map);
      } else {
        markers.agent.setLatLng(at);
      }
      root.dataset.riderAt = Number(frame.position.lat).toFixed(5) + ',' + Number(frame.position.lon).toFixed(5);
    } else if (frame.type !== 'position' && !(status === 'assigned' || status === 'picked_up') && markers.agent) {
      map.removeLayer(markers.agent);
      markers.agent = null;
      delete root.dataset.riderAt;
    }
    if (frame.eta) {
      const minutes = Math.max(1, Math.round(frame.eta.seconds / 60));
      const km = (frame.eta.distanceMeters / 1000).toFixed(1);
      field('eta').textContent = frame.eta.arrived
        ? (frame.eta.target === 'restaurant' ? 'Your rider is at the restaurant' : 'Your rider has arrived')
        : (frame.eta.target === 'restaurant' ? 'Rider reaches the restaurant in about ' : 'Arriving in about ')
          + minutes + ' min (' + km + ' km)';
    } else if (frame.type !== 'position') {
      field('eta').textContent = ENDED.includes(status) ? '' : 'No rider yet';
    }
  }

  function fit() {
    const points = Object.values(markers).filter(Boolean).map(function (m) { return m.getLatLng(); });
    if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 16 });
  }

  function onFrame(frame) {
    if (frame.status) status = frame.status;
    field('status').textContent = label(status);
    root.dataset.status = status || '';
    if (frame.timeline) {
      timeline = frame.timeline.slice();
    } else if (frame.type === 'status' && frame.time) {
      timeline.push({ status: frame.status, time: frame.time, reason: frame.reason });
    }
    if (frame.type !== 'position') renderTimeline();
    place('restaurant', frame.restaurant);
    place('destination', frame.destination);
    renderAgent(frame);
    if (frame.type === 'snapshot') fit();
  }

  return { onFrame, fit, status: function () { return status; } };
}
