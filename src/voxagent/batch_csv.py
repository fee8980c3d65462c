"""Reading the ``voxagent batch`` CSV: columns name and phone (or nombre and telefono), any
further columns become the call's variables."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class CsvError(ValueError):
    pass


def read_call_list(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not ({"phone", "telefono"} & fields):
        raise CsvError(f"{path}: needs a 'phone' (or 'telefono') column; found {sorted(fields)}")
    calls: list[dict[str, Any]] = []
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        name = clean.pop("name", "") or clean.pop("nombre", "")
        phone = clean.pop("phone", "") or clean.pop("telefono", "")
        clean.pop("nombre", None)
        clean.pop("telefono", None)
        calls.append(
            {"name": name, "phone": phone, "variables": {k: v for k, v in clean.items() if v}}
        )
    return calls
