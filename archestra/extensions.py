"""Flask extensions, created unbound and initialised by the app factory."""
import sqlite3

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(connection, _record) -> None:
    """SQLite: enforce foreign keys (cascades), WAL so several workers can read while one writes."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # With WAL, NORMAL is corruption-safe; a power cut may lose the last commits, not the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
