"""Datasets: immutable, content-addressed versions built from QA'd jobs, their files, the buyers
granted each one, and every download.

A `Dataset` row is one version of a named dataset (`name`, `version` 1, 2, ...). Its files never
change once built: the version's sha256 covers every file's path and sha256, so two builds from the
same inputs give the same digest. Buyers see a version only once it is published, and download
it only through a grant.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import Base, string_enum, utcnow


class DatasetStatus(str, enum.Enum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class Dataset(Base):
    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)  # the first job
    project_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # every job it draws from (one domain)
    # What went in: formats, filters (min_confidence, labels, batch_ids), split ratios and seed,
    # include_annotations. Together with the jobs' QA state they determine the bytes.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[DatasetStatus] = mapped_column(string_enum(DatasetStatus), default=DatasetStatus.BUILDING)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job_record.id", ondelete="SET NULL"))
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)  # of the whole version
    n_items: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    card: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the quality passport
    published_at: Mapped[datetime | None] = mapped_column(default=None)  # visible in the catalog
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    built_at: Mapped[datetime | None] = mapped_column(default=None)


class DatasetFile(Base):
    """One file of a version, under DATA_DIR/datasets/<dataset id>/."""

    __tablename__ = "dataset_file"
    __table_args__ = (UniqueConstraint("dataset_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(20))  # jsonl, parquet, ..., or "card" / "manifest"
    path: Mapped[str] = mapped_column(String(500))  # relative to the version's folder
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class GrantStatus(str, enum.Enum):
    REQUESTED = "requested"  # the buyer asked; no download yet
    GRANTED = "granted"
    DECLINED = "declined"
    REVOKED = "revoked"


class DatasetGrant(Base):
    """A buyer's access to one version: requested by them, granted (with license terms) by a manager."""

    __tablename__ = "dataset_grant"
    __table_args__ = (UniqueConstraint("dataset_id", "buyer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    status: Mapped[GrantStatus] = mapped_column(string_enum(GrantStatus), default=GrantStatus.GRANTED)
    message: Mapped[str | None] = mapped_column(String(1000), default=None)  # the buyer's request
    license_terms: Mapped[str | None] = mapped_column(Text, default=None)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class Download(Base):
    """One download request of a file (a resumed download is several, each with its range)."""

    __tablename__ = "dataset_download"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("dataset_file.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    range: Mapped[str | None] = mapped_column(String(100), default=None)
    status_code: Mapped[int] = mapped_column(default=200)
    remote_addr: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
