"""This installation's identity, so our marks in a shared Label Studio server never collide.

Our ids restart at 1 in every new database, while a Label Studio server may outlive it or serve
several installations; every project we create there is marked with this random id too.
"""
from __future__ import annotations

import uuid

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from extensions import Base


class Installation(Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1: one row per database
    uid: Mapped[str] = mapped_column(String(32), unique=True)


def installation_uid(session: Session) -> str:
    """This database's random id, created on first use (safe if two processes race)."""
    uid = session.scalar(select(Installation.uid).where(Installation.id == 1))
    if uid is None:
        try:
            with session.begin_nested():
                session.add(Installation(id=1, uid=uuid.uuid4().hex))
        except IntegrityError:
            pass
        uid = session.scalar(select(Installation.uid).where(Installation.id == 1))
    return uid
