"""Security headers on every response, API and pages alike.

The pages draw everything from ``/static/app.js`` on the JSON API, so the policy allows scripts,
styles and fetches from this origin only: an injected ``<script>``, inline event handler or
``javascript:`` URL does not run, and no other site may frame the pages (clickjacking). The API
docs (``/docs``) get the same policy except for inline styles, which Swagger UI's stylesheet
helpers need; their scripts are served from this origin too (``web/controllers.py``).

The header tuples are encoded once at import; ``RequestContextMiddleware`` (``edge/context.py``)
adds them to every response start, the router's own 404/405 and the error problems included.
"""

from __future__ import annotations

_COMMON_CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
CONTENT_SECURITY_POLICY = f"{_COMMON_CSP}; style-src 'self'"
DOCS_CONTENT_SECURITY_POLICY = f"{_COMMON_CSP}; style-src 'self' 'unsafe-inline'"
DOCS_PREFIX = "/docs"

_OTHERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # page paths and queue-token URLs stay on this site
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    *_OTHERS,
)
DOCS_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()),
    *_OTHERS,
)


def security_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers for a response to ``path`` (pre-encoded; one prefix test)."""
    return DOCS_SECURITY_HEADERS if path.startswith(DOCS_PREFIX) else SECURITY_HEADERS
