"""The one catalog of a build, read once when the builder starts."""

from __future__ import annotations

from typing import Any

from clearspec_docs.catalog import Catalog

_CATALOGS: dict[int, Catalog] = {}


def set_catalog(app: Any, catalog: Catalog) -> None:
    _CATALOGS[id(app)] = catalog


def catalog_of(app: Any) -> Catalog:
    """The catalog of ``app``'s build (set at ``builder-inited``)."""
    return _CATALOGS[id(app)]
