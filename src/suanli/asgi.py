"""ASGI entry point for uvicorn (`uvicorn suanli.asgi:app`): settings come from the environment."""

from suanli.app import create_app

app = create_app()
