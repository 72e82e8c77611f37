// Preloaded with `node --import`: sends the guide's script, which calls the default
// port 3264, to the gateway under test (GATEWAY_URL), leaving the script unchanged.
const target = new URL(process.env.GATEWAY_URL);
const originalFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(typeof input === "string" ? input : input.url);
  if (url.hostname === "localhost" && url.port === "3264") {
    url.protocol = target.protocol;
    url.host = target.host;
  }
  return originalFetch(url.toString(), init);
};
