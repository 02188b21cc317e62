// Customer tracking by share link (ES module): /track/{token} follows /v1/track/{token}/live (no sign-in).
import { createOrderView, label, ENDED } from './order-view.js';

const $ = function (id) { return document.getElementById(id); };
const parts = location.pathname.split('/');
const token = parts.length >= 3 && parts[1] === 'track' ? decodeURIComponent(parts[2]) : '';
const map = DabbaLive.makeMap($('map'));
const view = createOrderView($('order-live'), map);
let everConnected = false;

function notice(message) {
  $('notice').textContent = message;
  $('notice').hidden = !message;
}

function onFrame(frame) {
  everConnected = true;
  notice('');
  view.onFrame(frame);
}

// The hub closes with 1008 and a reason when the link expires or is revoked; a refused upgrade (unknown link)
// looks like a network failure to a browser, so three failures before any frame mean the link does not work.
let failuresBeforeFrame = 0;
function stopOn(event) {
  const status = view.status();
  if (event.code === 1008) return (event.reason || 'This tracking link expired or was revoked') + '.';
  if (ENDED.includes(status)) return 'This order has ended: ' + label(status) + '.';
  if (!everConnected && ++failuresBeforeFrame >= 3) return 'This tracking link is unknown, expired or revoked (or the service is unreachable).';
  if (everConnected) notice('Connection lost — trying to reconnect…');
  return null;
}

if (!token) {
  notice('This page needs a tracking link: /track/<code>.');
  DabbaLive.showConnection('failed', 'No tracking link');
} else {
  DabbaLive.connect({
    url: async function () { return DabbaLive.socketURL('/v1/track/' + encodeURIComponent(token) + '/live'); },
    onMessage: onFrame,
    stopOn,
    onGiveUp: function (message) { notice(message); },
  });
}
