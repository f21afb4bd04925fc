"""A deterministic synthetic world: accounts that grow day by day, posts whose metrics grow
with age.

Everything is a pure function of (seed, platform, account, day, index, observation time),
computed on demand, so the world serves thousands of accounts without holding them in
memory and two emulators with the same config serve the same data. Followers and metrics
move every day by seeded amounts (a weekly rhythm, quiet days, the odd viral day), so a
week of collections plots as lines with slopes of their own, not as flat ones.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from social_pipeline.core.platforms import PLATFORMS
from social_pipeline.core.settings import SANDBOX_TOKEN_ENV, Account

# Posts exist from this day on; a window reaching further back simply finds none.
HISTORY_START = date(2025, 6, 1)

# Each platform's own content types, in its own vocabulary; the emulator modules map
# them onto wire fields (Graph media_type, X media type, TikTok has video only...).
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "facebook": ("status", "photo", "video", "link", "album"),
    "instagram": ("IMAGE", "VIDEO", "CAROUSEL_ALBUM", "REELS"),
    "x": ("text", "photo", "video", "animated_gif"),
    "linkedin": ("text", "image", "video", "article", "multi_image"),
    "youtube": ("video", "short", "live"),
    "tiktok": ("video",),
}

_TEXTS = (
    "Launch day! 🚀 Check out what's new",
    "Behind the scenes at the studio",
    "Nouveautés de la semaine — découvrez-les",
    "¿Qué opinas? Cuéntanos en los comentarios",
    "新品发布 — 欢迎关注",
    "Weekly tips: 5 ways to grow your audience",
    "",  # some posts carry media only
    "We're hiring engineers in Zürich & Kraków",
)

# The weekly rhythm of audiences: more gained midweek than at weekends (Monday is 0).
_WEEKLY = (1.0, 1.25, 1.35, 1.2, 0.95, 0.6, 0.65)
# A post's engagement gets a weight per day of its life; after this many days the curve
# is followed unweighted (the increments are tiny by then) so a look-up stays cheap.
_WEIGHTED_DAYS = 60
_FOLLOWER_BLOCK = 32  # days of follower gains computed (and cached) together


def _h(*parts: object) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _unit(*parts: object) -> float:
    return _h(*parts) / 2**64


def _account_id(platform: str, n: int) -> str:
    if platform == "facebook":
        return str(100000000000000 + 1000 * n + 1)
    if platform == "instagram":
        return str(17841400000000000 + 1000 * n + 7)
    if platform == "x":
        return str(2244994945 + 7919 * n)
    if platform == "linkedin":
        return str(5515715 + 31 * n)
    if platform == "youtube":
        return "UC" + hashlib.sha1(f"yt{n}".encode()).hexdigest()[:22]
    return "-000" + hashlib.sha1(f"tt{n}".encode()).hexdigest()[:28]  # TikTok open_id


def sandbox_accounts(per_platform: int = 2) -> tuple[Account, ...]:
    """The built-in accounts: `per_platform` on each platform, all on the sandbox token."""
    return tuple(
        Account(
            platform, _account_id(platform, n), f"Sandbox {platform} {n + 1}", SANDBOX_TOKEN_ENV
        )
        for platform in PLATFORMS
        for n in range(per_platform)
    )


@dataclass(frozen=True)
class Post:
    platform: str
    account_id: str
    post_id: str
    created_at: datetime
    content_type: str
    text: str
    seq: int  # position in the account's history: the basis of numeric ids

    @property
    def media_url(self) -> str:
        return f"https://media.sandbox.example/{self.platform}/{self.post_id}.jpg"


@dataclass(frozen=True)
class SandboxAccount:
    platform: str
    account_id: str
    name: str
    handle: str
    base_followers: int  # on HISTORY_START
    daily_growth: float  # the average net gain a day: 0.1%-1% of base, at least 5


@dataclass(frozen=True)
class Removal:
    """A post gone from `at` until `until` (None: for good).

    `still_listed`: made private rather than deleted. The account's listing still carries
    it (YouTube's uploads playlist does) but look-ups by id leave it out.
    """

    at: datetime
    until: datetime | None = None
    still_listed: bool = False

    def hides(self, moment: datetime, *, listing: bool) -> bool:
        if not (self.at <= moment and (self.until is None or moment < self.until)):
            return False
        return not (listing and self.still_listed)


@dataclass
class World:
    """The synthetic world. `clock` is when metrics are observed (freeze it in tests)."""

    accounts_per_platform: int = 2
    posts_per_day: float = 2.0
    seed: int = 7
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._accounts: dict[tuple[str, str], SandboxAccount] = {}
        for i, account in enumerate(sandbox_accounts(self.accounts_per_platform)):
            n = i % self.accounts_per_platform  # accounts come platform by platform
            self._accounts[(account.platform, account.account_id)] = SandboxAccount(
                platform=account.platform,
                account_id=account.account_id,
                name=account.name,
                handle=f"sandbox_{account.platform}_{n + 1}",
                base_followers=(base := 1000 + _h(self.seed, account.account_id) % 90000),
                daily_growth=max(
                    5.0, base * 0.001 * 10 ** _unit(self.seed, "g", account.account_id)
                ),
            )
        # Post ids start with a per-account prefix: look-ups by id need no scan.
        self._by_prefix: dict[tuple[str, str], str] = {
            (p, _post_id(p, a, 0)[: -_SEQ_WIDTH[p]]): a for (p, a) in self._accounts
        }
        # Posts deleted or made private by a test; the emulator's threads read it while a
        # test writes it, so writes swap in a new dict under the lock and reads take
        # whichever dict is current (one atomic attribute read).
        self._removed: dict[tuple[str, str], Removal] = {}
        self._removals_lock = threading.Lock()

    # -- accounts ---------------------------------------------------------------------

    def accounts(self, platform: str) -> list[SandboxAccount]:
        return [a for (p, _), a in self._accounts.items() if p == platform]

    def account(self, platform: str, account_id: str) -> SandboxAccount | None:
        return self._accounts.get((platform, account_id))

    def followers(self, account: SandboxAccount, at: datetime | None = None) -> dict[str, int]:
        """Follower counts as of `at`'s day: the base plus every day's net gain so far.

        A day's gain is the account's own `daily_growth` scaled by the weekday, by a seeded
        factor (0.5-1.5), now and then negative (a quiet day loses a few), now and then
        8-20 times the usual (a viral day). Never zero: consecutive days always differ.
        """
        at = at or self.clock()
        return {
            "followers": max(0, int(_followers_on(self.seed, account, at.date()))),
            "following": 50 + _h(account.account_id, "following") % 400,
            "posts_count": self.posts_count(account, at),
        }

    # -- posts ------------------------------------------------------------------------

    def posts_on_day(self, platform: str, account_id: str, day: date) -> list[Post]:
        """The posts created on `day`, oldest first (observation time does not matter)."""
        return list(_posts_on_day(self.seed, self.posts_per_day, platform, account_id, day))

    def posts_between(
        self, platform: str, account_id: str, start: datetime, end: datetime
    ) -> Iterator[Post]:
        """Posts with start <= created_at < end that exist by now, newest first."""
        now = self.clock()
        end = min(end, now)
        start = max(start, datetime.combine(HISTORY_START, time.min, tzinfo=UTC))
        removed = self._removed
        day = end.date()
        while day >= start.date():
            for post in reversed(self.posts_on_day(platform, account_id, day)):
                if start <= post.created_at < end and not _hidden(removed, post, now, True):
                    yield post
            day -= timedelta(days=1)

    def posts_count(self, account: SandboxAccount, at: datetime) -> int:
        # An estimate is enough for a profile's media/video/tweet count.
        days = max(0, (at.date() - HISTORY_START).days)
        return int(days * self.posts_per_day)

    def find_post(self, platform: str, post_id: str) -> Post | None:
        """The post with this id, by decoding the day and index encoded in it.

        None for a post deleted or made private (`remove_post`) as of now.
        """
        post = _decode_post(self, platform, post_id)
        if post is None or _hidden(self._removed, post, self.clock(), False):
            return None
        return post

    def remove_post(
        self, platform: str, post_id: str, at: datetime | None = None, *, still_listed: bool = False
    ) -> None:
        """Delete a post from `at` on (default: now): listings and look-ups leave it out.

        `still_listed=True` makes it private instead: the account's listing still carries
        it (a private video stays in YouTube's uploads playlist) but look-ups by id
        (`videos.list`, `GET /2/tweets?ids=`, ...) leave it out.
        """
        removal = Removal(at or self.clock(), still_listed=still_listed)
        with self._removals_lock:
            self._removed = {**self._removed, (platform, post_id): removal}

    def restore_post(self, platform: str, post_id: str, at: datetime | None = None) -> None:
        """Bring a removed post back from `at` on (default: now), as if made public again."""
        with self._removals_lock:
            removal = self._removed.get((platform, post_id))
            if removal is not None:
                until = at or self.clock()
                self._removed = {
                    **self._removed,
                    (platform, post_id): Removal(removal.at, until, removal.still_listed),
                }

    def metrics(self, post: Post, at: datetime | None = None) -> dict[str, int]:
        """Engagement as of `at`: never decreases, grows fast on day one, then flattens.

        The shape is a log curve by age; each day of the post's life scales its share of
        the curve by a seeded factor and the weekday (a viral day by 4), so the daily
        increments differ from day to day and from post to post.
        """
        at = at or self.clock()
        views = int(5000 * _popularity(self.seed, post.post_id) * _curve_share(self.seed, post, at))
        chatty = 0.6 + 0.8 * _unit(self.seed, post.post_id, "engagement")  # per-post rates
        return {
            "views": views,
            "reach": int(views * 0.7),
            "likes": int(views * 0.05 * chatty),
            "comments": int(views * 0.006 * chatty),
            "shares": int(views * 0.004 * chatty),
            "saves": int(views * 0.003 * chatty),
            "clicks": int(views * 0.01),
            "quotes": int(views * 0.001 * chatty),
            "bookmarks": int(views * 0.002 * chatty),
        }


def _popularity(seed: int, post_id: str) -> float:
    """A post's popularity: 0.2-2.0."""
    return 0.2 + 1.8 * _unit(seed, post_id, "pop")


def _daily_gain(seed: int, account: SandboxAccount, day: date) -> float:
    u = _unit(seed, account.account_id, day, "gain")
    if u < 0.08:  # a quiet day: unfollows outnumber follows
        factor = -0.3 - 2.5 * u
    elif u > 0.96:  # a viral day
        factor = 8 + 300 * (u - 0.96)
    else:
        factor = (0.5 + _unit(seed, account.account_id, day, "size")) * _WEEKLY[day.weekday()]
    return account.daily_growth * factor


@lru_cache(maxsize=8192)
def _gains_in_block(seed: int, account: SandboxAccount, block: int) -> tuple[float, ...]:
    """Running totals of the gains of the block's days (day 0 is HISTORY_START)."""
    first = HISTORY_START + timedelta(days=block * _FOLLOWER_BLOCK)
    totals, total = [], 0.0
    for offset in range(_FOLLOWER_BLOCK):
        total += _daily_gain(seed, account, first + timedelta(days=offset))
        totals.append(total)
    return tuple(totals)


def _followers_on(seed: int, account: SandboxAccount, day: date) -> float:
    days = (day - HISTORY_START).days
    if days < 0:
        return float(account.base_followers)
    whole, rest = divmod(days, _FOLLOWER_BLOCK)
    done = sum(_gains_in_block(seed, account, b)[-1] for b in range(whole))
    return account.base_followers + done + _gains_in_block(seed, account, whole)[rest]


def _curve(days: float) -> float:
    """The share of a post's engagement reached `days` after posting (1.0 at four weeks)."""
    return math.log1p(24 * max(0.0, days)) / math.log1p(24 * 28)


@lru_cache(maxsize=8192)  # about 16 MB at most: 60 floats a post
def _day_weights(seed: int, post: Post) -> tuple[float, ...]:
    """The weight of each weighted day of a post's life (a viral day: 4).

    Cached: a post is observed again and again, and each weight costs a hash.
    """
    weights = []
    for k in range(_WEIGHTED_DAYS):
        day = (post.created_at + timedelta(days=k)).date()
        u = _unit(seed, post.post_id, k, "day")
        weights.append(4.0 if u > 0.95 else (0.5 + u) * _WEEKLY[day.weekday()])
    return tuple(weights)


def _curve_share(seed: int, post: Post, at: datetime) -> float:
    """The weighted log curve: each day of the post's life adds its piece, times its weight."""
    age = (at - post.created_at).total_seconds() / 86400
    if age <= 0:
        return 0.0
    total = 0.0
    weights = _day_weights(seed, post)
    for k in range(min(math.ceil(age), _WEIGHTED_DAYS)):
        total += weights[k] * (_curve(min(age, k + 1)) - _curve(k))
    return total + max(0.0, _curve(age) - _curve(_WEIGHTED_DAYS))


# Post ids encode (account index, day, index) so the emulator can find a post from its id
# alone, as the real batch endpoints do, without keeping an index in memory.
def _seq(day: date, index: int) -> int:
    return (day - HISTORY_START).days * 100 + index


def _post_id(platform: str, account_id: str, seq: int) -> str:
    if platform == "facebook":
        return f"{account_id}_{seq}" if seq else f"{account_id}_"
    if platform == "instagram":
        return f"1790{int(account_id) % 10**6:06d}{seq:08d}"
    if platform == "x":
        return f"18{int(account_id) % 10**8:08d}{seq:08d}"
    if platform == "linkedin":
        return f"urn:li:share:7{int(account_id) % 10**7:07d}{seq:08d}"
    if platform == "youtube":
        return f"v{_h(account_id) % 10**4:04d}{seq:06d}"  # 11 characters, like a real id
    return f"73{_h(account_id) % 10**8:08d}{seq:09d}"


@lru_cache(maxsize=65536)
def _posts_on_day(
    seed: int, posts_per_day: float, platform: str, account_id: str, day: date
) -> tuple[Post, ...]:
    if day < HISTORY_START:
        return ()
    whole = int(posts_per_day)
    count = whole + (1 if _unit(seed, account_id, day, "n") < posts_per_day - whole else 0)
    count = min(count, 99)
    types = CONTENT_TYPES[platform]
    moments = sorted(int(_unit(seed, account_id, day, i) * 86400) for i in range(count))
    posts = []
    for i, second in enumerate(moments):
        seq = _seq(day, i)
        posts.append(
            Post(
                platform=platform,
                account_id=account_id,
                post_id=_post_id(platform, account_id, seq),
                created_at=datetime.combine(day, time.min, tzinfo=UTC) + timedelta(seconds=second),
                content_type=types[_h(seed, account_id, day, i, "t") % len(types)],
                text=_TEXTS[_h(seed, account_id, day, i, "x") % len(_TEXTS)],
                seq=seq,
            )
        )
    return tuple(posts)


def _hidden(
    removed: dict[tuple[str, str], Removal], post: Post, moment: datetime, listing: bool
) -> bool:
    removal = removed.get((post.platform, post.post_id)) if removed else None
    return removal is not None and removal.hides(moment, listing=listing)


_SEQ_WIDTH = {"facebook": 1, "instagram": 8, "x": 8, "linkedin": 8, "youtube": 6, "tiktok": 9}


def _decode_post(world: World, platform: str, post_id: str) -> Post | None:
    if platform == "facebook":
        prefix, _, tail = post_id.rpartition("_")
    else:
        width = _SEQ_WIDTH[platform]
        prefix, tail = post_id[:-width], post_id[-width:]
    account_id = world._by_prefix.get((platform, prefix))
    if account_id is None or not tail.isdigit():
        return None
    seq = int(tail)
    day = HISTORY_START + timedelta(days=seq // 100)
    for post in world.posts_on_day(platform, account_id, day):
        if post.post_id == post_id:
            return post if post.created_at <= world.clock() else None
    return None
