"""The catalogue as last read: offers (micro-SKUs) and the WooCommerce products bound to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from bridge.store.models.columns import json_column, utcnow


class Offer(SQLModel, table=True):
    """A micro-SKU as last read from the catalogue file or product meta."""

    sku: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=32)
    title: str = Field(default="", max_length=200)
    source: str = Field(default="file", max_length=16)
    active: bool = True
    definition: dict[str, Any] | None = json_column()
    updated_at: datetime = Field(default_factory=utcnow)


class CatalogueVersion(SQLModel, table=True):
    """The catalogue file's text as applied (`bridge catalog apply`); the newest is in force."""

    __tablename__ = "catalogue_version"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    file_name: str = Field(default="", max_length=500)
    applied_by: str = Field(default="", max_length=200)
    applied_at: datetime = Field(default_factory=utcnow)


class ProductBinding(SQLModel, table=True):
    """A WooCommerce product or variation id bound to a micro-SKU, with its sync date."""

    __tablename__ = "product_binding"

    woo_id: int = Field(primary_key=True, sa_type=BigInteger)
    parent_id: int = Field(default=0, sa_type=BigInteger)
    sku: str = Field(default="", max_length=100, index=True)
    offer_sku: str | None = Field(default=None, max_length=100, index=True)
    woo_type: str = Field(default="simple", max_length=32)
    woo_status: str = Field(default="publish", max_length=32)
    name: str = Field(default="", max_length=200)
    price: str = Field(default="", max_length=32)
    active: bool = True
    date_modified_gmt: datetime | None = None
    meta: dict[str, Any] | None = json_column()
    updated_at: datetime = Field(default_factory=utcnow)
