"""``GET /portal``: the merchants' page for their webhook endpoints. A Jinja2 template and a
little plain JavaScript, all served by the ingress (no build step, nothing from elsewhere),
over the same HTTP API merchants call; a strict Content-Security-Policy, no inline script."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.domain.endpoints import EVENT_TYPES, STATUS_FILTERS

from ..problems import Problem

HERE = Path(__file__).parent
STATIC = HERE / "static"
PATH = "/portal"
STATIC_PATH = PATH + "/static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}

templates = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(["html"]), auto_reload=False)
router = APIRouter(include_in_schema=False)


def is_portal_path(path: str) -> bool:
    """The page and its files: public (the page asks for a key itself)."""
    return path == PATH or path.startswith(STATIC_PATH + "/")


@router.get(PATH)
async def portal() -> Response:
    page = templates.get_template("portal.html").render(
        title="Webhook endpoints",
        static=STATIC_PATH,
        event_types=EVENT_TYPES,
        statuses=sorted(STATUS_FILTERS),
    )
    return HTMLResponse(page, headers=SECURITY_HEADERS)


@router.get(STATIC_PATH + "/{name}")
async def portal_file(name: str) -> Response:
    """Only the files of ``static/`` by their plain names (no paths)."""
    found = STATIC / name
    if "/" in name or name.startswith(".") or found.suffix not in MEDIA_TYPES or not found.is_file():
        raise Problem(404, "not found")
    return FileResponse(found, media_type=MEDIA_TYPES[found.suffix], headers=SECURITY_HEADERS)
