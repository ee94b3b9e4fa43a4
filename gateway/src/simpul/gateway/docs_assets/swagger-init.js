// Starts Swagger UI on the gateway's merged document. A file of its own, not an inline script,
// so the page's Content-Security-Policy can allow scripts from this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    // Swagger UI would otherwise send the document to an online validator and show its badge.
    validatorUrl: null,
  });
});
