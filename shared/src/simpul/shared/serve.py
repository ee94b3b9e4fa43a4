"""Run one service under uvicorn: `python -m simpul.<service>`."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
