"""The one stylesheet every HTML page uses (console, outcomes, report): /assets/console.css.

Shared by the audiences, so it belongs to none of them, and served outside the console, so
public pages need no session key. Templates link it as
``url_for('assets.static', filename='console.css')``.
"""

from __future__ import annotations

from flask import Blueprint

assets = Blueprint("assets", __name__, static_folder="static", static_url_path="/assets")
