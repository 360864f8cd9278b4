// Swagger UI for /docs, from this origin: no inline script (the Content-Security-Policy forbids
// it), no CDN, no validator badge (it would send the spec's URL to another site).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
