"""Pieces every offline HTML report shares (explanations, validation, monitoring).

Reports embed their images as base64 and carry their own CSS: they open offline, from an e-mail
attachment or an MLflow artifact view, with no script and no external URL.
"""

from __future__ import annotations

import base64
import html

#: The house style of every report (tables, headings, traffic lights build on it).
CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
table.kv th{background:#f5f5f5;font-weight:600}table.grid th{background:#f0f4f8}
img{max-width:100%;height:auto;margin:8px 0}
.account{border:1px solid #ddd;border-radius:6px;padding:12px;margin:16px 0}
.note{color:#555;font-size:0.9em}.grid2{display:flex;flex-wrap:wrap;gap:8px}
.grid2 img{max-width:48%}
"""


def img_tag(png: bytes, alt: str) -> str:
    """An <img> whose PNG travels inside the page."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
