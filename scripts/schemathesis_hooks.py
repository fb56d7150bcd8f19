"""Schemathesis hooks for scripts/schemathesis-check.sh.

One check replaces the built-in positive_data_acceptance (run with
`--exclude-checks positive_data_acceptance`): the same check, except that a submit refused
with 422 IDEMPOTENCY_KEY_REUSED passes. That refusal depends on what an earlier request sent
under the same key (the IETF Idempotency-Key draft's 422), not on the request itself, so no
schema can describe it; every other refusal of a schema-valid request still fails the run.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance


def _key_reused(response):
    if response.status_code != 422:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == "IDEMPOTENCY_KEY_REUSED"


@schemathesis.check
def positive_data_acceptance_but_key_reuse(ctx, response, case):
    """positive_data_acceptance, but a reused Idempotency-Key (state, not schema) passes."""
    if _key_reused(response):
        return None
    return positive_data_acceptance(ctx, response, case)
