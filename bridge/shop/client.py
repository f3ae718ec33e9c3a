"""WooCommerce REST API v3 client: the only code that speaks HTTP to the shop.

Built on the ``woocommerce`` package for OAuth 1.0a signing, and adds what it lacks: one
``requests.Session`` per client, (connect, read) timeouts, retries with backoff, typed errors
with a human hint, pagination, batching, and request accounting. Keys never leave this module
except inside the requests it sends: not in logs, exception messages or ``repr``.

A client is used by one thread (or job) at a time; only ``iter_pages`` reads ahead on a small
pool of its own threads, each with its own ``requests.Session``, and hands the pages back in order.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import requests
import urllib3.exceptions
from woocommerce.oauth import OAuth

from bridge import __version__
from bridge.settings import Settings
from bridge.shop.errors import ShopNotConfigured, ShopRequestError, ShopUnavailable, failure_detail
from bridge.shop.protocol import (
    API_VERSION,
    BATCH_LIMIT,
    CREDENTIAL_PARAMS,
    KEYS_PAGE,
    PER_PAGE,
    AccessCheck,
    BatchResult,
    Page,
    collect_batch_answers,
    error_body,
    int_header,
    parse_retry_after,
    query_items,
    resource_of,
    wc_datetime,
)

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
MAX_CONNECTIONS = 4
# Pages a connection may have read ahead and waiting for the caller, beyond the one it reads:
# a connection goes on reading while the caller is still at an earlier page.
WAITING_PAGES_PER_CONNECTION = 1


@dataclass(frozen=True)
class _Failure:
    """A retryable outcome of one attempt."""

    reason: str
    status: int | None = None
    retry_after: float | None = None
    # True only when the shop cannot have acted on it (no connection made, 429, 503).
    not_processed: bool = False
    # Retrying cannot help (an untrusted certificate, a request requests refuses to build).
    fatal: bool = False
    # The shop took the request and did not answer in time (read timeout, 504): it may have
    # acted on it, and it is not known to be down.
    timed_out: bool = False


class WooClient:
    """A WooCommerce REST API v3 client for one shop; paths are relative to /wp-json/wc/v3/."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        home, key = settings.shop.url, settings.shop.consumer_key
        secret = settings.shop.consumer_secret
        if not (home and key and secret):
            raise ShopNotConfigured(
                "WOOCOMMERCE_URL, WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET "
                "must all be set to talk to the shop"
            )
        self._home = home.rstrip("/")
        parts = urlsplit(self._home)
        self._scheme = parts.scheme
        self.host = parts.netloc
        # Same layout as woocommerce.API with wp_api=True: <home>/wp-json/wc/v3/<endpoint>.
        self._api_root = f"{self._home}/wp-json/{API_VERSION}"
        self._key = key
        self._secret = secret
        self._secrets = tuple(
            value
            for value in (
                settings.shop.consumer_key,
                settings.shop.consumer_secret,
                settings.shop.webhook_secret,
            )
            if value
        )
        self.auth_mode = _auth_mode(settings.shop.auth, self._scheme)
        self._timeout = (settings.http.connect_timeout, settings.http.read_timeout)
        self._max_attempts = settings.http.max_attempts
        self._budget = settings.http.retry_budget_seconds
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._headers = {
            "User-Agent": f"creator-bridge/{__version__}",
            "Accept": "application/json",
        }
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng if rng is not None else random.Random()
        self._has_subscriptions: bool | None = None
        self.request_counts: Counter[tuple[str, str]] = Counter()
        # Requests at once while pages are read ahead (1: one at a time, the next pages read
        # while the caller works on this one); their threads' own sessions.
        self._connections = max(1, min(MAX_CONNECTIONS, settings.http.connections))
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        # A 429 (or 503) with Retry-After pauses every connection, not only the one it hit.
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return f"WooClient(url={self._home!r}, auth={self.auth_mode!r})"

    def __enter__(self) -> WooClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections (only of a session this client created)."""
        if self._owns_session:
            self._session.close()
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def total_requests(self) -> int:
        """Every HTTP request sent so far, retries included."""
        return sum(self.request_counts.values())

    # Reading

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource and return its parsed JSON."""
        return self._json(self._call("GET", path, params=params), "GET", path)

    def iter_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Every page of a collection, in order, one request per page.

        The first page's ``X-WP-TotalPages`` says how many there are; the rest are read ahead
        on up to ``BRIDGE_HTTP_CONNECTIONS`` connections while the caller works on the page it
        was given. A connection whose page is read goes on to the next one even when the caller
        has not taken its page yet, up to twice as many pages as connections read ahead (a
        bounded few in memory): a caller slow on one page does not leave the shop idle, and
        against a slow shop its work hides behind the requests. One connection reads one
        request at a time, the next two pages while the caller applies this one.
        """
        query = dict(params or {})
        query.setdefault("per_page", PER_PAGE)
        number = int(query.pop("page", 1))
        page = self._page(path, query, number)
        if not page.items or number >= page.total_pages:
            yield page
            return
        if not page.total_pages_known:
            # Without X-WP-TotalPages (some caches strip it) the count is a guess: page by page.
            yield page
            yield from self._pages_one_by_one(path, query, page)
            return
        last = page.total_pages
        # The pool runs at most one request per connection; the pages asked for beyond those
        # wait in its queue and are read as soon as a connection is free.
        pool = ThreadPoolExecutor(self._connections, thread_name_prefix="shop-page")
        depth = self._connections * (1 + WAITING_PAGES_PER_CONNECTION)
        ahead: deque[Future[Page]] = deque()
        following = number + 1

        def read_ahead() -> None:
            nonlocal following
            while following <= last and len(ahead) < depth:
                ahead.append(pool.submit(self._page, path, query, following, pooled=True))
                following += 1

        try:
            read_ahead()
            yield page
            while ahead:
                page = ahead.popleft().result()
                read_ahead()
                yield page
                if not page.items:
                    return  # the collection shrank while it was read: nothing further
        finally:
            for future in ahead:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _pages_one_by_one(self, path: str, query: Mapping[str, Any], page: Page) -> Iterator[Page]:
        while page.items and page.number < page.total_pages:
            page = self._page(path, query, page.number + 1)
            yield page

    def _page(
        self, path: str, query: Mapping[str, Any], number: int, *, pooled: bool = False
    ) -> Page:
        response = self._call("GET", path, params={**query, "page": number}, pooled=pooled)
        items = self._json(response, "GET", path)
        if not isinstance(items, list):
            raise self._refusal(
                "GET",
                path,
                None,
                "",
                "the answer is an object, not a list",
                f"{resource_of(path)} is not a collection: read it with get()",
            )
        total_pages = int_header(response, "X-WP-TotalPages")
        known = total_pages is not None
        if total_pages is None:
            # Some caches strip the headers: then a full page means there may be another.
            full = len(items) >= int(query["per_page"])
            total_pages = number + 1 if full else number
        total = int_header(response, "X-WP-Total")
        return Page(
            items=items,
            number=number,
            total_pages=total_pages,
            total=total if total is not None else len(items),
            total_pages_known=known,
        )

    def _thread_session(self) -> requests.Session:
        """The calling pool thread's own session (requests.Session is not thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def iter_collection(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a collection, page by page."""
        for page in self.iter_pages(path, params):
            yield from page.items

    def iter_modified(
        self,
        path: str,
        modified_after: datetime | None,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Page]:
        """Pages of a collection oldest change first, only what changed after ``modified_after``.

        A naive ``modified_after`` is taken as UTC. WooCommerce compares strictly (after), at
        one-second precision; sub-second parts are dropped so nothing in that second is missed.
        """
        query = dict(params or {})
        query.update(orderby="modified", order="asc")
        if modified_after is not None:
            query.update(modified_after=wc_datetime(modified_after), dates_are_gmt="true")
        return self.iter_pages(path, query)

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self.get(f"orders/{int(order_id)}")

    def order_refunds(self, order_id: int) -> list[dict[str, Any]]:
        """The refunds of an order, with their line items (negative quantities)."""
        return list(self.iter_collection(f"orders/{int(order_id)}/refunds"))

    def has_subscriptions(self) -> bool:
        """Whether WooCommerce Subscriptions answers on this shop (asked once per client)."""
        if self._has_subscriptions is None:
            try:
                self.get("subscriptions", {"per_page": 1, "_fields": "id"})
            except ShopRequestError as exc:
                if exc.status == 404 and exc.code == "rest_no_route":
                    self._has_subscriptions = False
                else:
                    raise
            else:
                self._has_subscriptions = True
        return self._has_subscriptions

    # Writing

    def post(self, path: str, data: Mapping[str, Any]) -> Any:
        """POST (create); not resent after an answer that leaves its effect unknown."""
        response = self._call("POST", path, json_body=data, idempotent=False)
        return self._json(response, "POST", path)

    def put(self, path: str, data: Mapping[str, Any]) -> Any:
        """PUT (update one object)."""
        response = self._call("PUT", path, json_body=data)
        return self._json(response, "PUT", path)

    def batch(
        self,
        resource: str,
        *,
        create: Iterable[Mapping[str, Any]] = (),
        update: Iterable[Mapping[str, Any]] = (),
        delete: Iterable[int] = (),
    ) -> BatchResult:
        """Create, update and delete through ``<resource>/batch``, at most 100 items a call.

        Items WooCommerce refuses come back in ``failed`` (it reports them inside an HTTP 200),
        so the caller can retry only those. A call refused as a whole raises; earlier chunks
        stay applied.
        """
        flat: list[tuple[str, Any]] = [("create", dict(item)) for item in create]
        flat += [("update", dict(item)) for item in update]
        flat += [("delete", int(item_id)) for item_id in delete]
        result = BatchResult(succeeded=[], failed=[])
        path = f"{resource.strip('/')}/batch"
        for start in range(0, len(flat), BATCH_LIMIT):
            body: dict[str, list[Any]] = {}
            for action, item in flat[start : start + BATCH_LIMIT]:
                body.setdefault(action, []).append(item)
            # Updates and deletes are safe to resend; a resent create could duplicate objects.
            response = self._call("POST", path, json_body=body, idempotent="create" not in body)
            answer = self._json(response, "POST", path)
            for action, sent in body.items():
                answers = answer.get(action) if isinstance(answer, dict) else None
                listed = answers if isinstance(answers, list) else []
                collect_batch_answers(action, sent, listed, result)
        return result

    # Webhooks

    def list_webhooks(self, status: str = "all") -> list[dict[str, Any]]:
        return list(self.iter_collection("webhooks", {"status": status}))

    def create_webhook(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a webhook; WooCommerce pings its delivery URL right away."""
        return self.post("webhooks", data)

    def update_webhook(self, webhook_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update a webhook, e.g. ``{"status": "active"}`` to re-enable a disabled one."""
        return self.put(f"webhooks/{int(webhook_id)}", data)

    # Diagnosis

    def check_access(self) -> list[AccessCheck]:
        """Whether the REST API answers and the key can read and write; never raises."""
        steps: list[tuple[str, Callable[[], Any], str]] = [
            (
                "shop api",
                lambda: self.get("products", {"per_page": 1, "_fields": "id"}),
                f"WooCommerce REST API v3 answers at {self.host} ({self.auth_mode} auth)",
            ),
            (
                "read",
                lambda: self.get("orders", {"per_page": 1, "_fields": "id"}),
                "the key can read orders",
            ),
            (
                "write",
                # WooCommerce checks an empty batch as a write, and it changes nothing.
                lambda: self._call("POST", "products/batch", json_body={}),
                "the key can write (an empty products batch was accepted)",
            ),
        ]
        checks: list[AccessCheck] = []
        blocker = ""
        for name, call, success in steps:
            if blocker:
                checks.append(
                    AccessCheck(
                        name,
                        False,
                        f"not checked: the {blocker} check failed",
                        f"fix the {blocker} check first",
                    )
                )
                continue
            try:
                call()
            except (ShopRequestError, ShopUnavailable) as exc:
                checks.append(AccessCheck(name, False, failure_detail(exc), exc.hint))
                blocker = name
            else:
                checks.append(AccessCheck(name, True, success))
        return checks

    # Transport

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        pooled: bool = False,
    ) -> requests.Response:
        """Send one logical request, retrying what is safe to retry; return a 2xx response."""
        path = path.strip("/")
        resource = resource_of(path)
        url = f"{self._api_root}/{path}"
        query = query_items(params)
        body = dict(json_body) if json_body is not None else None
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            if pooled:
                self._wait_for_pause()
            outcome = self._attempt(method, url, query, body, resource, attempt, pooled)
            if isinstance(outcome, requests.Response):
                status = outcome.status_code
                if 200 <= status < 300:
                    return outcome
                if status != 429 and status < 500:
                    raise self._refusal_from(method, path, outcome)
                failure = self._status_failure(outcome)
            elif outcome.fatal:
                raise self._refusal(
                    method, path, None, "", outcome.reason, self._fatal_hint(outcome)
                )
            else:
                failure = outcome
            delay = self._next_delay(attempt, failure)
            elapsed = self._clock() - start
            if not idempotent and not failure.not_processed:
                stop = "not resent: the shop may have acted on it"
            elif attempt >= self._max_attempts:
                stop = ""
            elif elapsed + delay > self._budget:
                stop = (
                    f"it asked to wait {failure.retry_after:.0f}s, beyond the retry budget"
                    if failure.retry_after is not None and failure.retry_after >= delay
                    else ""
                )
            else:
                logger.warning(
                    "shop unavailable, retrying",
                    extra={
                        "host": self.host,
                        "method": method,
                        "resource": resource,
                        "reason": failure.reason,
                        "attempt": attempt,
                        "delay_s": round(delay, 2),
                    },
                )
                if pooled:
                    # Every connection reading ahead waits, not only the one that was told to.
                    with self._lock:
                        self._paused_until = max(self._paused_until, self._clock() + delay)
                else:
                    self._sleep(delay)
                continue
            raise self._unavailable(method, resource, failure, attempt, elapsed, stop)

    def _attempt(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        resource: str,
        attempt: int,
        pooled: bool = False,
    ) -> requests.Response | _Failure:
        """One HTTP request: the response, or the network failure described in words."""
        with self._lock:
            self.request_counts[(method, resource)] += 1
        began = self._clock()
        # A session the caller handed in is theirs to share; otherwise each pool thread has one.
        session = self._thread_session() if pooled and self._owns_session else self._session
        try:
            response = session.request(
                method,
                timeout=self._timeout,
                allow_redirects=False,  # a redirected POST turns into a GET; say so instead
                headers=self._headers,
                json=body,
                **self._authenticated(method, url, query),
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            # Only a description leaves this block: the exception's text carries the URL (with
            # the keys in query-auth mode), and raising here would chain it as __context__.
            failure = self._connection_failure(exc)
            logger.debug(
                "shop not reached",
                extra={
                    "method": method,
                    "resource": resource,
                    "attempt": attempt,
                    "reason": failure.reason,
                },
            )
            return failure
        except requests.RequestException as exc:
            return _Failure(f"the request could not be sent ({type(exc).__name__})", fatal=True)
        logger.debug(
            "shop answered",
            extra={
                "method": method,
                "resource": resource,
                "status": response.status_code,
                "attempt": attempt,
                "elapsed_ms": round((self._clock() - began) * 1000),
            },
        )
        return response

    def _wait_for_pause(self) -> None:
        """Hold a request while the shop asked every connection to wait (Retry-After)."""
        with self._lock:
            wait = self._paused_until - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _json(self, response: requests.Response, method: str, path: str) -> Any:
        """The parsed body of a 2xx answer; a non-JSON answer is a misconfiguration."""
        if response.status_code == 204 or not response.content:
            return None
        try:
            return orjson.loads(response.content)  # twice as fast as json on a page of orders
        except orjson.JSONDecodeError:
            pass  # not UTF-8, integers past 64 bits, NaN: what the standard library reads below
        try:
            return response.json()
        except ValueError:
            pass
        raise self._refusal(
            method,
            path,
            response.status_code,
            "",
            "the answer is not JSON",
            f"check that WOOCOMMERCE_URL ({self._home}) is the WordPress home URL, and that no "
            "plugin, firewall or PHP notice (WP_DEBUG_DISPLAY) writes into REST answers",
        )

    def _authenticated(self, method: str, url: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        """URL, params and auth for one attempt; OAuth is signed afresh (nonces are single-use)."""
        if self.auth_mode == "basic":
            return {"url": url, "params": query, "auth": (self._key, self._secret)}
        if self.auth_mode == "query":
            # A new list each time: the caller's params are never touched.
            keys = [("consumer_key", self._key), ("consumer_secret", self._secret)]
            return {"url": url, "params": query + keys, "auth": None}
        unsigned = f"{url}?{urlencode(query)}" if query else url
        signed = OAuth(
            url=unsigned,
            consumer_key=self._key,
            consumer_secret=self._secret,
            version=API_VERSION,
            method=method,
            oauth_timestamp=int(self._wall_clock()),
        ).get_oauth_url()
        return {"url": signed, "params": None, "auth": None}

    def _connection_failure(self, exc: requests.RequestException) -> _Failure:
        """Describe a network failure in words, without the exception text (it holds the URL)."""
        connect, read = self._timeout
        if isinstance(exc, requests.exceptions.SSLError):
            return _Failure("TLS handshake or certificate check failed", fatal=True)
        if isinstance(exc, requests.ConnectTimeout):
            return _Failure(f"did not accept a connection within {connect:g}s", not_processed=True)
        if isinstance(exc, requests.ReadTimeout):
            return _Failure(f"did not answer within {read:g}s", timed_out=True)
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return _Failure("dropped the connection in the middle of its answer")
        cause = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return _Failure("host name could not be resolved", not_processed=True)
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return _Failure("refused the connection", not_processed=True)
        return _Failure("dropped the connection")

    def _fatal_hint(self, failure: _Failure) -> str:
        if failure.reason.startswith("TLS"):
            return (
                f"the certificate of {self.host} is not trusted by this machine: install a valid "
                "certificate on the shop, or use the shop's correct https address"
            )
        return f"check WOOCOMMERCE_URL ({self._home})"

    def _status_failure(self, response: requests.Response) -> _Failure:
        status = response.status_code
        phrase = response.reason or ("Too Many Requests" if status == 429 else "Server Error")
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
        # 429 and 503 mean the request was turned away before WooCommerce ran it.
        return _Failure(
            f"answered {status} {phrase}",
            status=status,
            retry_after=retry_after,
            not_processed=status in (429, 503),
            timed_out=status == 504,
        )

    def _next_delay(self, attempt: int, failure: _Failure) -> float:
        """Exponential backoff with jitter, but never sooner than the shop asked."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        backoff = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if failure.retry_after is not None:
            return max(failure.retry_after, backoff)
        return backoff

    def _unavailable(
        self,
        method: str,
        resource: str,
        failure: _Failure,
        attempts: int,
        elapsed: float,
        stop: str,
    ) -> ShopUnavailable:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.0f}s"
        if stop:
            tries += f"; {stop}"
        message = self._scrub(
            f"shop {self.host} is unavailable: {failure.reason} "
            f"({method} {resource}, {tries}); try again later"
        )
        return ShopUnavailable(
            message,
            host=self.host,
            method=method,
            resource=resource,
            reason=failure.reason,
            hint=f"check that {self._home} is up and reachable from here, then try again",
            status=failure.status,
            attempts=attempts,
            elapsed=elapsed,
            retry_after=failure.retry_after,
            timed_out=failure.timed_out,
        )

    def _refusal_from(
        self, method: str, path: str, response: requests.Response
    ) -> ShopRequestError:
        status = response.status_code
        if 300 <= status < 400:
            location = self._scrub(response.headers.get("Location", ""))
            target = location.split("/wp-json", 1)[0] or "another address"
            return self._refusal(
                method,
                path,
                status,
                "",
                f"redirected to {target}",
                f"set WOOCOMMERCE_URL to the shop's home URL as WordPress knows it ({target})",
            )
        code, detail, data = error_body(response)
        hint = self._hint(status, code, detail, data, resource_of(path))
        return self._refusal(method, path, status, code, detail or response.reason or "", hint)

    def _refusal(
        self, method: str, path: str, status: int | None, code: str, detail: str, hint: str
    ) -> ShopRequestError:
        resource = resource_of(path)
        detail = self._scrub(" ".join(detail.split()))
        hint = self._scrub(" ".join(hint.split()))
        answer = " ".join(part for part in (str(status or ""), code) if part)
        prefix = f"{answer}: " if answer else ""
        message = f"shop {self.host} refused {method} {resource} ({prefix}{detail}); {hint}"
        return ShopRequestError(
            message,
            host=self.host,
            method=method,
            resource=resource,
            status=status,
            code=code,
            detail=detail,
            hint=hint,
        )

    def _hint(
        self, status: int, code: str, detail: str, data: Mapping[str, Any], resource: str
    ) -> str:
        """What a person should do about a refusal, in one sentence."""
        said = detail.lower()
        if status in (401, 403):
            if "write permission" in said:
                return (
                    f"the key is read-only: give it Read/Write permissions in {KEYS_PAGE} "
                    "(or create a Read/Write key)"
                )
            if "consumer secret is invalid" in said:
                return (
                    "WOOCOMMERCE_CONSUMER_SECRET does not belong to WOOCOMMERCE_CONSUMER_KEY: "
                    f"copy both again from {KEYS_PAGE}"
                )
            if "consumer key is invalid" in said:
                return (
                    "WOOCOMMERCE_CONSUMER_KEY is not a key of this shop (revoked, or from "
                    f"another site): create a Read/Write key in {KEYS_PAGE}"
                )
            if "signature" in said:
                return (
                    "the OAuth signature was rejected: check WOOCOMMERCE_CONSUMER_SECRET, and "
                    "that WOOCOMMERCE_URL is exactly the WordPress home URL"
                )
            if "timestamp" in said:
                return (
                    "this machine's clock and the shop's differ by more than 15 minutes: "
                    "synchronise the clocks (NTP)"
                )
            if status == 403:
                return (
                    f"the key's WordPress user may not use {resource}: create the key for an "
                    "administrator or shop manager"
                )
            if self._scheme == "http" and self.auth_mode in ("basic", "query"):
                return (
                    "WooCommerce ignores Basic auth and query-string keys over plain http: "
                    "use an https WOOCOMMERCE_URL, or BRIDGE_WOO_AUTH=auto "
                    "(OAuth 1.0a on http)"
                )
            if self._scheme == "https" and self.auth_mode == "oauth":
                return (
                    "WooCommerce checks OAuth signatures only over plain http: use "
                    "BRIDGE_WOO_AUTH=auto (Basic auth on https)"
                )
            return (
                "the shop did not accept the key: check WOOCOMMERCE_CONSUMER_KEY and "
                f"WOOCOMMERCE_CONSUMER_SECRET and that the key is Read/Write ({KEYS_PAGE}); "
                "behind a proxy that ends TLS WordPress may not detect HTTPS (forward "
                "X-Forwarded-Proto, or use https), and if the host strips the Authorization "
                "header set BRIDGE_WOO_AUTH=query"
            )
        if status == 404 and code == "rest_no_route":
            return (
                f"WooCommerce is not active on {self._home}, or WOOCOMMERCE_URL is not the "
                f"WordPress home URL (no REST route for {resource})"
            )
        if status == 404 and not code:
            return (
                f"no WordPress REST API under {self._home}/wp-json/: check that "
                "WOOCOMMERCE_URL is the WordPress home URL and permalinks are not 'Plain'"
            )
        if status == 413:
            return f"WooCommerce says: {detail} (send at most {BATCH_LIMIT} items per batch)"
        if detail:
            params = data.get("params")
            extra = "; ".join(str(v) for v in params.values()) if isinstance(params, dict) else ""
            return f"WooCommerce says: {detail}" + (f" ({extra})" if extra else "")
        return f"the shop answered HTTP {status} without a WooCommerce error"

    def _scrub(self, text: str) -> str:
        """Mask credentials in text bound for a message, whatever its source."""
        text = CREDENTIAL_PARAMS.sub(r"\1****", text)
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return text


def _auth_mode(setting: str, scheme: str) -> str:
    if setting == "auto":
        return "basic" if scheme == "https" else "oauth"
    return setting
