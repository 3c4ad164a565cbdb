"""The HTTP plumbing under the routers: problem responses, OpenAPI helpers, middleware
(guards, CORS, security headers, observability, rate limits), how a session travels
(cookie or bearer), the resources the lifespan owns, and the optional fast paths."""
