"""The Streamlit web UI (``mmrag ui``). Streamlit is imported only by the modules that draw pages,
so the helpers here (path roots, upload handling) work and are tested without it."""

from pathlib import Path

APP_PATH = Path(__file__).with_name("streamlit_app.py")

__all__ = ["APP_PATH"]
