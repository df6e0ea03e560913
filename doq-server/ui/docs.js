// Renders /openapi.json with the vendored Swagger UI (vendor/swagger-ui, see its README.md).
// An external file rather than an inline script, so a strict Content-Security-Policy can forbid inline code.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No call home: the online validator badge would fetch from the internet.
    validatorUrl: null,
  });
});
