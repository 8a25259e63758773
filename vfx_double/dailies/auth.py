"""Sign-in: users with werkzeug-hashed passwords (Flask-Login sessions), and API tokens
(``Authorization: Bearer <token>``, stored as their sha256). Pages without sign-in go to
/login; the API and media answer 401."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from flask import (Blueprint, Flask, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ConfigError
from .models import ApiToken, User

bp = Blueprint("auth", __name__)
WRONG_LOGIN = "Wrong user name or password."
#: checked against when the user name is unknown, so a wrong name costs the same time as a
#: wrong password and the answer's timing gives no hint either
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(session: Session, name: str, password: str) -> User:
    if not name.strip() or len(name) > 80:
        raise ConfigError("user name", "1-80 characters", repr(name))
    if len(password) < 8:
        raise ConfigError(f"password for {name!r}", "at least 8 characters",
                          f"{len(password)}")
    user = User(name=name, password_hash=generate_password_hash(password))
    session.add(user)
    try:
        session.flush()
    except IntegrityError as err:
        raise ConfigError(f"user {name!r}", "a new user name", "a user of that name",
                          "choose another name") from err
    return user


def new_token(session: Session, name: str) -> str:
    """A new API token for user ``name``; shown once, only its digest is kept."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise ConfigError(f"user {name!r}", "an existing user", "no such user",
                          "add it with `vfx-double dailies user add`")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user=user, digest=token_digest(token)))
    return token


def _load(query: Any) -> User | None:
    # Its own short session: the request's session then begins its transaction at the
    # route, so a write request's SQLite transaction starts IMMEDIATE (db.py).
    with current_app.extensions["dailies"].sessions() as session:
        user = session.scalar(query)
        if user is not None:
            session.expunge(user)
        return user


def init_auth(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.session_protection = "strong"

    @manager.user_loader
    def load_user(user_id: str) -> User | None:
        if not user_id.isdigit():
            return None
        return _load(select(User).where(User.id == int(user_id)))

    @manager.request_loader
    def load_from_token(req: Any) -> User | None:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        digest = token_digest(header[len("Bearer "):].strip())
        return _load(select(User).join(ApiToken).where(ApiToken.digest == digest))

    @manager.unauthorized_handler
    def unauthorized() -> Any:
        if request.path.startswith(("/api/", "/media/")):
            return jsonify(error="sign in first (a session or an Authorization: Bearer "
                                 "token)"), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.register_blueprint(bp)


def _safe_next(target: str | None) -> str:
    # only a path on this site, never another host (an open redirect)
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        name = request.form.get("username", "")
        password = request.form.get("password", "")
        user = _load(select(User).where(User.name == name))
        good = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
        if user is not None and good:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        error = WRONG_LOGIN
    if current_user.is_authenticated and error is None:
        return redirect(url_for("pages.index"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    logout_user()
    flash("Signed out.")
    return redirect(url_for("auth.login"))
