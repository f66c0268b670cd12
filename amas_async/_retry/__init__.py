"""Retries: the policy, the middleware (first attempt outside tenacity) and the tenacity loop.

``policy`` holds :class:`RetryPolicy`, :class:`RetryEvent` and ``parse_retry_after``;
``middleware`` runs the first attempt plainly; ``loop`` (imported on the first retry, with
tenacity) retries under the policy with tenacity's own stop/wait/retry strategies.
"""

from .middleware import RetryMiddleware
from .policy import RetryEvent, RetryPolicy, parse_retry_after

__all__ = ["RetryEvent", "RetryMiddleware", "RetryPolicy", "parse_retry_after"]
