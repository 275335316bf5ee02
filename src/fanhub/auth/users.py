"""Staff users of the web manager: accounts, memberships, server-side sessions, login throttling, setup links.

- Passwords are hashed with argon2id (argon2-cffi defaults); the hash is rehashed on login when the
  library's parameters change.
- A session is a random 256-bit token in an HttpOnly cookie; only its SHA-256 is stored, with the
  user, the current organization and the session's CSRF token. Logging out deletes the row.
- Failed logins are recorded per account (`account:<email>`) and per address (`address:<ip>`).
  After `ACCOUNT_FREE_FAILURES` (resp. `ADDRESS_FREE_FAILURES`) failures within `FAILURE_WINDOW`, each
  further attempt must wait 2^(extra failures) seconds (capped at `MAX_DELAY`) after the last failure;
  the wait is enforced before the password is even checked, so guessing gets exponentially slower.
- While no user exists, `fanhub serve` prints a one-time setup link (valid 24 h) that creates the
  first admin. Only the token's hash is stored; the link dies once used or once any user exists.
- Roles: viewer (reads) < marketer (imports, tags, campaigns) < admin (keys, connections, users).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fanhub.db.base import Base, BigId, utcnow
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.models import Organization
from fanhub.organizations.service import create_organization, get_organization

VIEWER = "viewer"
MARKETER = "marketer"
ADMIN = "admin"
ROLES = (VIEWER, MARKETER, ADMIN)
_RANK = {VIEWER: 0, MARKETER: 1, ADMIN: 2}

SESSION_LIFETIME = timedelta(days=7)
SESSION_IDLE = timedelta(hours=12)
SESSION_TOUCH = timedelta(minutes=1)
SETUP_LIFETIME = timedelta(hours=24)
FAILURE_WINDOW = timedelta(minutes=15)
ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
MAX_DELAY = timedelta(minutes=15)
MIN_PASSWORD = 10

_hasher = PasswordHasher()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=VIEWER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), default=None
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SetupToken(Base):
    __tablename__ = "setup_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass(frozen=True)
class SessionInfo:
    """The signed-in user as a page sees it: who, which organization, which role there, the CSRF token."""

    user_id: int
    email: str
    organization_id: int | None
    role: str | None
    csrf_token: str
    organizations: tuple[tuple[int, str, str], ...]  # (id, name, role)

    def can(self, role: str) -> bool:
        return self.role is not None and _RANK[self.role] >= _RANK[role]


class TooManyAttempts(Exception):
    def __init__(self, wait_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {wait_seconds} s")
        self.wait_seconds = wait_seconds


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_user_email(email: str) -> str:
    from fanhub.addresses import try_normalize_email

    value = try_normalize_email(email)
    if value is None:
        message = "enter a valid email address"
        raise InvalidInput(message, [{"index": None, "field": "email", "message": message}])
    return value


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD} characters",
            [{"index": None, "field": "password", "message": f"the password needs at least {MIN_PASSWORD} characters"}],
        )
    if len(password) > 1000:
        raise InvalidInput("the password is too long", [{"index": None, "field": "password", "message": "too long"}])


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def get_user_by_email(session: Session, email: str) -> User | None:
    from fanhub.addresses import try_normalize_email

    value = try_normalize_email(email) or email.strip().lower()
    return session.scalars(select(User).where(User.email == value)).first()


def create_user(
    session: Session, organization_id: int, email: str, role: str = VIEWER, password: str | None = None
) -> tuple[User, str | None]:
    """Create a user (or add an existing one to the organization) with `role`.

    Returns the user and, when no password was given for a new user, a generated one (shown once).
    """
    get_organization(session, organization_id)
    check_role(role)
    email = normalize_user_email(email)
    generated: str | None = None
    user = session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        if password is None:
            generated = secrets.token_urlsafe(12)
            password = generated
        check_password_strength(password)
        user = User(email=email, password_hash=hash_password(password))
        session.add(user)
        session.flush()
    elif password is not None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
    set_membership(session, organization_id, user.id, role)
    return user, generated


def set_membership(session: Session, organization_id: int, user_id: int, role: str) -> Membership:
    check_role(role)
    membership = session.scalars(
        select(Membership).where(Membership.user_id == user_id, Membership.organization_id == organization_id)
    ).first()
    if membership is None:
        membership = Membership(user_id=user_id, organization_id=organization_id, role=role)
        session.add(membership)
    else:
        if membership.role == ADMIN and role != ADMIN:
            _keep_one_admin(session, organization_id, user_id)
        membership.role = role
    session.flush()
    return membership


def _keep_one_admin(session: Session, organization_id: int, leaving_user_id: int) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.organization_id == organization_id,
            Membership.role == ADMIN,
            Membership.user_id != leaving_user_id,
        )
    )
    if not others:
        raise InvalidInput("an organization needs at least one admin")


def remove_membership(session: Session, organization_id: int, user_id: int) -> None:
    membership = session.scalars(
        select(Membership).where(Membership.user_id == user_id, Membership.organization_id == organization_id)
    ).first()
    if membership is None:
        raise NotFound(f"user {user_id} not found")
    if membership.role == ADMIN:
        _keep_one_admin(session, organization_id, user_id)
    session.delete(membership)
    session.execute(
        delete(WebSession).where(WebSession.user_id == user_id, WebSession.organization_id == organization_id)
    )


def list_members(session: Session, organization_id: int) -> list[tuple[User, Membership]]:
    query = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id)
        .order_by(User.email)
    )
    return [(u, m) for u, m in session.execute(query)]


def memberships_of(session: Session, user_id: int) -> list[tuple[int, str, str]]:
    query = (
        select(Organization.id, Organization.name, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.name, Organization.id)
    )
    return [(int(i), str(n), str(r)) for i, n, r in session.execute(query)]


# --- throttling and login ------------------------------------------------------------------------------


def _wait_for(session: Session, key: str, free: int) -> int:
    since = utcnow() - FAILURE_WINDOW
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.key == key, LoginFailure.at > since)
    ).one()
    if int(count or 0) < free or last is None:
        return 0
    if isinstance(last, str):
        last = datetime.fromisoformat(last)
    if last.tzinfo is None:
        from datetime import UTC

        last = last.replace(tzinfo=UTC)
    delay = min(timedelta(seconds=2 ** (int(count) - free)), MAX_DELAY)
    remaining = (last + delay - utcnow()).total_seconds()
    return max(0, int(remaining + 0.999))


def login_wait(session: Session, email: str, address: str) -> int:
    """Seconds to wait before the next attempt for this account or address may be checked (0: go ahead)."""
    return max(
        _wait_for(session, f"account:{email.strip().lower()}", ACCOUNT_FREE_FAILURES),
        _wait_for(session, f"address:{address}", ADDRESS_FREE_FAILURES),
    )


def authenticate_user(session: Session, email: str, password: str, address: str) -> User | None:
    """The user for correct credentials; None (and a recorded failure) otherwise.

    Raises TooManyAttempts while the account or the address is being slowed down.
    """
    wait = login_wait(session, email, address)
    if wait > 0:
        raise TooManyAttempts(wait)
    user = get_user_by_email(session, email)
    ok = False
    if user is not None:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        # Spend the same time as a real check so response times do not reveal which emails exist.
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            _hasher.verify(_DUMMY_HASH, password)
    now = utcnow()
    if not ok or user is None:
        session.add(LoginFailure(key=f"account:{email.strip().lower()}", at=now))
        session.add(LoginFailure(key=f"address:{address}", at=now))
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - FAILURE_WINDOW))
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.execute(delete(LoginFailure).where(LoginFailure.key == f"account:{email.strip().lower()}"))
    return user


_DUMMY_HASH = _hasher.hash("fanhub-no-such-user")


def start_session(session: Session, user_id: int, organization_id: int | None = None) -> str:
    """Create a server-side session and return the cookie token."""
    orgs = memberships_of(session, user_id)
    if organization_id is None or organization_id not in {o[0] for o in orgs}:
        organization_id = orgs[0][0] if orgs else None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_hash(token),
            user_id=user_id,
            organization_id=organization_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.flush()
    return token


def load_session(session: Session, token: str | None) -> tuple[SessionInfo, bool] | None:
    """The session behind a cookie token, and whether its last-seen time should be refreshed."""
    if not token or len(token) > 200:
        return None
    row = session.get(WebSession, _hash(token))
    now = utcnow()
    if row is None or row.expires_at < now or row.last_seen_at + SESSION_IDLE < now:
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    orgs = memberships_of(session, user.id)
    role = next((r for i, _, r in orgs if i == row.organization_id), None)
    organization_id = row.organization_id if role is not None else None
    info = SessionInfo(user.id, user.email, organization_id, role, row.csrf_token, tuple(orgs))
    return info, row.last_seen_at + SESSION_TOUCH < now


def touch_session(session: Session, token: str) -> None:
    row = session.get(WebSession, _hash(token))
    if row is not None:
        row.last_seen_at = utcnow()


def switch_organization(session: Session, token: str, organization_id: int) -> None:
    row = session.get(WebSession, _hash(token))
    if row is None:
        raise NotFound("session not found")
    if organization_id not in {o[0] for o in memberships_of(session, row.user_id)}:
        raise NotFound(f"organization {organization_id} not found")
    row.organization_id = organization_id


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))


def change_password(session: Session, user_id: int, current: str, new: str) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise InvalidInput(
            "the current password is wrong", [{"index": None, "field": "current", "message": "wrong password"}]
        ) from None
    check_password_strength(new)
    user.password_hash = hash_password(new)


# --- first-admin setup -------------------------------------------------------------------------------


def create_setup_token(session: Session) -> str | None:
    """A fresh one-time setup token while no user exists (None once someone can sign in)."""
    if count_users(session) > 0:
        return None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(SetupToken(token_hash=_hash(token), created_at=now, expires_at=now + SETUP_LIFETIME))
    session.flush()
    return token


def setup_token_valid(session: Session, token: str | None) -> bool:
    if not token or len(token) > 200 or count_users(session) > 0:
        return False
    row = session.scalars(select(SetupToken).where(SetupToken.token_hash == _hash(token))).first()
    return row is not None and row.used_at is None and row.expires_at > utcnow()


def complete_setup(session: Session, token: str, email: str, password: str, organization_name: str | None) -> User:
    """Create the first admin with a valid setup token; admin of every existing organization (or a new one)."""
    if not setup_token_valid(session, token):
        raise NotFound("this setup link is invalid, used or expired")
    email = normalize_user_email(email)
    check_password_strength(password)
    org_ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
    if not org_ids:
        name = (organization_name or "").strip()
        if not name:
            raise InvalidInput(
                "name your organization", [{"index": None, "field": "organization", "message": "required"}]
            )
        org_ids = [create_organization(session, name[:200]).id]
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    for org_id in org_ids:
        session.add(Membership(user_id=user.id, organization_id=org_id, role=ADMIN))
    row = session.scalars(select(SetupToken).where(SetupToken.token_hash == _hash(token))).one()
    row.used_at = utcnow()
    session.flush()
    return user
