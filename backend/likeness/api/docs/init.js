// Swagger UI on this server's OpenAPI document (no inline script: the CSP forbids it).
window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
