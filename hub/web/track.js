// Customer tracking by share link: /track/{token} follows /v1/track/{token}/live (no sign-in).
'use strict';

(function () {
  const $ = function (id) { return document.getElementById(id); };
  const LABELS = {
    placed: 'Order placed', confirmed: 'Confirmed by the restaurant', rejected: 'Rejected by the restaurant',
    preparing: 'Being prepared', ready_for_pickup: 'Ready for pickup', assigned: 'A rider is on the way to the restaurant',
    picked_up: 'Picked up — on its way to you', delivered: 'Delivered', cancelled: 'Cancelled', failed: 'Delivery failed',
  };
  const ENDED = ['delivered', 'cancelled', 'failed', 'rejected'];
  const parts = location.pathname.split('/');
  const token = parts.length >= 3 && parts[1] === 'track' ? decodeURIComponent(parts[2]) : '';
  const map = DabbaLive.makeMap($('map'));
  const markers = { restaurant: null, destination: null, agent: null };
  let status = null;
  let everConnected = false;
  let timeline = [];

  function label(s) { return LABELS[s] || s; }

  function notice(message) {
    $('notice').textContent = message;
    $('notice').hidden = !message;
  }

  function place(kind, value) {
    if (!value) return;
    $(kind).textContent = (value.name ? value.name + ' — ' : '') + value.address;
    const title = kind === 'restaurant' ? 'Restaurant' : 'Delivery address';
    if (!markers[kind]) {
      markers[kind] = L.marker([value.lat, value.lon], { title, alt: title, keyboard: true }).bindTooltip(title).addTo(map);
    } else {
      markers[kind].setLatLng([value.lat, value.lon]);
    }
  }

  function renderTimeline() {
    const list = $('timeline');
    list.replaceChildren();
    timeline.forEach(function (step) {
      const item = document.createElement('li');
      const time = new Date(step.time);
      item.textContent = label(step.status) + ' · ' + (isFinite(time) ? time.toLocaleTimeString() : step.time)
        + (step.reason ? ' (' + step.reason + ')' : '');
      list.append(item);
    });
  }

  function renderAgent(frame) {
    if (frame.agent) {
      $('agent').textContent = 'Your rider: ' + frame.agent.firstName + (frame.agent.vehicle ? ' (' + frame.agent.vehicle + ')' : '');
    } else if (frame.type !== 'position') {
      $('agent').textContent = '';
    }
    if (frame.position) {
      const at = [frame.position.lat, frame.position.lon];
      if (!markers.agent) {
        markers.agent = L.circleMarker(at, { radius: 9, weight: 3, color: '#0b6bcb', fillOpacity: 0.8 })
          .bindTooltip('Your rider').addTo(map);
      } else {
        markers.agent.setLatLng(at);
      }
    } else if (frame.type !== 'position' && !(status === 'assigned' || status === 'picked_up') && markers.agent) {
      map.removeLayer(markers.agent);
      markers.agent = null;
    }
    if (frame.eta) {
      const minutes = Math.max(1, Math.round(frame.eta.seconds / 60));
      const km = (frame.eta.distanceMeters / 1000).toFixed(1);
      $('eta').textContent = frame.eta.arrived
        ? (frame.eta.target === 'restaurant' ? 'Your rider is at the restaurant' : 'Your rider has arrived')
        : (frame.eta.target === 'restaurant' ? 'Rider reaches the restaurant in about ' : 'Arriving in about ')
          + minutes + ' min (' + km + ' km)';
    } else if (frame.type !== 'position') {
      $('eta').textContent = ENDED.includes(status) ? '' : 'No rider yet';
    }
  }

  function fit() {
    const points = Object.values(markers).filter(Boolean).map(function (m) { return m.getLatLng(); });
    if (points.length) map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 16 });
  }

  function onFrame(frame) {
    everConnected = true;
    notice('');
    if (frame.status) status = frame.status;
    $('status').textContent = label(status);
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

  // The hub closes with 1008 and a reason when the link expires or is revoked; a refused upgrade (unknown link)
  // looks like a network failure to a browser, so three failures before any frame mean the link does not work.
  let failuresBeforeFrame = 0;
  function stopOn(event) {
    if (event.code === 1008) return (event.reason || 'This tracking link expired or was revoked') + '.';
    if (ENDED.includes(status)) return 'This order has ended: ' + label(status) + '.';
    if (!everConnected && ++failuresBeforeFrame >= 3) return 'This tracking link is unknown, expired or revoked (or the service is unreachable).';
    if (everConnected) notice('Connection lost — trying to reconnect…');
    return null;
  }

  if (!token) {
    notice('This page needs a tracking link: /track/<code>.');
    DabbaLive.showConnection('failed', 'No tracking link');
    return;
  }
  DabbaLive.connect({
    url: async function () { return DabbaLive.socketURL('/v1/track/' + encodeURIComponent(token) + '/live'); },
    onMessage: onFrame,
    stopOn,
    onGiveUp: function (message) { notice(message); },
  });
})();
