// Service worker of the member portal: keeps the membership card page (and the stylesheets it
// uses) so the card opens at the till without a connection. Every other page goes to the
// network as usual. Signing out (the card page answers with a redirect) forgets the card.
"use strict";

const CACHE = "portal-card-v1";
const CARD = "/card/";

function isCard(url) {
  return url.origin === self.location.origin && url.pathname === CARD;
}

async function keepCard(response) {
  const cache = await caches.open(CACHE);
  if (response.ok && !response.redirected && response.type === "basic") {
    await cache.put(CARD, response.clone());
    const html = await response.clone().text();
    const styles = html.match(/\/static\/[^"'\s]+\.css/g) || [];
    await Promise.all(styles.map((href) => cache.add(href).catch(() => undefined)));
  } else if (response.redirected || response.status === 403 || response.status === 404) {
    await caches.delete(CACHE);
  }
  return response;
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    fetch(CARD, { credentials: "same-origin" })
      .then(keepCard)
      .catch(() => undefined)
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (isCard(url)) {
    // Network first: the card stays current online; the kept copy answers offline.
    event.respondWith(
      fetch(request)
        .then(keepCard)
        .catch(() => caches.match(CARD).then((hit) => hit || Response.error()))
    );
  } else if (url.origin === self.location.origin && url.pathname.startsWith("/static/")) {
    event.respondWith(
      fetch(request).catch(() => caches.match(request).then((hit) => hit || Response.error()))
    );
  }
});
