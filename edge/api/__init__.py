"""The fleet HTTP API: a device's defect reports over HTTP, behind a bearer token.

`create_app` builds the FastAPI app and `resolve_token` finds or makes the token; running it with
uvicorn (`serve`, `start_in_thread`) lives in `gridscout.edge.api.server`.
"""

from gridscout.edge.api.app import API_VERSION, create_app
from gridscout.edge.api.token import TOKEN_ENV, TokenFileError, resolve_token

__all__ = ["API_VERSION", "TOKEN_ENV", "TokenFileError", "create_app", "resolve_token"]
