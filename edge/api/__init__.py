"""The fleet HTTP API: a device's defect reports over HTTP, behind a bearer token.

`create_app` builds the FastAPI app and `resolve_token` finds or makes the token; running it with
uvicorn (`serve`, `start_in_thread`) lives in `edge.api.server`.
"""

from edge.api.app import API_VERSION, create_app
from edge.api.token import TOKEN_ENV, TokenFileError, resolve_token

__all__ = ["API_VERSION", "TOKEN_ENV", "TokenFileError", "create_app", "resolve_token"]
