"""Serve the API: ``{{ project_name }}`` or ``python -m {{ module_name }}``.

``HOST`` (default ``0.0.0.0``) and ``PORT`` (default ``{{ port }}``) say where to listen.
"""

import os

import uvicorn


def main() -> None:
    """Run uvicorn until interrupted."""
    uvicorn.run(
        "{{ module_name }}.api:app",
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "{{ port }}")),
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
