"""An asynchronous page fetcher with retries and a cache."""

import asyncio
import functools
import logging

log = logging.getLogger(__name__)


def retry(times: int = 3):
    """Retries a coroutine function up to `times` times."""

    def decorate(function):
        @functools.wraps(function)
        async def wrapper(*args, **kwargs):
            for attempt in range(times):
                try:
                    return await function(*args, **kwargs)
                except OSError:
                    log.warning("attempt %d failed", attempt)
            raise RuntimeError("out of attempts")

        return wrapper

    return decorate


class Fetcher:
    """Fetches pages through a client, caching the bodies."""

    default_timeout = 10.0

    def __init__(self, client, timeout: float = default_timeout):
        self._client = client
        self._timeout = timeout
        self._cache: dict[str, str] = {}

    @retry(times=5)
    async def fetch(self, url: str) -> str:
        """Fetches one page.

        Uses the cache when the page was fetched before.
        """
        if url in self._cache:
            return self._cache[url]
        body = await self._client.get(url, timeout=self._timeout)
        self._cache[url] = body
        return body

    async def fetch_all(self, urls: list[str]) -> list[str]:
        return await asyncio.gather(*(self.fetch(url) for url in urls))

    def _evict(self, url):
        self._cache.pop(url, None)

    def __len__(self):
        return len(self._cache)


async def main(urls, *, concurrency: int = 4) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(url):
        async with semaphore:
            return await Fetcher(None).fetch(url)

    await asyncio.gather(*(one(url) for url in urls))


if __name__ == "__main__":
    asyncio.run(main(["https://example.com"]))
