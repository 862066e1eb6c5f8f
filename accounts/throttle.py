"""Sign-in throttling: too many wrong passwords for one account, or from one address, are refused
for a while (429) before the password is even checked, so guessing cannot be fast.

Counters live in Redis with the window as their lifetime, shared by every web process. If Redis is
unreachable the check lets sign-ins through and logs it: people must still be able to work, and
passwords are Argon2id-hashed, which keeps guessing slow on its own.
"""
from __future__ import annotations

import logging

from redis.exceptions import RedisError

from errors import TooManyRequests
from extensions import redis_connection

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 15 * 60
# Failures per window: per account, and per client address (high: a whole annotation base may sit
# behind one NAT address, and its people mistype too).
LIMITS = {"user": 10, "addr": 200}


def _keys(username: str, address: str) -> dict[str, str]:
    return {"user": f"qianling:login-fail:user:{username.lower()}", "addr": f"qianling:login-fail:addr:{address}"}


def check(username: str, address: str) -> None:
    """TooManyRequests if this account or address failed too often within the window."""
    try:
        counts = redis_connection().mget(list(_keys(username, address).values()))
    except RedisError as err:
        logger.warning("event=login_throttle_unavailable error=%s", err)
        return
    for (kind, limit), count in zip(LIMITS.items(), counts):
        if count is not None and int(count) >= limit:
            raise TooManyRequests(f"too many failed sign-ins for this {'account' if kind == 'user' else 'address'}; "
                                  f"try again in {WINDOW_SECONDS // 60} minutes")


def failed(username: str, address: str) -> None:
    try:
        with redis_connection().pipeline() as pipe:
            for key in _keys(username, address).values():
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS, nx=True)
            pipe.execute()
    except RedisError as err:
        logger.warning("event=login_throttle_unavailable error=%s", err)


def succeeded(username: str, address: str) -> None:
    """A right password clears the account's count (not the address's: one good account does
    not license guessing others)."""
    try:
        redis_connection().delete(_keys(username, address)["user"])
    except RedisError as err:
        logger.warning("event=login_throttle_unavailable error=%s", err)
